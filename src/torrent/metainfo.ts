import { isAscii, isUtf8 } from 'node:buffer';
import { createHash, hash as digest } from 'node:crypto';
import { TextDecoder } from 'node:util';
import { BencodeError, type BencodeView, type DecodeOptions, decodeView, withTokenTable } from '../bencode/index.js';
import { TrackerscopeError, type Warning } from '../errors.js';
import type { Torrent, TorrentFile } from './types.js';

/**
 * `.torrent` bytes → `Torrent` (BEP 3, 12, 19, 27, 47, 52). The info-hashes are digests of the
 * `info` value's bytes exactly as they are in the file. Validation is strict where a wrong answer
 * would follow (hashes, sizes, piece counts, hybrid consistency) and lenient, with a warning, where
 * real clients are (unsorted keys, bytes after the end of the document, paths that clients sanitise).
 */

/** Largest `piece length` accepted: libtorrent refuses above INT_MAX / 2 (≈ 1 GiB). */
export const DEFAULT_MAX_PIECE_LENGTH = 2 ** 30;
/** BEP 52: v2 pieces are a power of two of at least one 16 KiB merkle block. */
const V2_BLOCK_SIZE = 16 * 1024;
/**
 * Largest file accepted: libtorrent's bound (its 16 KiB block count must stay below INT_MAX / 2),
 * so that every torrent we show is one clients can open.
 */
export const DEFAULT_MAX_FILE_LENGTH = (2 ** 30 - 1) * V2_BLOCK_SIZE - 1;
/** Largest total size: libtorrent's `max_file_offset` (2^48 − 1). */
export const DEFAULT_MAX_TOTAL_SIZE = 2 ** 48 - 1;
/** Most pieces: libtorrent's `load_torrent_limits.max_pieces` default (0x200000). */
export const DEFAULT_MAX_PIECE_COUNT = 0x200000;
/** Deepest v2 `file tree` (directory levels), as libtorrent. */
export const DEFAULT_MAX_FILE_TREE_DEPTH = 100;
/**
 * Most BEP 52 piece-layer hashes checked against their file's `pieces root`, per torrent. A merkle
 * tree costs about two SHA-256 calls per hash, ~2 µs each from JavaScript: 1024 hashes stay within
 * a few milliseconds, where 65 536 cost a 10 000-file hybrid 20× its whole parse. Every layer's
 * presence and size is still checked; layers past the budget are just not re-hashed. Piece layers
 * sit outside `info`: they change neither the info-hashes nor the swarm we scrape, so skipping
 * the check is not a finding about the torrent and carries no warning.
 */
export const DEFAULT_MAX_VERIFIED_LAYER_HASHES = 1024;
/**
 * Most distinct announce URLs kept (in tier order). Each one costs a DNS lookup and a request in
 * the scrape fan-out: a torrent listing hundreds of thousands would blow its deadline and memory.
 * Real torrents carry a few dozen at most.
 */
export const DEFAULT_MAX_TRACKERS = 200;
/** Most distinct BEP 19 web seeds kept (in order): they are listed on the page, never fetched. */
export const DEFAULT_MAX_WEB_SEEDS = 100;
/** Examples named in one warning about paths; further cases are counted, not listed. */
const MAX_EXAMPLES_PER_WARNING = 3;
/**
 * Size of the windows the file list's text is read through: below V8's large-object threshold, so
 * each window is an ordinary young-generation string.
 */
export const DEFAULT_TEXT_WINDOW_BYTES = 64 * 1024;
/** Latest `creation date` shown (9999-12-31T23:59:59Z); later values are nonsense, not dates. */
const MAX_CREATION_DATE_SECONDS = 253_402_300_799;

/** BEP 3: `pieces` is a concatenation of 20-byte SHA-1 digests. */
const SHA1_LENGTH = 20;
/** BEP 52: `pieces root` and piece-layer entries are 32-byte SHA-256 digests. */
const SHA256_LENGTH = 32;

export type TorrentErrorCode =
  | 'TORRENT_NOT_BENCODE'
  | 'TORRENT_NOT_DICT'
  | 'TORRENT_NO_INFO'
  | 'TORRENT_BAD_META_VERSION'
  | 'TORRENT_UNKNOWN_VERSION'
  | 'TORRENT_BAD_NAME'
  | 'TORRENT_BAD_PIECE_LENGTH'
  | 'TORRENT_BAD_PIECES'
  | 'TORRENT_NO_FILES'
  | 'TORRENT_BAD_FILE_LIST'
  | 'TORRENT_BAD_FILE_LENGTH'
  | 'TORRENT_BAD_PATH'
  | 'TORRENT_BAD_FILE_TREE'
  | 'TORRENT_BAD_PIECES_ROOT'
  | 'TORRENT_HYBRID_MISMATCH'
  | 'TORRENT_ZERO_SIZE'
  | 'TORRENT_TOO_LARGE'
  | 'TORRENT_TOO_MANY_PIECES';

/** Codes of the warnings `parseTorrent` adds (the decoder's BENCODE_* warnings pass through too). */
export type TorrentWarningCode =
  | 'TORRENT_NO_TRACKERS'
  | 'TORRENT_TRAILING_DATA'
  | 'TORRENT_NONCANONICAL_INFO'
  | 'TORRENT_TEXT_ENCODING'
  | 'TORRENT_UNSAFE_NAME'
  | 'TORRENT_UNSAFE_PATH'
  | 'TORRENT_BAD_CREATION_DATE'
  | 'TORRENT_IGNORED_FIELD'
  | 'TORRENT_BAD_PIECE_LAYERS'
  | 'TORRENT_TOO_MANY_TRACKERS'
  | 'TORRENT_TOO_MANY_WEB_SEEDS';

export class TorrentError extends TrackerscopeError {
  declare readonly code: TorrentErrorCode;

  constructor(code: TorrentErrorCode, message: string, offset?: number, options?: { cause?: unknown }) {
    super(code, message, offset, options);
  }
}

export interface ParseTorrentOptions {
  /** Decoder nesting limit (default: the decoder's, 100 as libtorrent). */
  maxDepth?: number;
  /** Decoder token limit (default: the decoder's). */
  maxTokens?: number;
  /**
   * Path elements and names that would escape the download folder (`..`, `.`, empty, containing
   * `/` or `\`). libtorrent sanitises them and opens the torrent (same info-hash, same swarm);
   * trackerscope displays paths and never writes a file, so the default `warn` shows them as
   * written with a TORRENT_UNSAFE_PATH / TORRENT_UNSAFE_NAME warning ("path contains '..' (path
   * traversal): shown as written, never used as a file path"). `reject` refuses the torrent, for
   * deployments that hand paths on to something that does write files.
   * A NUL byte, a non-string element or a missing path is always refused.
   */
  unsafePaths?: 'warn' | 'reject';
  maxPieceLength?: number;
  maxFileLength?: number;
  maxTotalSize?: number;
  maxPieceCount?: number;
  maxFileTreeDepth?: number;
  maxVerifiedLayerHashes?: number;
  /** Distinct announce URLs kept, in tier order (default DEFAULT_MAX_TRACKERS); the rest are counted in a warning. */
  maxTrackers?: number;
  /** Distinct web seeds kept (default DEFAULT_MAX_WEB_SEEDS); the rest are counted in a warning. */
  maxWebSeeds?: number;
  /** Tuning: bytes of the file list decoded to text at a time (default DEFAULT_TEXT_WINDOW_BYTES). */
  textWindowBytes?: number;
}

/** The warning every torrent without trackers carries: it can only be found through DHT/PEX. */
export const NO_TRACKERS_WARNING: Warning = Object.freeze({
  code: 'TORRENT_NO_TRACKERS',
  message: 'no trackers: peers can only be found through DHT or PEX, so there is nothing to scrape',
});

/**
 * BEP 12 tiers as people mean them, gathered URL by URL: trimmed, empty ones dropped, a URL kept
 * only where it first appears (across tiers), empty tiers dropped, order kept, and at most `max`
 * distinct URLs kept. Distinct URLs past the limit are counted (`dropped`), not kept.
 */
export class UrlTiers {
  readonly tiers: string[][] = [];
  private tier: string[] = [];
  private readonly seen = new Set<string>();
  private readonly overflow = new Set<string>();

  constructor(private readonly max: number) {}

  /** True once `max` URLs are kept: callers may then skip work on the text of further URLs. */
  get full(): boolean {
    return this.seen.size >= this.max;
  }

