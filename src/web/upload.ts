import type { NextFunction, Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import { NOT_A_TORRENT_SENTENCE, uploadTooLargeMessage, WebError } from './errors.js';
import { displayText, formatBytes } from './view-model.js';

/**
 * Reading the POST /scrape form: one `.torrent` file in the field `torrent`, or a magnet link /
 * info-hash in the text field `magnet`. Files are held in memory only (multer memoryStorage) and
 * dropped with the request: nothing uploaded touches the disk or outlives the response.
 */

/** Form field carrying the .torrent file. */
export const TORRENT_FIELD = 'torrent';
/** Form field carrying a magnet link or an info-hash. */
export const MAGNET_FIELD = 'magnet';

/** Every busboy/multer limit, so none is left at its Infinity default. */
export interface UploadLimits {
  /** Largest file (MAX_UPLOAD_BYTES). */
  fileSize: number;
  /** Longest text field value: a magnet link with many trackers stays well under this. */
  fieldSize: number;
  /** Longest field name; ours are 7 characters. */
  fieldNameSize: number;
  /** Text fields: `magnet`, plus room for a browser's stray submit-button field. */
  fields: number;
  /** File parts: one `torrent` (a browser sends an empty part for an unused file input). */
  files: number;
  /** All parts together. */
  parts: number;
  /**
   * Header lines per part (Content-Disposition, Content-Type, a few more). Passed on as multer
   * asks, but busboy 1.6 does not apply it: see BUSBOY_MAX_PART_HEADER_BYTES for what does.
   */
  headerPairs: number;
  /** Our field names have no `[...]` nesting at all. */
  fieldNestingDepth: number;
  /** …and no `[n]` array indices. */
  fieldArrayIndexLimit: number;
}

/** Field-name length, field count and so on: what our own form sends, with a little room. */
export const FORM_SHAPE = Object.freeze({
  fieldNameSize: 100,
  fields: 4,
  files: 1,
  parts: 6,
  headerPairs: 20,
  fieldNestingDepth: 0,
  fieldArrayIndexLimit: 0,
});

/**
 * What really bounds a part's header block. busboy 1.6 (lib/types/multipart.js) never reads
 * `limits.headerPairs` for multipart bodies, and multer 2 does not check it either: busboy's
 * HeaderParser has its own fixed MAX_HEADER_PAIRS = 2000 (`++pairCount < 2000`), keeps a part's
 * first 1,999 pairs and silently drops the rest while it goes on parsing. The bound that holds is
 * its fixed MAX_HEADER_SIZE = 16 KiB: every byte of the block counts (names, values, folded lines,
 * line ends; it counts a line's first byte and its value's first byte twice, so many short lines
 * reach the limit early: about 2,700 lines of `a:`, 11 KB on the wire), and at the limit the parser
 * stops with "Malformed part header", which scrapeUpload turns into a 400. So a part's headers cost
 * at most 16 KiB, and FORM_SHAPE.headerPairs only states what our form needs
 * (test/web/hardening.test.ts checks both behaviours, so a busboy that changes them is noticed).
 */
export const BUSBOY_MAX_PART_HEADER_BYTES = 16 * 1024;

/** `maxMagnetBytes`: the magnet parser's own length limit, so both refuse the same inputs. */
export function uploadLimits(maxUploadBytes: number, maxMagnetBytes: number): UploadLimits {
  return { fileSize: maxUploadBytes, fieldSize: maxMagnetBytes, ...FORM_SHAPE };
}

/**
 * RFC 2046 §5.1.1: a boundary is at most 70 characters. A delimiter line is CRLF `--` boundary
 * CRLF; each is counted at the length of the closing one, which has `--` after the boundary.
 */
export const MULTIPART_MAX_BOUNDARY_CHARS = 70;
const MULTIPART_DELIMITER_BYTES = 2 + 2 + MULTIPART_MAX_BOUNDARY_CHARS + 2 + 2;

/**
 * Form overhead allowed besides the file itself: everything a form within all the other limits can
 * carry — each part's delimiter and header block (BUSBOY_MAX_PART_HEADER_BYTES at most), every text
 * field's value (`fieldSize` at most) and the closing delimiter. A multipart preamble (text before
 * the first boundary, which the parser reads and drops) gets no allowance: our form never sends one.
 */
export function formOverheadBytes(limits: UploadLimits): number {
  return (
    limits.parts * (MULTIPART_DELIMITER_BYTES + BUSBOY_MAX_PART_HEADER_BYTES) +
    limits.fields * limits.fieldSize +
    MULTIPART_DELIMITER_BYTES
  );
}

/** How long a refused upload may go on arriving before the connection is cut (see BodyBound.lingerMs). */
export const DEFAULT_LINGER_MS = 5_000;

/**
 * The bound on a whole POST /scrape body. multer's `fileSize` bounds the file part only: without
 * this, a 200 MB preamble or a thousand oversize parts would be read (and parsed) and thrown away.
 */
export interface BodyBound {
  /** Largest body read at all: the file limit plus formOverheadBytes. Larger ones get the 413. */
  maxBodyBytes: number;
  /**
   * After a refusal, how many more bytes are read and dropped, so that a client still sending (a
   * browser uploading an oversize file) can finish and read the answer rather than meet a reset:
   * RFC 9112 §9.6's "lingering close". Past this, or past `lingerMs`, the connection is cut.
   */
  lingerBytes: number;
  lingerMs: number;
}

export function bodyBoundOf(limits: UploadLimits, lingerMs: number = DEFAULT_LINGER_MS): BodyBound {
  const maxBodyBytes = limits.fileSize + formOverheadBytes(limits);
  // A refused upload may cost the server at most what an accepted one does.
  return { maxBodyBytes, lingerBytes: maxBodyBytes, lingerMs };
}

/** What the form carried. */
export type ScrapeInput =
  | { kind: 'file'; bytes: Buffer; originalName: string; mimeType: string }
  | { kind: 'text'; text: string };

/**
 * Multipart parsing for POST /scrape. A compressed body (415), a declared length over the body
 * bound (413) and anything that is not multipart (415) are refused before a byte is parsed; a body
 * without a declared length is counted as it streams and refused at the same bound. Every parser
 * failure (busboy's "Unexpected end of form", "Malformed part header", … arrive as plain Errors)
 * becomes a typed 400, never a 500.
 */
export function scrapeUpload(limits: UploadLimits, bound: BodyBound = bodyBoundOf(limits)): RequestHandler {
  const parse = multer({ storage: multer.memoryStorage(), limits }).single(TORRENT_FIELD);
  const tooLarge = () => new WebError('UPLOAD_TOO_LARGE', uploadTooLargeMessage(limits.fileSize));
  return (req: Request, res: Response, next: NextFunction) => {
    const refusal = refusalBeforeParsing(req, bound, tooLarge);
    if (refusal !== null) {
      dropUnreadBody(req, res, bound);
      next(refusal);
      return;
    }
    // Whichever comes first answers: the parser, or the body outgrowing its bound mid-stream. The
    // other is ignored (multer may still call back, e.g. with "Request closed" once the connection is cut).
    let answered = false;
    const answer = (err?: unknown) => {
      if (answered) return;
      answered = true;
      next(err);
    };
    const body = watchBody(req, res, bound, () => answer(tooLarge()));
    parse(req, res, (err?: unknown) => {
      if (err === undefined || err === null) {
        answer();
        return;
      }
      // Past a parser error the rest of the body is of no use: read no more than a refusal does.
      body.refuse();
      if (err instanceof multer.MulterError) {
        answer(err);
        return;
      }
      const reason = err instanceof Error ? err.message : String(err);
      answer(new WebError('UPLOAD_MALFORMED', `The upload was malformed or cut short (${reason}). Please try again.`));
    });
  };
}

/** Longest Content-Encoding value quoted back to the client. */
const MAX_ECHOED_CODING_CHARS = 40;

/** What the headers alone are enough to refuse, or null: the body has to be read to know. */
function refusalBeforeParsing(req: Request, bound: BodyBound, tooLarge: () => WebError): WebError | null {
  const coding = contentCodingOf(req);
  if (coding !== null) {
    return new WebError(
      'UPLOAD_COMPRESSED',
      `Compressed request bodies are not accepted (Content-Encoding: ${displayText(coding, MAX_ECHOED_CODING_CHARS).text}). Send the form uncompressed.`,
    );
  }
  const declared = declaredLengthOf(req);
  if (declared !== null && declared > bound.maxBodyBytes) return tooLarge();
  if (!req.is('multipart/form-data')) {
    return new WebError(
      'UPLOAD_NOT_MULTIPART',
      `Send the form as multipart/form-data, with the .torrent file in the field "${TORRENT_FIELD}" or a magnet link in "${MAGNET_FIELD}".`,
    );
  }
  return null;
}

/**
 * The request's Content-Encoding when it is anything but `identity` (RFC 9110 §8.4.1: a list of
 * codings, applied in order); null for none. Busboy would read a gzip body as raw bytes, and a
 * decompressor would need its own bound, so compressed bodies are refused rather than inflated.
 */
export function contentCodingOf(req: Pick<Request, 'headers'>): string | null {
  const header = req.headers['content-encoding'];
  if (header === undefined) return null;
  const codings = header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  return codings.length === 0 ? null : header.trim();
}

/** Content-Length as a number (node's parser has already refused malformed ones); null without one. */
function declaredLengthOf(req: Request): number | null {
  const header = req.headers['content-length'];
  if (header === undefined) return null;
  const length = Number(header);
  return Number.isFinite(length) ? length : null;
}

/**
 * A body refused on its headers alone: when what it declares is more than lingering would read, the
 * answer says `Connection: close` and node closes the connection as soon as the answer is out
 * instead of reading the body; otherwise the body is read and dropped within the linger bounds, so
 * the client can finish sending and read the answer on a connection that stays usable.
 */
function dropUnreadBody(req: Request, res: Response, bound: BodyBound): void {
  const declared = declaredLengthOf(req);
  if (declared !== null && declared > bound.lingerBytes) {
    res.setHeader('Connection', 'close');
    return;
  }
  watchBody(req, res, bound, () => {}).refuse();
}

interface BodyWatch {
  /** The body is refused: the parser gets no more of it, the rest is read and dropped within the linger bounds. */
  refuse(): void;
}

/**
 * Counts the body as it streams past the parser (a 'data' listener sees every chunk multer pipes to
 * busboy; it is attached before multer pipes, in the same tick, so none is missed). Over
 * `maxBodyBytes` it stops the parser and calls `onTooLarge`; once refused, it reads and drops at
 * most `lingerBytes` more for at most `lingerMs`, then cuts the connection — after the answer is
 * out, never before.
 */
function watchBody(req: Request, res: Response, bound: BodyBound, onTooLarge: () => void): BodyWatch {
  let received = 0;
  let refusedAt: number | null = null;
  let cutting = false;
  let timer: NodeJS.Timeout | undefined;
  const cut = () => {
    if (cutting || req.complete) return;
    cutting = true;
    req.pause();
    if (res.writableFinished) req.socket.destroy();
    else res.once('finish', () => req.socket.destroy());
  };
  const refuse = () => {
    if (refusedAt !== null) return;
    refusedAt = received;
    if (req.complete) return;
    req.unpipe();
    req.resume();
    timer = setTimeout(cut, bound.lingerMs);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (refusedAt === null) {
      if (received > bound.maxBodyBytes) {
        refuse();
        onTooLarge();
      }
    } else if (received - refusedAt > bound.lingerBytes) {
      cut();
    }
  };
  const stop = () => clearTimeout(timer);
  req.on('data', onData);
  req.once('end', stop);
  req.once('close', stop);
  return { refuse };
}

/**
 * A text a person typed, to put back into the form of an error page: trimmed, and only when it is
 * within `maxChars` (longer text was refused for its length, and a cut copy would be wrong). ''
 * when there is none, or it is not one string.
 */
export function typedTextOf(value: unknown, maxChars: number): string {
  if (typeof value !== 'string') return '';
  const text = value.trim();
  return text.length <= maxChars ? text : '';
}

/** The magnet field of a parsed form, as typedTextOf gives it: that one field, nothing else of the body. */
export function typedMagnetOf(req: Request, maxChars: number): string {
  const body: unknown = req.body;
  return typedTextOf(body && typeof body === 'object' ? (body as Record<string, unknown>)[MAGNET_FIELD] : undefined, maxChars);
}

/** What the upload form (views/partials/upload-form.ejs) shows, on the home page and on error pages. */
export interface UploadFormView {
  torrentField: string;
  magnetField: string;
  /** The file size limit, for the hint. */
  maxUpload: string;
  /** The magnet field's value: what was typed before an error; '' for an empty field. */
  magnet: string;
  /** The error was about the magnet text: the field is marked invalid and described by the message. */
  magnetInvalid: boolean;
}

export function uploadFormView(maxUploadBytes: number, prefill: { magnet?: string; magnetInvalid?: boolean } = {}): UploadFormView {
  return {
    torrentField: TORRENT_FIELD,
    magnetField: MAGNET_FIELD,
    maxUpload: formatBytes(maxUploadBytes).text,
    magnet: prefill.magnet ?? '',
    magnetInvalid: prefill.magnetInvalid ?? false,
  };
}

/** The one input of a parsed form, or the reason there is none. */
export function scrapeInputOf(req: Request): ScrapeInput {
  const file = req.file;
  const body: unknown = req.body;
  const magnetValue = body && typeof body === 'object' ? (body as Record<string, unknown>)[MAGNET_FIELD] : undefined;
  const text = typeof magnetValue === 'string' ? magnetValue.trim() : '';
  const torrentAsText = body && typeof body === 'object' ? (body as Record<string, unknown>)[TORRENT_FIELD] : undefined;
  if (!file && typeof torrentAsText === 'string' && torrentAsText !== '') {
    throw new WebError(
      'UPLOAD_WRONG_FIELD',
      `The "${TORRENT_FIELD}" field must carry a file upload, not text. Paste magnet links and info-hashes into "${MAGNET_FIELD}".`,
    );
  }
  if (Array.isArray(magnetValue)) {
    throw new WebError('UPLOAD_MANY_MAGNETS', `Send one magnet link or info-hash in "${MAGNET_FIELD}", not several.`);
  }
  if (file && text !== '') {
    throw new WebError('UPLOAD_BOTH_INPUTS', 'Send either a .torrent file or a magnet link, not both.');
  }
  if (file) {
    if (file.size === 0 || file.buffer.length === 0) {
      throw new WebError('UPLOAD_EMPTY', 'The file is empty (0 bytes). Choose the .torrent file again.');
    }
    return { kind: 'file', bytes: file.buffer, originalName: file.originalname, mimeType: file.mimetype };
  }
  if (text !== '') return { kind: 'text', text };
  throw new WebError(
    'UPLOAD_NO_INPUT',
    `No torrent was sent. Choose a .torrent file (form field "${TORRENT_FIELD}") or paste a magnet link or info-hash (field "${MAGNET_FIELD}").`,
  );
}

/** BEP 3: a metainfo file is a bencoded dictionary, so its first byte is `d`. */
const BENCODE_DICT_START = 0x64;

/**
 * The start of a bencoded value that is not a dictionary (BEP 3): `i42e`, `4:spam`, a list whose
 * first item starts a value (or that is empty). Enough to tell "bencode, but not a torrent" from
 * any other content; the first few bytes decide.
 */
const BENCODED_NON_DICTIONARY: readonly { kind: string; head: RegExp }[] = [
  { kind: 'an integer', head: /^i-?\d+e/ },
  { kind: 'a string', head: /^\d+:/ },
  { kind: 'a list', head: /^l(?:[dile]|\d+:)/ },
];
/** Bytes looked at for BENCODED_NON_DICTIONARY: a 20-digit integer or length and its terminator fit. */
const BENCODE_HEAD_BYTES = 32;

/** What kind of bencoded value the bytes start with, when they start with one that is not a dictionary. */
export function bencodedKindOf(bytes: Uint8Array): string | null {
  const head = Buffer.from(bytes.subarray(0, BENCODE_HEAD_BYTES)).toString('latin1');
  return BENCODED_NON_DICTIONARY.find((candidate) => candidate.head.test(head))?.kind ?? null;
}

interface Signature {
  what: string;
  bytes: readonly number[];
}

/** Magic numbers of what people upload by mistake, to tell them what they sent instead. */
const SIGNATURES: readonly Signature[] = [
  { what: 'a PNG image', bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { what: 'a JPEG image', bytes: [0xff, 0xd8, 0xff] },
  { what: 'a GIF image', bytes: [0x47, 0x49, 0x46, 0x38] },
  { what: 'a ZIP archive', bytes: [0x50, 0x4b, 0x03, 0x04] },
  { what: 'a ZIP archive', bytes: [0x50, 0x4b, 0x05, 0x06] },
  { what: 'a gzip file', bytes: [0x1f, 0x8b] },
  { what: 'a 7-Zip archive', bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
  { what: 'a RAR archive', bytes: [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07] },
  { what: 'a PDF document', bytes: [0x25, 0x50, 0x44, 0x46] },
  { what: 'a program (ELF)', bytes: [0x7f, 0x45, 0x4c, 0x46] },
  { what: 'a Windows program', bytes: [0x4d, 0x5a] },
];

/** What the bytes look like when they are not a torrent, from their content only; null: no idea. */
export function describeContent(bytes: Uint8Array): string | null {
  for (const sig of SIGNATURES) {
    if (bytes.length >= sig.bytes.length && sig.bytes.every((b, i) => bytes[i] === b)) return sig.what;
  }
  const head = Buffer.from(bytes.subarray(0, 512)).toString('latin1').trimStart().toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'a web page (HTML)';
  if (head.startsWith('<?xml') || head.startsWith('<svg')) return 'an XML/SVG document';
  if (head.startsWith('magnet:')) return 'a text file holding a magnet link (paste it into the magnet field instead)';
  if (head.startsWith('{') || head.startsWith('[')) return 'JSON';
  return null;
}

/**
 * The content decides: a torrent starts with a bencoded dictionary. When it does not, refuse with
 * 415 and say what it looks like; the client's file name and MIME type only add a hint. Content
 * that does start like a torrent goes to the real decoder, whose errors carry the byte offset.
 */
export function assertLooksLikeTorrent(input: Extract<ScrapeInput, { kind: 'file' }>): void {
  if (input.bytes[0] === BENCODE_DICT_START) return;
  const looksLike = describeContent(input.bytes);
  // Said so that it reads whole both after the lead sentence (the JSON answer) and on its own
  // under the page's "Not a torrent file" heading.
  const whose = input.originalName ? `the content of "${clip(input.originalName)}"` : "the file's content";
  const typed = input.mimeType && input.mimeType !== 'application/octet-stream' ? ` (sent as ${clip(input.mimeType)})` : '';
  const bencoded = looksLike === null ? bencodedKindOf(input.bytes) : null;
  const what =
    bencoded !== null
      ? `is bencoded data (${bencoded}), but not a torrent: a torrent is a bencoded dictionary, starting with "d".`
      : `${looksLike ? `looks like ${looksLike}` : 'is not bencoded data'}. A .torrent file starts with a bencoded dictionary ("d").`;
  throw new WebError('NOT_A_TORRENT', `${NOT_A_TORRENT_SENTENCE}: ${whose}${typed} ${what}`);
}

/** Client-supplied names are shown back clipped and defused (they are escaped when rendered). */
const MAX_ECHOED_NAME_CHARS = 80;

function clip(text: string): string {
  return displayText(text, MAX_ECHOED_NAME_CHARS).text;
}