  /** Distinct URLs that were not kept because of the limit (repeats of kept URLs not counted). */
  get dropped(): number {
    return this.overflow.size;
  }

  add(raw: string): void {
    const url = raw.trim();
    if (url === '' || this.seen.has(url)) return;
    if (this.full) {
      this.overflow.add(url);
      return;
    }
    this.seen.add(url);
    this.tier.push(url);
  }

  endTier(): void {
    if (this.tier.length === 0) return;
    this.tiers.push(this.tier);
    this.tier = [];
  }
}

/** `tiers` normalised as UrlTiers does, with at most `max` distinct URLs kept. */
export function capTiers(tiers: readonly (readonly string[])[], max: number): { tiers: string[][]; dropped: number } {
  const out = new UrlTiers(max);
  for (const tier of tiers) {
    for (const url of tier) out.add(url);
    out.endTier();
  }
  return { tiers: out.tiers, dropped: out.dropped };
}

/** BEP 12 tiers: trimmed, empty URLs and tiers dropped, repeats across tiers dropped, order kept. */
export function normaliseTiers(tiers: readonly (readonly string[])[]): string[][] {
  return capTiers(tiers, Number.POSITIVE_INFINITY).tiers;
}

/** BEP 19 web seeds: trimmed, empty ones dropped, duplicates dropped, order kept. */
export function normaliseUrlList(urls: readonly string[]): string[] {
  return normaliseTiers([urls])[0] ?? [];
}

/** The warning for a tracker list cut at `max` distinct URLs. */
export function tooManyTrackersWarning(max: number, dropped: number): Warning {
  return {
    code: 'TORRENT_TOO_MANY_TRACKERS',
    message: `${max + dropped} distinct tracker URLs: only the first ${max} (in tier order) are kept and scraped; ${dropped} were dropped`,
  };
}

/** The warning for a web seed list cut at `max` distinct URLs. */
export function tooManyWebSeedsWarning(max: number, dropped: number): Warning {
  return {
    code: 'TORRENT_TOO_MANY_WEB_SEEDS',
    message: `${max + dropped} distinct web seeds: only the first ${max} are kept; ${dropped} were dropped`,
  };
}

const NON_ASCII = /[\u0080-\u00ff]/;
const WHITESPACE_BYTES = new Set([0x09, 0x0a, 0x0d, 0x20]);

/**
 * Windows code-page names that old clients (and Python tools) wrote in `encoding` but that are not
 * labels of the WHATWG Encoding Standard, which TextDecoder follows.
 */
const CODE_PAGE_LABELS: Readonly<Record<string, string>> = { cp936: 'gbk', cp950: 'big5', cp932: 'shift_jis', cp949: 'euc-kr' };
/** Encodings an `encoding` label may resolve to that never explain bytes that are not UTF-8. */
const NOT_LEGACY = new Set(['utf-8', 'utf-16le', 'utf-16be', 'replacement']);

/** The root's `encoding` field: what old clients (BitComet …) wrote their text in. */
interface LegacyEncoding {
  /** The label as the torrent writes it. */
  label: string;
  /** A strict decoder for it, or null when the label is not one this runtime decodes. */
  decoder: TextDecoder | null;
}

/** Paths that would escape the download folder, counted by kind and named by a few examples. */
interface UnsafePaths {
  count: number;
  examples: string[];
}

/** Per-parse state shared by the helpers. */
interface Ctx {
  view: BencodeView;
  options: ParseTorrentOptions;
  warnings: Warning[];
  /** Fields whose text was not UTF-8 and is shown byte-by-byte. */
  latin1Fields: Map<string, number>;
  /** Fields whose text was not UTF-8 and was decoded with the torrent's `encoding`. */
  legacyFields: Map<string, number>;
  /** The root's `encoding`, looked up the first time text is not UTF-8 (undefined until then). */
  legacy: LegacyEncoding | null | undefined;
  /** Paths with a `..` element. */
  traversal: UnsafePaths;
  /** Paths with an empty or `.` element, or one holding `/` or `\`. */
  unsafe: UnsafePaths;
}

/** The kind of a value, with its article, for messages: "a list", "an integer". */
function typeName(view: BencodeView, i: number): string {
  const type = view.type(i);
  return type === 'bytes' ? 'a byte string' : type === 'int' ? 'an integer' : type === 'dict' ? 'a dictionary' : 'a list';
}

function countField(fields: Map<string, number>, field: string, n = 1): void {
  fields.set(field, (fields.get(field) ?? 0) + n);
}

function resolveLegacyEncoding(view: BencodeView): LegacyEncoding | null {
  const tok = view.get(view.root, 'encoding');
  if (!view.isBytes(tok)) return null;
  const label = view.latin1(tok).trim();
  if (label === '') return null;
  let decoder: TextDecoder | null = null;
  try {
    decoder = new TextDecoder(CODE_PAGE_LABELS[label.toLowerCase()] ?? label, { fatal: true });
  } catch {
    // An unknown label, or a runtime built without full ICU: the text falls back to latin1.
  }
  if (decoder !== null && NOT_LEGACY.has(decoder.encoding)) return null;
  return { label, decoder };
}

/**
 * Text that is not UTF-8, decoded with the torrent's `encoding` (BitComet wrote GBK, Big5,
 * Shift_JIS … there, with no `.utf-8` variants); null when there is none or the bytes do not fit it.
 */
function legacyText(ctx: Ctx, bytes: Uint8Array, field: string): string | null {
  if (ctx.legacy === undefined) ctx.legacy = resolveLegacyEncoding(ctx.view);
  const decoder = ctx.legacy?.decoder;
  if (decoder === undefined || decoder === null) return null;
  try {
    const text = decoder.decode(bytes);
    countField(ctx.legacyFields, field);
    return text;
  } catch {
    return null;
  }
}

/**
 * Text of a byte string: UTF-8 when valid, else in the torrent's `encoding` when it decodes, else
 * latin1 (lossless); the last two are noted under `field`.
 */
function textOf(ctx: Ctx, i: number, field: string): string {
  const latin1 = ctx.view.latin1(i);
  if (!NON_ASCII.test(latin1)) return latin1;
  const bytes = ctx.view.bytesOf(i);
  if (isUtf8(bytes)) return bytes.toString('utf8');
  const legacy = legacyText(ctx, bytes, field);
  if (legacy !== null) return legacy;
  countField(ctx.latin1Fields, field);
  return latin1;
}

/** Text of a byte string nobody will see (a URL past a limit): UTF-8 or latin1, nothing noted. */
function quietText(view: BencodeView, i: number): string {
  const bytes = view.bytesOf(i);
  return isUtf8(bytes) ? bytes.toString('utf8') : view.latin1(i);
}

/** The `key.utf-8` variant when it is a byte string, else `key` when it is one, else -1. */
function preferUtf8(view: BencodeView, dict: number, key: string): number {
  const utf8 = view.get(dict, `${key}.utf-8`);
  if (view.isBytes(utf8) && view.bytesSpan(utf8).end > view.bytesSpan(utf8).start) return utf8;
  const plain = view.get(dict, key);
  return view.isBytes(plain) ? plain : -1;
}

function isUnsafeElement(element: string): boolean {
  return element === '' || element === '.' || element === '..' || element.includes('/') || element.includes('\\');
}

/** An unsafe element that climbs out of its folder: `..` itself, or `..` between separators. */
function isTraversal(element: string): boolean {
  return element === '..' || element.split(/[/\\]/).includes('..');
}

/** What the warnings say of each kind of unsafe path (we display paths; we never write files). */
const TRAVERSAL_TEXT = "path contains '..' (path traversal): shown as written, never used as a file path";
const UNSAFE_TEXT =
  "path has an empty or '.' element, or one containing '/' or '\\' (clients rename it): shown as written, never used as a file path";

/** Where a file's path first turns unsafe, and whether any of its elements is a traversal. */
interface UnsafeMark {
  offset: number;
  traversal: boolean;
}

function markUnsafe(mark: UnsafeMark | null, element: string, offset: number): UnsafeMark {
  if (mark === null) return { offset, traversal: isTraversal(element) };
  return isTraversal(element) && !mark.traversal ? { offset: mark.offset, traversal: true } : mark;
}

/** Notes (or, under `reject`, refuses) a file whose whole `path` has the unsafe elements `mark` found. */
function noteUnsafe(ctx: Ctx, path: string, { offset, traversal }: UnsafeMark, code: 'TORRENT_BAD_PATH' | 'TORRENT_BAD_NAME'): void {
  if (ctx.options.unsafePaths === 'reject') {
    const why = traversal ? "contains '..' (path traversal)" : "has an empty or '.' element, or one containing '/' or '\\'";
    throw new TorrentError(code, `"${path}" ${why}: refused (unsafePaths: reject)`, offset);
  }
  const bucket = traversal ? ctx.traversal : ctx.unsafe;
  bucket.count++;
  if (bucket.examples.length < MAX_EXAMPLES_PER_WARNING) bucket.examples.push(path);
}

function readInt(view: BencodeView, i: number): number | bigint | null {
  return view.isInt(i) ? view.int(i) : null;
}

function decodeTorrentView(bytes: Uint8Array, options: ParseTorrentOptions, warnings: Warning[]): BencodeView {
  const decodeOptions: DecodeOptions = { keyOrder: 'lenient' };
  if (options.maxDepth !== undefined) decodeOptions.maxDepth = options.maxDepth;
  if (options.maxTokens !== undefined) decodeOptions.maxTokens = options.maxTokens;
  try {
    return decodeView(bytes, decodeOptions);
  } catch (error) {
    if (!(error instanceof BencodeError)) throw error;
    const at = error.offset;
    if (error.code === 'BENCODE_TRAILING_DATA' && at !== undefined) {
      // libtorrent (so qBittorrent, Deluge …) reads the first complete value and ignores what
      // follows: an appended newline, NUL padding from a download tool, a stray `e`. The torrent
      // opens there with the same info-hash, so it must open here; the decoder stays strict and
      // reads only the document itself.
      const kind = onlyWhitespaceFrom(bytes, at) ? 'whitespace byte(s)' : 'byte(s)';
      warnings.push({
        code: 'TORRENT_TRAILING_DATA',
        message: `${bytes.length - at} ${kind} after the end of the torrent were ignored, as BitTorrent clients do; the info-hash does not cover them`,
        offset: at,
      });
      try {
        return decodeView(bytes.subarray(0, at), decodeOptions);
      } catch (inner) {
        if (inner instanceof BencodeError) throw notBencode(inner);
        throw inner;
      }
    }
    throw notBencode(error);
  }
}

function onlyWhitespaceFrom(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (!WHITESPACE_BYTES.has(bytes[i]!)) return false;
  return true;
}

function notBencode(error: BencodeError): TorrentError {
  const suffix = error.offset === undefined ? '' : ` at byte ${error.offset}`;
  const reason = suffix !== '' && error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message;
  // The decoder's code stays on `cause` (the web page shows it under its technical details); the
  // message is for a person: the reason and, from TorrentError, "at byte N".
  return new TorrentError('TORRENT_NOT_BENCODE', `not a torrent file: ${reason}`, error.offset, { cause: error });
}

interface V1Files {
  files: TorrentFile[];
  totalSize: number;
  paddingFiles: number;
  /** Hybrids only: byte offset of each listed file in the v1 piece space. */
  offsets: number[] | null;
  /** Hybrids only: each listed file's path list token (-1 for the single-file form). */
  pathToks: number[] | null;
}

/** Why a file's `length` is not one, and where: the caller names the file in the error. */
interface LengthProblem {
  /** What completes "the length of <file> …"; null when the file has no `length` at all. */
  why: string | null;
  offset: number;
}

const BINARY_UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;
const BYTES_PER_UNIT = 1024;

/** `17592186028031` → `17,592,186,028,031`; a bigint length too (a hostile file's 10^30). */
function groupDigits(value: number | bigint): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `17592186028031` → `16 TiB`: the limit as a person reads it, beside the exact figure. */
function roundedSize(bytes: number): string {
  let unit = 0;
  let value = bytes;
  while (value >= BYTES_PER_UNIT && unit < BINARY_UNITS.length - 1) {
    value /= BYTES_PER_UNIT;
    unit++;
  }
  return `${Number(value.toPrecision(3))} ${BINARY_UNITS[unit]}`;
}

/** The out-of-range half of a length problem: negative, or over the per-file limit. */
function lengthOutOfRange(length: number | bigint, max: number): string {
  if (length < 0) return `is negative (${length})`;
  return `is ${groupDigits(length)} bytes, more than the ${groupDigits(max)}-byte (${roundedSize(max)}) limit for one file`;
}

/**
 * The `length` of the file described by dictionary `entry`, or why it is not a length. Callers
 * build the file's name only when there is a problem: this runs once per file.
 */
function fileLength(ctx: Ctx, entry: number): number | LengthProblem {
  const { view } = ctx;
  const lengthTok = view.get(entry, 'length');
  if (lengthTok === -1) return { why: null, offset: view.span(entry).start };
  const length = readInt(view, lengthTok);
  if (length === null) return { why: `is ${typeName(view, lengthTok)}, not an integer`, offset: view.span(entry).start };
  const max = ctx.options.maxFileLength ?? DEFAULT_MAX_FILE_LENGTH;
  if (typeof length === 'number' && length >= 0 && length <= max) return length;
  return { why: lengthOutOfRange(length, max), offset: view.span(lengthTok).start };
}

/** `what` names the file: `its single file`, `file 3`, `"dir/a.bin"`. */
function badLength(what: string, problem: LengthProblem): TorrentError {
  const message = problem.why === null ? `${what} has no length` : `the length of ${what} ${problem.why}`;
  return new TorrentError('TORRENT_BAD_FILE_LENGTH', message, problem.offset);
}

function tooLarge(max: number, offset: number): TorrentError {
  return new TorrentError('TORRENT_TOO_LARGE', `the files add up to more than ${groupDigits(max)} bytes (${roundedSize(max)})`, offset);
}

function checkFileLength(ctx: Ctx, entry: number, what: string): number {
  const length = fileLength(ctx, entry);
  if (typeof length !== 'number') throw badLength(what, length);
  return length;
}

function addToTotal(ctx: Ctx, total: number, size: number, offset: number): number {
  const sum = total + size;
  const max = ctx.options.maxTotalSize ?? DEFAULT_MAX_TOTAL_SIZE;
  if (sum > max) throw tooLarge(max, offset);
  return sum;
}

function attrOf(view: BencodeView, entry: number): string {
  const attr = view.get(entry, 'attr');
  return view.isBytes(attr) ? view.latin1(attr) : '';
}

/** BEP 47 `symlink path`: checked for shape only (we neither follow nor write links). */
function checkSymlinkPath(ctx: Ctx, entry: number, what: string): void {
  const { view } = ctx;
  const target = view.get(entry, 'symlink path');
  if (target === -1) return;
  if (!view.isList(target)) {
    throw new TorrentError('TORRENT_BAD_PATH', `${what}: symlink path is ${typeName(view, target)}`, view.span(entry).start);
  }
  for (const element of view.listItems(target)) {
    if (!view.isBytes(element) || view.latin1(element).includes('\0')) {
      throw new TorrentError('TORRENT_BAD_PATH', `${what}: symlink path has an invalid element`, view.span(element).start);
    }
  }
}

/** The BEP 3 single-file form: the file is the torrent's name. */
function readSingleFile(ctx: Ctx, info: number, name: string, withOffsets: boolean): V1Files {
  const size = checkFileLength(ctx, info, 'its single file');
  return {
    files: [{ path: name, size }],
    totalSize: addToTotal(ctx, 0, size, ctx.view.span(info).start),
    paddingFiles: 0,
    offsets: withOffsets ? [0] : null,
    pathToks: withOffsets ? [-1] : null,
  };
}

/**
 * Bytes of the file list an element at a time would cost one native call per path element; the
 * whole list as one string would be a large V8 object (its own memory mapping, on every parse).
 * This reads the list through windows of DEFAULT_TEXT_WINDOW_BYTES: each element is a slice of the
 * current window, and only non-ASCII windows fall back to decoding element by element.
 */
class WindowedText {
  private text = '';
  private start = 0;
  private end = 0;
  private ascii = false;
  /** Elements that were not valid UTF-8 and that `fallback` could not read either (read as latin1). */
  latin1Fallbacks = 0;

  constructor(
    private readonly view: BencodeView,
    /** Where the container being read ends: windows stop there (the binary `pieces` may follow). */
    private readonly limit: number,
    private readonly windowBytes: number,
    /** Reads an element that is not UTF-8 (the torrent's `encoding`), or gives null. */
    private readonly fallback: (bytes: Uint8Array) => string | null,
  ) {}

  read(i: number): string {
    const view = this.view;
    const from = view.dataStart(i);
    const to = view.end(i);
    if (from < this.start || to > this.end) this.slide(from, to);
    if (this.ascii) return this.text.slice(from - this.start, to - this.start);
    const bytes = view.bytes;
    const element = bytes.subarray(from, to);
    if (isUtf8(element)) return bytes.utf8Slice(from, to);
    const legacy = this.fallback(element);
    if (legacy !== null) return legacy;
    this.latin1Fallbacks++;
    return bytes.latin1Slice(from, to);
  }

  private slide(from: number, to: number): void {
    const bytes = this.view.bytes;
    this.start = from;
    this.end = Math.max(to, Math.min(this.limit, from + this.windowBytes));
    const window = bytes.subarray(this.start, this.end);
    this.ascii = isAscii(window);
    this.text = this.ascii ? bytes.latin1Slice(this.start, this.end) : '';
  }
}

/** Whether the key token's bytes `[start, end)` spell `key` (ASCII). */
function keyEquals(buf: Buffer, start: number, end: number, key: string): boolean {
  if (end - start !== key.length) return false;
  for (let j = 0; j < key.length; j++) if (buf[start + j] !== key.charCodeAt(j)) return false;
  return true;
}

const CH_A = 0x61;
const CH_L = 0x6c;
const CH_P = 0x70;
const CH_UNDERSCORE = 0x5f;
/** BEP 47 predecessor: BitComet named its padding files `_____padding_file_<n>_…`. */
const BITCOMET_PAD_PREFIX = '_____padding_file_';

/** Byte values that make a path element unsafe wherever they appear: `/`, `\` and NUL. */
const SEPARATOR_OR_NUL = [0x2f, 0x5c, 0x00];

/**
 * The BEP 3 multi-file form: `files`, a list of { length, path }, BEP 47 attributes honoured.
 * This loop runs once per file of torrents with tens of thousands of files: it walks the token
 * table directly, reads each entry's keys in one pass and allocates only the file's path and record.
 */
function readFileList(ctx: Ctx, filesTok: number, name: string, withOffsets: boolean): V1Files {
  const { view } = ctx;
  const buf = view.bytes;
  if (!view.isList(filesTok)) {
    throw new TorrentError('TORRENT_BAD_FILE_LIST', `'files' is ${typeName(view, filesTok)}, not a list`, view.span(filesTok).start);
  }
  const listEnd = view.next(filesTok);
  if (listEnd === filesTok + 1) throw new TorrentError('TORRENT_NO_FILES', "the torrent's file list is empty", view.span(filesTok).start);
  const files: TorrentFile[] = [];
  const offsets: number[] | null = withOffsets ? [] : null;
  const pathToks: number[] | null = withOffsets ? [] : null;
  const scope = new WindowedText(view, view.end(filesTok), ctx.options.textWindowBytes ?? DEFAULT_TEXT_WINDOW_BYTES, (bytes) =>
    legacyText(ctx, bytes, 'file paths'),
  );
  // Most file lists hold no `/`, `\` or NUL byte at all: then only `""`, `.` and `..` need a look.
  const listBytes = view.raw(filesTok);
  const mayHideSeparators = SEPARATOR_OR_NUL.some((b) => listBytes.includes(b));
  const maxFileLength = ctx.options.maxFileLength ?? DEFAULT_MAX_FILE_LENGTH;
  const maxTotal = ctx.options.maxTotalSize ?? DEFAULT_MAX_TOTAL_SIZE;
  const prefix = `${name}/`;
  let total = 0;
  let paddingFiles = 0;
  let index = 0;
  for (let entry = filesTok + 1; entry < listEnd; entry = view.next(entry)) {
    index++;
    if (!view.isDict(entry)) {
      throw new TorrentError('TORRENT_BAD_FILE_LIST', `file ${index} is ${typeName(view, entry)}, not a dictionary`, view.span(entry).start);
    }
    let lengthTok = -1;
    let pathTok = -1;
    let utf8PathTok = -1;
    let attrTok = -1;
    const entryEnd = view.next(entry);
    for (let k = entry + 1; k < entryEnd; k = view.next(k + 1)) {
      const ks = view.dataStart(k);
      const ke = view.end(k);
      // Dispatch on the first byte before comparing whole keys: this runs for every file.
      const first = buf[ks];
      if (first === CH_L) {
        if (lengthTok === -1 && keyEquals(buf, ks, ke, 'length')) lengthTok = k + 1;
      } else if (first === CH_P) {
        if (pathTok === -1 && keyEquals(buf, ks, ke, 'path')) pathTok = k + 1;
        else if (utf8PathTok === -1 && keyEquals(buf, ks, ke, 'path.utf-8')) utf8PathTok = k + 1;
      } else if (first === CH_A) {
        if (attrTok === -1 && keyEquals(buf, ks, ke, 'attr')) attrTok = k + 1;
      }
    }
    const attr = attrTok !== -1 && view.isBytes(attrTok) ? view.latin1(attrTok) : '';
    let padding = attr.includes('p');
    let size = 0;
    if (attr.includes('l')) {
      // BEP 47: a symlink takes no space in the torrent, whatever length it declares.
      checkSymlinkPath(ctx, entry, `file ${index}`);
    } else {
      if (lengthTok === -1 || !view.isInt(lengthTok)) {
        const why = lengthTok === -1 ? null : `is ${typeName(view, lengthTok)}, not an integer`;
        throw badLength(`file ${index}`, { why, offset: view.span(entry).start });
      }
      const length = view.int(lengthTok);
      if (typeof length !== 'number' || length < 0 || length > maxFileLength) {
        throw badLength(`file ${index}`, { why: lengthOutOfRange(length, maxFileLength), offset: view.span(lengthTok).start });
      }
      size = length;
    }

    if (view.isList(utf8PathTok)) pathTok = utf8PathTok;
    let path = prefix;
    let unsafe: UnsafeMark | null = null;
    // A BEP 47 pad file is never listed: its path is checked but not joined (half the entries of a hybrid).
    const listed = !padding;
    if (pathTok === -1 || (view.isList(pathTok) && view.next(pathTok) === pathTok + 1)) {
      if (!padding) throw new TorrentError('TORRENT_BAD_PATH', `file ${index} has no path`, view.span(entry).start);
    } else if (!view.isList(pathTok)) {
      throw new TorrentError('TORRENT_BAD_PATH', `file ${index}: path is ${typeName(view, pathTok)}, not a list`, view.span(pathTok).start);
    } else {
      const pathEnd = view.next(pathTok);
      for (let element = pathTok + 1; element < pathEnd; element = view.next(element)) {
        if (!view.isBytes(element)) {
          throw new TorrentError('TORRENT_BAD_PATH', `file ${index}: a path element is ${typeName(view, element)}`, view.span(element).start);
        }
        const text = scope.read(element);
        const first = element === pathTok + 1;
        if (listed) path = first ? path + text : `${path}/${text}`;
        if (mayHideSeparators && text.includes('\0')) {
          throw new TorrentError('TORRENT_BAD_PATH', `file ${index}: a path element contains a NUL byte`, view.span(element).start);
        }
        if ((mayHideSeparators || text.length <= 2) && isUnsafeElement(text)) {
          unsafe = markUnsafe(unsafe, text, view.span(element).start);
        }
        // BEP 47 pad files live under `.pad/`; BitComet's older ones are named `_____padding_file_…`.
        if ((first && text === '.pad') || (text.charCodeAt(0) === CH_UNDERSCORE && text.startsWith(BITCOMET_PAD_PREFIX))) {
          padding = true;
        }
      }
    }
    // Pad files are neither shown nor written: an odd path there is nobody's concern.
    if (unsafe !== null && !padding) noteUnsafe(ctx, path, unsafe, 'TORRENT_BAD_PATH');
    if (padding) {
      paddingFiles++;
    } else {
      offsets?.push(total);
      pathToks?.push(pathTok);
      files.push({ path, size });
    }
    total += size;
    if (total > maxTotal) throw tooLarge(maxTotal, view.span(entry).start);
  }
  if (scope.latin1Fallbacks > 0) countField(ctx.latin1Fields, 'file paths', scope.latin1Fallbacks);
  return { files, totalSize: total, paddingFiles, offsets, pathToks };
}

/** A directory of a v2 file tree, as the chain of key tokens leading to it. */
interface TreeDir {
  key: number;
  parent: TreeDir | null;
}

interface V2File {
  size: number;
  /** `pieces root` token (-1 for empty files and symlinks). */
  root: number;
  /** The file's key token, and the directories above it (below the torrent's name). */
  key: number;
  dir: TreeDir | null;
  /** The joined path, built for v2-only torrents; a hybrid shows its v1 list, so null there. */
  path: string | null;
}

/** How the paths of a file tree are joined. */
interface TreeNames {
  name: string;
  /** BEP 52 single-file torrent: the file's key is its whole path. */
  single: boolean;
}

/** A v2 file's path as shown, joined on demand (hybrids need it only in messages). */
function treePath(view: BencodeView, names: TreeNames, file: Pick<V2File, 'key' | 'dir' | 'path'>): string {
  if (file.path !== null) return file.path;
  const parts = [quietText(view, file.key)];
  for (let dir = file.dir; dir !== null; dir = dir.parent) parts.push(quietText(view, dir.key));
  if (!names.single) parts.push(names.name);
  return parts.reverse().join('/');
}

function hasNul(view: BencodeView, i: number): boolean {
  const buf = view.bytes;
  for (let at = view.dataStart(i), end = view.end(i); at < end; at++) if (buf[at] === 0) return true;
  return false;
}

/**
 * BEP 52 `file tree`: nested dictionaries, a file being `{ "": { length, pieces root } }`. For a
 * hybrid (`buildPaths` false) the tree is validated and its files collected without joining path
 * strings: the v1 list is what is shown, and checkHybrid compares the two by their bytes.
 */
function readFileTree(ctx: Ctx, treeTok: number, names: TreeNames, buildPaths: boolean): V2File[] {
  const { view } = ctx;
  if (!view.isDict(treeTok)) {
    throw new TorrentError('TORRENT_BAD_FILE_TREE', `'file tree' is ${typeName(view, treeTok)}`, view.span(treeTok).start);
  }
  const out: V2File[] = [];
  const maxDepth = ctx.options.maxFileTreeDepth ?? DEFAULT_MAX_FILE_TREE_DEPTH;
  const { single } = names;

  // Entries are read straight off the token table (key at k, value at k + 1): a tree of
  // 10 000 files would otherwise allocate a pair per entry.
  const walk = (node: number, dirPath: string | null, dir: TreeDir | null, depth: number, unsafeAbove: UnsafeMark | null) => {
    if (depth > maxDepth) {
      throw new TorrentError('TORRENT_BAD_FILE_TREE', `the file tree is deeper than ${maxDepth} directories`, view.span(node).start);
    }
    const end = view.next(node);
    for (let keyTok = node + 1; keyTok < end; keyTok = view.next(keyTok + 1)) {
      const child = keyTok + 1;
      if (view.end(keyTok) === view.dataStart(keyTok)) {
        throw new TorrentError(
          'TORRENT_BAD_FILE_TREE',
          'the file tree has an empty name where a file or directory is expected',
          view.span(keyTok).start,
        );
      }
      if (hasNul(view, keyTok)) throw new TorrentError('TORRENT_BAD_PATH', 'a file tree name contains a NUL byte', view.span(keyTok).start);
      if (!view.isDict(child)) {
        const what = `file tree entry "${quietText(view, keyTok)}" is ${typeName(view, child)}`;
        throw new TorrentError('TORRENT_BAD_FILE_TREE', what, view.span(keyTok).start);
      }
      let path: string | null = null;
      let unsafe = unsafeAbove;
      if (buildPaths) {
        const element = textOf(ctx, keyTok, 'file paths');
        path = single ? element : `${dirPath}/${element}`;
        if (isUnsafeElement(element)) unsafe = markUnsafe(unsafeAbove, element, view.span(keyTok).start);
      }
      const attrs = view.get(child, '');
      if (attrs === -1) {
        walk(child, path, { key: keyTok, parent: dir }, depth + 1, unsafe);
        continue;
      }
      if (view.size(child) !== 1) {
        const shown = treePath(view, names, { key: keyTok, dir, path });
        throw new TorrentError('TORRENT_BAD_FILE_TREE', `"${shown}" is both a file and a directory`, view.span(keyTok).start);
      }
      if (unsafe !== null && path !== null) noteUnsafe(ctx, path, unsafe, 'TORRENT_BAD_PATH');
      out.push(readTreeFile(ctx, attrs, names, { key: keyTok, dir, path }));
    }
  };
  walk(treeTok, names.name, null, 0, null);
  return out;
}

function isFileNode(view: BencodeView, node: number): boolean {
  return view.isDict(node) && view.get(node, '') !== -1 && view.size(node) === 1;
}

function isAllZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * A root's first three bytes as an integer, to bucket `piece layers` by: three bytes keep the key
 * a V8 small integer (larger numbers are heap-allocated doubles, slow as Map keys).
 */
function layerKey(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
}
/**
 * Most layers sharing one bucket. Real roots are SHA-256 digests and spread evenly; a file crafted
 * with many roots alike in their first bytes makes the index fall back to exact string keys, so it
 * never degrades into comparing every root with every other.
 */
const LAYER_BUCKET_LIMIT = 16;

/**
 * `piece layers` by `pieces root`. A 10 000-file hybrid has 10 000 layers: keying a Map by the
 * roots as strings cost more than the rest of the parse, so roots are bucketed by their first bytes
 * and confirmed byte by byte.
 */
class LayerIndex {
  private buckets: Map<number, number | number[]> | null = new Map();
  /** The exact index, used instead of `buckets` once a bucket overflows. */
  private byText: Map<string, number> | null = null;

  constructor(
    private readonly view: BencodeView,
    layersTok: number,
  ) {
    const buf = view.bytes;
    const end = view.next(layersTok);
    for (let k = layersTok + 1; k < end && this.buckets !== null; k = view.next(k + 1)) {
      // A key of another length is no root: nothing can look it up.
      if (view.end(k) - view.dataStart(k) !== SHA256_LENGTH) continue;
      const key = layerKey(buf, view.dataStart(k));
      const bucket = this.buckets.get(key);
      if (bucket === undefined) this.buckets.set(key, k);
      else if (typeof bucket === 'number') this.buckets.set(key, [bucket, k]);
      else if (bucket.length < LAYER_BUCKET_LIMIT) bucket.push(k);
      else this.buckets = null;
    }
    if (this.buckets === null) {
      this.byText = new Map();
      for (let k = layersTok + 1; k < end; k = view.next(k + 1)) {
        const text = view.latin1(k);
        if (!this.byText.has(text)) this.byText.set(text, k);
      }
    }
  }

  /** The layer (value token) filed under root token `root`, the first one when repeated; else -1. */
  find(root: number): number {
    const view = this.view;
    if (this.buckets === null) {
      const k = this.byText!.get(view.latin1(root));
      return k === undefined ? -1 : k + 1;
    }
    const bucket = this.buckets.get(layerKey(view.bytes, view.dataStart(root)));
    if (bucket === undefined) return -1;
    if (typeof bucket === 'number') return this.same(bucket, root) ? bucket + 1 : -1;
    for (const k of bucket) if (this.same(k, root)) return k + 1;
    return -1;
  }

  private same(key: number, root: number): boolean {
    return sameBytes(this.view, key, root);
  }
}

/** Whether byte strings `a` and `b` hold the same bytes (byte by byte: Buffer#compare with offsets costs more). */
function sameBytes(view: BencodeView, a: number, b: number): boolean {
  const buf = view.bytes;
  const from = view.dataStart(a);
  const to = view.dataStart(b);
  const length = view.end(a) - from;
  if (length !== view.end(b) - to) return false;
  for (let i = 0; i < length; i++) if (buf[from + i] !== buf[to + i]) return false;
  return true;
}

function readTreeFile(ctx: Ctx, attrs: number, names: TreeNames, file: Pick<V2File, 'key' | 'dir' | 'path'>): V2File {
  const { view } = ctx;
  const { key, dir, path } = file;
  if (!view.isDict(attrs)) {
    throw new TorrentError('TORRENT_BAD_FILE_TREE', `"${treePath(view, names, file)}": file properties are not a dictionary`, view.span(attrs).start);
  }
  const attr = attrOf(view, attrs);
  if (attr.includes('p')) {
    // BEP 52 aligns files by itself; a pad file inside a v2 tree is malformed.
    throw new TorrentError(
      'TORRENT_BAD_FILE_TREE',
      `"${treePath(view, names, file)}" is marked as a padding file, which a v2 file tree cannot contain`,
      view.span(attrs).start,
    );
  }
  if (attr.includes('l')) {
    checkSymlinkPath(ctx, attrs, `"${treePath(view, names, file)}"`);
    return { size: 0, root: -1, key, dir, path };
  }
  const size = fileLength(ctx, attrs);
  if (typeof size !== 'number') throw badLength(`"${treePath(view, names, file)}"`, size);
  if (size === 0) return { size, root: -1, key, dir, path };
  const root = view.get(attrs, 'pieces root');
  if (!view.isBytes(root) || view.end(root) - view.dataStart(root) !== SHA256_LENGTH) {
    throw new TorrentError('TORRENT_BAD_PIECES_ROOT', `"${treePath(view, names, file)}" has no 32-byte pieces root`, view.span(attrs).start);
  }
  if (isAllZero(view.bytes, view.dataStart(root), view.end(root))) {
    throw new TorrentError('TORRENT_BAD_PIECES_ROOT', `"${treePath(view, names, file)}" has an all-zero pieces root`, view.span(root).start);
  }
  return { size, root, key, dir, path };
}

/**
 * A hybrid torrent is one content in two swarms: its v1 file list (padding aside) must name the
 * same files, with the same sizes, each starting on a piece boundary as v2 requires. Paths are
 * compared as the bytes of their elements: comparing the joined strings would flatten two strings
 * per file, which cost a 10 000-file hybrid more than its whole v1 file list.
 */
function checkHybrid(view: BencodeView, v1: V1Files, v2: V2File[], names: TreeNames, pieceLength: number, offset: number): void {
  const mismatch = (why: string) =>
    new TorrentError('TORRENT_HYBRID_MISMATCH', `the v1 and v2 file lists of this hybrid torrent differ: ${why}`, offset);
  if (v1.files.length !== v2.length) throw mismatch(`${v1.files.length} v1 files, ${v2.length} v2 files`);
  const elements: number[] = [];
  for (let i = 0; i < v2.length; i++) {
    const a = v1.files[i]!;
    const b = v2[i]!;
    const pathTok = v1.pathToks![i]!;
    const same = pathTok === -1 ? a.path === treePath(view, names, b) : samePath(view, pathTok, b, elements);
    if (!same) throw mismatch(`file ${i + 1} is "${a.path}" in v1 and "${treePath(view, names, b)}" in v2`);
    if (a.size !== b.size) throw mismatch(`"${a.path}" has ${a.size} bytes in v1 and ${b.size} in v2`);
    if (a.size > 0 && v1.offsets![i]! % pieceLength !== 0) throw mismatch(`"${a.path}" does not start on a piece boundary`);
  }
}

/** Whether v1 path list `pathTok` names v2 file `file`, element by element; `elements` is scratch space. */
function samePath(view: BencodeView, pathTok: number, file: V2File, elements: number[]): boolean {
  elements.length = 0;
  const end = view.next(pathTok);
  for (let element = pathTok + 1; element < end; element = view.next(element)) elements.push(element);
  let j = elements.length - 1;
  if (j < 0 || !sameBytes(view, elements[j]!, file.key)) return false;
  for (let dir = file.dir; dir !== null; dir = dir.parent) {
    if (--j < 0 || !sameBytes(view, elements[j]!, dir.key)) return false;
  }
  return j === 0;
}

/** Root of a merkle tree over a piece layer, padded with the hash of an all-zero piece (BEP 52). */
function pieceLayerRoot(layer: Buffer, pieceLength: number): Buffer {
  let zero = Buffer.alloc(SHA256_LENGTH);
  for (let blocks = pieceLength / V2_BLOCK_SIZE; blocks > 1; blocks /= 2) {
    zero = digest('sha256', Buffer.concat([zero, zero]), 'buffer');
  }
  let level: Buffer[] = [];
  for (let i = 0; i < layer.length; i += SHA256_LENGTH) level.push(layer.subarray(i, i + SHA256_LENGTH));
  let width = 1;
  while (width < level.length) width *= 2;
  while (level.length < width) level.push(zero);
  const pair = Buffer.alloc(SHA256_LENGTH * 2);
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      level[i]!.copy(pair, 0);
      level[i + 1]!.copy(pair, SHA256_LENGTH);
      next.push(digest('sha256', pair, 'buffer'));
    }
    level = next;
  }
  return level[0]!;
}

/**
 * BEP 52 `piece layers` live outside `info`: they change neither hash nor swarm, so a bad one is
 * reported (a client could not verify pieces from this file alone), never fatal.
 */
function checkPieceLayers(ctx: Ctx, root: number, files: V2File[], names: TreeNames, pieceLength: number): void {
  const { view } = ctx;
  const needing = files.filter((f) => f.root !== -1 && f.size > pieceLength);
  if (needing.length === 0) return;
  const layersTok = view.get(root, 'piece layers');
  // Only a few problems are named; the rest are counted (a hostile tree can have millions).
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (text: () => string) => {
    if (problemCount++ < MAX_EXAMPLES_PER_WARNING) problems.push(text());
  };
  if (!view.isDict(layersTok)) {
    problem(() => (layersTok === -1 ? 'there are none' : "'piece layers' is not a dictionary"));
  } else {
    const index = new LayerIndex(view, layersTok);
    let budget = ctx.options.maxVerifiedLayerHashes ?? DEFAULT_MAX_VERIFIED_LAYER_HASHES;
    for (const file of needing) {
      const layer = index.find(file.root);
      const pieces = Math.ceil(file.size / pieceLength);
      if (layer === -1) problem(() => `"${treePath(view, names, file)}" has none`);
      else if (!view.isBytes(layer)) problem(() => `"${treePath(view, names, file)}": not a byte string`);
      else {
        const length = view.end(layer) - view.dataStart(layer);
        if (length !== pieces * SHA256_LENGTH) {
          problem(() => `"${treePath(view, names, file)}": ${length} bytes for ${pieces} pieces`);
        } else if (pieces <= budget) {
          budget -= pieces;
          if (!pieceLayerRoot(view.bytesOf(layer), pieceLength).equals(view.bytesOf(file.root))) {
            problem(() => `"${treePath(view, names, file)}": the hashes do not match its pieces root`);
          }
        }
      }
    }
  }
  if (problemCount > 0) {
    const shown = problems.join('; ');
    const more = problemCount > problems.length ? ` (and ${problemCount - problems.length} more)` : '';
    ctx.warnings.push({
      code: 'TORRENT_BAD_PIECE_LAYERS',
      message: `BEP 52 piece layers are missing or wrong (${shown}${more}); the info-hash and swarm are unaffected, but a client must fetch them from peers`,
    });
  }
}

function readTrackers(ctx: Ctx, root: number): string[][] {
  const { view } = ctx;
  const max = ctx.options.maxTrackers ?? DEFAULT_MAX_TRACKERS;
  const urls = new UrlTiers(max);
  // Past the limit a URL is only counted: its text is not worth a note about its encoding.
  const add = (tok: number) => urls.add(urls.full ? quietText(view, tok) : textOf(ctx, tok, 'trackers'));
  let ignored = 0;
  const listTok = view.get(root, 'announce-list');
  if (view.isList(listTok)) {
    for (const tierTok of view.listItems(listTok)) {
      if (view.isBytes(tierTok)) {
        // A flat list of URLs instead of a list of tiers: read as one URL per tier.
        add(tierTok);
        urls.endTier();
        ignored++;
      } else if (view.isList(tierTok)) {
        for (const urlTok of view.listItems(tierTok)) {
          if (view.isBytes(urlTok)) add(urlTok);
          else ignored++;
        }
        urls.endTier();
      } else {
        ignored++;
      }
    }
  } else if (listTok !== -1) {
    ignored++;
  }
  if (ignored > 0) {
    ctx.warnings.push({
      code: 'TORRENT_IGNORED_FIELD',
      message: `'announce-list' is malformed (BEP 12 wants a list of lists of URLs): ${ignored} entr${ignored === 1 ? 'y was' : 'ies were'} read leniently or ignored`,
    });
  }
  // BEP 12: `announce` only counts when there is no (usable) announce-list.
  if (urls.tiers.length === 0 && urls.dropped === 0) {
    const announce = view.get(root, 'announce');
    if (view.isBytes(announce)) add(announce);
    urls.endTier();
  }
  if (urls.dropped > 0) ctx.warnings.push(tooManyTrackersWarning(max, urls.dropped));
  return urls.tiers;
}

function readWebSeeds(ctx: Ctx, root: number): string[] {
  const { view } = ctx;
  const tok = view.get(root, 'url-list');
  if (tok === -1) return [];
  const max = ctx.options.maxWebSeeds ?? DEFAULT_MAX_WEB_SEEDS;
  const urls = new UrlTiers(max);
  const add = (item: number) => urls.add(urls.full ? quietText(view, item) : textOf(ctx, item, 'web seeds'));
  let ignored = 0;
  if (view.isBytes(tok)) {
    add(tok);
  } else if (view.isList(tok)) {
    for (const item of view.listItems(tok)) {
      if (view.isBytes(item)) add(item);
      else ignored++;
    }
  } else {
    ignored++;
  }
  urls.endTier();
  if (ignored > 0) {
    ctx.warnings.push({
      code: 'TORRENT_IGNORED_FIELD',
      message: `'url-list' has ${ignored} entr${ignored === 1 ? 'y' : 'ies'} that are not URLs (ignored)`,
    });
  }
  if (urls.dropped > 0) ctx.warnings.push(tooManyWebSeedsWarning(max, urls.dropped));
  return urls.tiers[0] ?? [];
}

function readCreationDate(ctx: Ctx, root: number): Date | null {
  const { view } = ctx;
  const tok = view.get(root, 'creation date');
  if (tok === -1) return null;
  const seconds = readInt(view, tok);
  // Tools write 0 for "no date" and libtorrent reads it so; 1970-01-01 is never a real date here.
  if (seconds === 0) return null;
  if (typeof seconds === 'number' && seconds > 0 && seconds <= MAX_CREATION_DATE_SECONDS) {
    return new Date(seconds * 1000);
  }
  if (typeof seconds === 'number' && seconds > MAX_CREATION_DATE_SECONDS && seconds / 1000 <= MAX_CREATION_DATE_SECONDS) {
    // Some JavaScript tools wrote Date.now(): milliseconds where BEP 3 says seconds.
    ctx.warnings.push({
      code: 'TORRENT_BAD_CREATION_DATE',
      message: `'creation date' ${seconds} is in milliseconds, not seconds: read as milliseconds`,
      offset: view.span(tok).start,
    });
    return new Date(seconds);
  }
  const shown = seconds === null ? typeName(view, tok) : String(seconds);
  ctx.warnings.push({
    code: 'TORRENT_BAD_CREATION_DATE',
    message: `'creation date' is ${shown}, not a date: shown as unknown`,
    offset: view.span(tok).start,
  });
  return null;
}

function readOptionalText(ctx: Ctx, dict: number, key: string, field: string): string | null {
  const tok = preferUtf8(ctx.view, dict, key);
  return tok === -1 ? null : textOf(ctx, tok, field);
}

function readName(ctx: Ctx, info: number): string {
  const { view } = ctx;
  const tok = preferUtf8(view, info, 'name');
  const at = view.span(info).start;
  if (tok === -1) {
    const raw = view.get(info, 'name');
    throw new TorrentError('TORRENT_BAD_NAME', raw === -1 ? 'the torrent has no name' : `the name is ${typeName(view, raw)}`, at);
  }
  const name = textOf(ctx, tok, 'name');
  if (name === '') throw new TorrentError('TORRENT_BAD_NAME', 'the name is empty', view.span(tok).start);
  if (name.includes('\0')) throw new TorrentError('TORRENT_BAD_NAME', 'the name contains a NUL byte', view.span(tok).start);
  if (isUnsafeElement(name)) {
    const traversal = isTraversal(name);
    if (ctx.options.unsafePaths === 'reject') {
      const why = traversal ? "contains '..' (path traversal)" : 'is not a safe folder name';
      throw new TorrentError('TORRENT_BAD_NAME', `the name "${name}" ${why}: refused (unsafePaths: reject)`, view.span(tok).start);
    }
    ctx.warnings.push({
      code: 'TORRENT_UNSAFE_NAME',
      message: traversal
        ? `the name "${name}" contains '..' (path traversal): shown as written, never used as a file path`
        : `the name "${name}" is not a safe folder name (clients rename it): shown as written, never used as a file path`,
      offset: view.span(tok).start,
    });
  }
  return name;
}

function readPieceLength(ctx: Ctx, info: number, metaVersion: number): number {
  const { view } = ctx;
  const tok = view.get(info, 'piece length');
  const at = tok === -1 ? view.span(info).start : view.span(tok).start;
  if (tok === -1) throw new TorrentError('TORRENT_BAD_PIECE_LENGTH', "'piece length' is missing", at);
  const value = readInt(view, tok);
  if (value === null) throw new TorrentError('TORRENT_BAD_PIECE_LENGTH', `'piece length' is ${typeName(view, tok)}`, at);
  const max = ctx.options.maxPieceLength ?? DEFAULT_MAX_PIECE_LENGTH;
  if (typeof value !== 'number' || value <= 0 || value > max) {
    throw new TorrentError('TORRENT_BAD_PIECE_LENGTH', `'piece length' ${value} is not between 1 and ${max}`, at);
  }
  if (metaVersion === 2 && (value < V2_BLOCK_SIZE || (value & (value - 1)) !== 0)) {
    throw new TorrentError('TORRENT_BAD_PIECE_LENGTH', `'piece length' ${value} is not a power of two of at least 16 KiB (BEP 52)`, at);
  }
  return value;
}

function readMetaVersion(ctx: Ctx, info: number): 1 | 2 {
  const { view } = ctx;
  const tok = view.get(info, 'meta version');
  if (tok === -1) return 1;
  const value = readInt(view, tok);
  const at = view.span(tok).start;
  if (value === null) throw new TorrentError('TORRENT_BAD_META_VERSION', `'meta version' is ${typeName(view, tok)}`, at);
  if (value === 1 || value === 2) return value;
  if (value > 2) throw new TorrentError('TORRENT_UNKNOWN_VERSION', `'meta version' ${value} is newer than BitTorrent v2`, at);
  throw new TorrentError('TORRENT_BAD_META_VERSION', `'meta version' ${value} is not a version`, at);
}

function checkV1Pieces(ctx: Ctx, info: number, totalSize: number, pieceLength: number): number {
  const { view } = ctx;
  const tok = view.get(info, 'pieces');
  const at = tok === -1 ? view.span(info).start : view.span(tok).start;
  if (!view.isBytes(tok)) {
    throw new TorrentError('TORRENT_BAD_PIECES', tok === -1 ? "'pieces' is missing" : `'pieces' is ${typeName(view, tok)}`, at);
  }
  const span = view.bytesSpan(tok);
  const length = span.end - span.start;
  if (length % SHA1_LENGTH !== 0) {
    throw new TorrentError('TORRENT_BAD_PIECES', `'pieces' is ${length} bytes, not a multiple of ${SHA1_LENGTH}`, at);
  }
  const expected = Math.ceil(totalSize / pieceLength);
  if (length / SHA1_LENGTH !== expected) {
    throw new TorrentError(
      'TORRENT_BAD_PIECES',
      `'pieces' holds ${length / SHA1_LENGTH} piece hashes, but ${totalSize} bytes in ${pieceLength}-byte pieces make ${expected}`,
      at,
    );
  }
  return expected;
}

function checkSizeLimits(ctx: Ctx, totalSize: number, pieceCount: number, at: number): void {
  if (totalSize === 0) throw new TorrentError('TORRENT_ZERO_SIZE', 'the torrent has no content: all its files are empty', at);
  const max = ctx.options.maxPieceCount ?? DEFAULT_MAX_PIECE_COUNT;
  if (pieceCount > max) throw new TorrentError('TORRENT_TOO_MANY_PIECES', `${pieceCount} pieces; at most ${max} are accepted`, at);
}

function pathWarning(text: string, { count, examples }: UnsafePaths): Warning {
  const more = count > examples.length ? ` and ${count - examples.length} more` : '';
  return { code: 'TORRENT_UNSAFE_PATH', message: `${text}: ${examples.map((p) => `"${p}"`).join(', ')}${more}` };
}

const listFields = (fields: Map<string, number>) => [...fields].map(([field, n]) => (n > 1 ? `${field} (${n})` : field)).join(', ');

function flushPathWarnings(ctx: Ctx): void {
  if (ctx.traversal.count > 0) ctx.warnings.push(pathWarning(TRAVERSAL_TEXT, ctx.traversal));
  if (ctx.unsafe.count > 0) ctx.warnings.push(pathWarning(UNSAFE_TEXT, ctx.unsafe));
  const legacy = ctx.legacy;
  if (ctx.legacyFields.size > 0 && legacy?.decoder) {
    ctx.warnings.push({
      code: 'TORRENT_TEXT_ENCODING',
      message: `text that is not UTF-8 was decoded as ${legacy.decoder.encoding}, the torrent's 'encoding' ("${legacy.label}"): ${listFields(ctx.legacyFields)}`,
    });
  }
  if (ctx.latin1Fields.size > 0) {
    const why =
      legacy === undefined || legacy === null
        ? ''
        : legacy.decoder === null
          ? ` (the torrent's 'encoding' "${legacy.label}" is not one this server can decode)`
          : ` (it is not valid ${legacy.decoder.encoding} either, despite the torrent's 'encoding')`;
    ctx.warnings.push({
      code: 'TORRENT_TEXT_ENCODING',
      message: `text that is not UTF-8 is shown byte by byte (latin1)${why}: ${listFields(ctx.latin1Fields)}`,
    });
  }
}

/** Parse the bytes of a `.torrent` file. Throws `TorrentError` (a `TrackerscopeError`) when invalid. */
export function parseTorrent(bytes: Uint8Array, options: ParseTorrentOptions = {}): Torrent {
  // The token view never leaves this call, so its table can be reused from call to call.
  return withTokenTable(() => parseTorrentView(bytes, options));
}

function parseTorrentView(bytes: Uint8Array, options: ParseTorrentOptions): Torrent {
  const warnings: Warning[] = [];
  const view = decodeTorrentView(bytes, options, warnings);
  const ctx: Ctx = {
    view,
    options,
    warnings,
    latin1Fields: new Map(),
    legacyFields: new Map(),
    legacy: undefined,
    traversal: { count: 0, examples: [] },
    unsafe: { count: 0, examples: [] },
  };

  const root = view.root;
  if (!view.isDict(root)) {
    throw new TorrentError('TORRENT_NOT_DICT', `the file holds ${typeName(view, root)}, not a torrent dictionary`, 0);
  }
  const info = view.get(root, 'info');
  if (info === -1) throw new TorrentError('TORRENT_NO_INFO', "the torrent has no 'info' dictionary", 0);
  if (!view.isDict(info)) {
    throw new TorrentError('TORRENT_NO_INFO', `'info' is ${typeName(view, info)}, not a dictionary`, view.span(info).start);
  }
  const infoSpan = view.span(info);
  const infoAt = infoSpan.start;

  warnings.push(...view.warnings);
  if (view.warnings.some((w) => w.offset !== undefined && w.offset > infoSpan.start && w.offset < infoSpan.end)) {
    warnings.push({
      code: 'TORRENT_NONCANONICAL_INFO',
      message:
        "the 'info' dictionary is not in canonical order; its info-hash is taken over the bytes as written (as clients do), so tools that re-encode it get a different hash",
      offset: infoAt,
    });
  }

  const metaVersion = readMetaVersion(ctx, info);
  const pieceLength = readPieceLength(ctx, info, metaVersion);
  const name = readName(ctx, info);

  let filesTok = view.get(info, 'files');
  const lengthTok = view.get(info, 'length');
  if (filesTok !== -1 && !view.isList(filesTok) && lengthTok !== -1) {
    // libtorrent reads only a list as a file list; anything else beside a `length` leaves a
    // single-file torrent, which is what clients download.
    warnings.push({
      code: 'TORRENT_IGNORED_FIELD',
      message: `'files' is ${typeName(view, filesTok)}, not a list: ignored, and the torrent read as a single file from 'length' (as libtorrent does)`,
      offset: view.span(filesTok).start,
    });
    filesTok = -1;
  }
  const treeTok = view.get(info, 'file tree');
  const hasV1 = filesTok !== -1 || lengthTok !== -1;
  if (metaVersion === 1 && treeTok !== -1) {
    throw new TorrentError('TORRENT_BAD_META_VERSION', "the torrent has a v2 'file tree' but no 'meta version' 2", view.span(treeTok).start);
  }
  if (metaVersion === 2 && treeTok === -1) {
    throw new TorrentError('TORRENT_BAD_FILE_TREE', "a v2 torrent ('meta version' 2) needs a 'file tree'", infoAt);
  }
  if (!hasV1 && metaVersion === 1) {
    throw new TorrentError('TORRENT_NO_FILES', "the torrent has neither 'length' nor 'files'", infoAt);
  }

  const hybrid = metaVersion === 2 && hasV1;
  let v1: V1Files | null = null;
  if (hasV1) {
    v1 = filesTok !== -1 ? readFileList(ctx, filesTok, name, hybrid) : readSingleFile(ctx, info, name, hybrid);
  }
  let v2: V2File[] | null = null;
  let v2Names: TreeNames = { name, single: false };
  if (metaVersion === 2) {
    // BEP 52 single-file torrent: the tree's only entry is the file itself, named by its key.
    const single = filesTok === -1 && view.isDict(treeTok) && view.size(treeTok) === 1 && isFileNode(view, treeTok + 2);
    v2Names = { name, single };
    v2 = readFileTree(ctx, treeTok, v2Names, !hasV1);
    if (v2.length === 0) throw new TorrentError('TORRENT_NO_FILES', 'the v2 file tree holds no files', view.span(treeTok).start);
  }

  let totalSize: number;
  let pieceCount: number;
  let files: TorrentFile[];
  let paddingFiles = 0;
  if (v1 !== null) {
    totalSize = v1.totalSize;
    files = v1.files;
    paddingFiles = v1.paddingFiles;
    checkSizeLimits(ctx, totalSize, Math.ceil(totalSize / pieceLength), infoAt);
    if (v2 !== null) checkHybrid(view, v1, v2, v2Names, pieceLength, view.span(treeTok).start);
    pieceCount = checkV1Pieces(ctx, info, totalSize, pieceLength);
  } else {
    // v2 only: every file starts on a piece boundary, so pieces are counted per file.
    totalSize = 0;
    pieceCount = 0;
    files = [];
    for (const file of v2!) {
      totalSize = addToTotal(ctx, totalSize, file.size, infoAt);
      pieceCount += Math.ceil(file.size / pieceLength);
      files.push({ path: file.path!, size: file.size });
    }
    checkSizeLimits(ctx, totalSize, pieceCount, infoAt);
  }
  if (v2 !== null) checkPieceLayers(ctx, root, v2, v2Names, pieceLength);

  const privateTok = view.get(info, 'private');
  let isPrivate = false;
  if (privateTok !== -1) {
    const flag = readInt(view, privateTok);
    if (flag === null) {
      warnings.push({
        code: 'TORRENT_IGNORED_FIELD',
        message: `'private' is ${typeName(view, privateTok)}, not 0 or 1: the torrent is treated as public`,
        offset: view.span(privateTok).start,
      });
    } else {
      // BEP 27 says 1; clients (libtorrent) treat any non-zero value as private.
      isPrivate = flag !== 0 && flag !== 0n;
    }
  }

  const infoBytes = view.bytes.subarray(infoSpan.start, infoSpan.end);
  const infoHashV1 = hasV1 ? createHash('sha1').update(infoBytes).digest('hex') : null;
  const infoHashV2 = metaVersion === 2 ? createHash('sha256').update(infoBytes).digest('hex') : null;

  const trackers = readTrackers(ctx, root);
  const webSeeds = readWebSeeds(ctx, root);
  const comment = readOptionalText(ctx, root, 'comment', 'comment');
  const createdBy = readOptionalText(ctx, root, 'created by', 'created by');
  const creationDate = readCreationDate(ctx, root);
  flushPathWarnings(ctx);
  if (trackers.length === 0) warnings.push({ ...NO_TRACKERS_WARNING });
  if (view.droppedWarnings > 0) {
    warnings.push({ code: 'TORRENT_IGNORED_FIELD', message: `${view.droppedWarnings} further decoder warnings were not kept` });
  }

  return {
    source: 'file',
    hasMetadata: true,
    name,
    infoHashV1,
    infoHashV2,
    version: hybrid ? 'hybrid' : metaVersion === 2 ? 'v2' : 'v1',
    totalSize,
    pieceLength,
    pieceCount,
    files,
    paddingFiles,
    private: isPrivate,
    comment,
    createdBy,
    creationDate,
    webSeeds,
    trackers,
    warnings,
  };
}
