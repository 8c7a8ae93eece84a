import { isAscii, isUtf8 } from 'node:buffer';
import { createHash, hash as digest } from 'node:crypto';
import { BencodeError, type BencodeView, type DecodeOptions, decodeView, withTokenTable } from '../bencode/index.js';
import { TrackerscopeError, type Warning } from '../errors.js';
import type { Torrent, TorrentFile } from './types.js';

/**
 * `.torrent` bytes → `Torrent` (BEP 3, 12, 19, 27, 47, 52). The info-hashes are digests of the
 * `info` value's bytes exactly as they are in the file. Validation is strict where a wrong answer
 * would follow (hashes, sizes, piece counts, hybrid consistency) and lenient, with a warning, where
 * real clients are (unsorted keys, a trailing newline, paths that clients sanitise).
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
 * Most BEP 52 piece-layer hashes checked against their file's `pieces root` (a merkle tree costs
 * about two SHA-256 per hash). Bigger layers are reported as not verified, not hashed.
 */
export const DEFAULT_MAX_VERIFIED_LAYER_HASHES = 65_536;
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
  | 'TORRENT_BAD_PIECE_LAYERS';

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
   * `/` or `\`). Clients sanitise them and open the torrent; we only display paths, so the
   * default `warn` shows them as written with a warning. `reject` refuses the torrent.
   * A NUL byte, a non-string element or a missing path is always refused.
   */
  unsafePaths?: 'warn' | 'reject';
  maxPieceLength?: number;
  maxFileLength?: number;
  maxTotalSize?: number;
  maxPieceCount?: number;
  maxFileTreeDepth?: number;
  maxVerifiedLayerHashes?: number;
  /** Tuning: bytes of the file list decoded to text at a time (default DEFAULT_TEXT_WINDOW_BYTES). */
  textWindowBytes?: number;
}

/** The warning every torrent without trackers carries: it can only be found through DHT/PEX. */
export const NO_TRACKERS_WARNING: Warning = Object.freeze({
  code: 'TORRENT_NO_TRACKERS',
  message: 'no trackers: peers can only be found through DHT or PEX, so there is nothing to scrape',
});

/**
 * BEP 12 tiers as people mean them: URLs trimmed, empty ones dropped, a URL kept only where it
 * first appears (across tiers), empty tiers dropped, order kept.
 */
export function normaliseTiers(tiers: readonly (readonly string[])[]): string[][] {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const tier of tiers) {
    const kept: string[] = [];
    for (const raw of tier) {
      const url = raw.trim();
      if (url === '' || seen.has(url)) continue;
      seen.add(url);
      kept.push(url);
    }
    if (kept.length > 0) out.push(kept);
  }
  return out;
}

/** BEP 19 web seeds: trimmed, empty ones dropped, duplicates dropped, order kept. */
export function normaliseUrlList(urls: readonly string[]): string[] {
  return normaliseTiers([urls])[0] ?? [];
}

const NON_ASCII = /[\u0080-\u00ff]/;
const WHITESPACE_BYTES = new Set([0x09, 0x0a, 0x0d, 0x20]);

/** Per-parse state shared by the helpers. */
interface Ctx {
  view: BencodeView;
  options: ParseTorrentOptions;
  warnings: Warning[];
  /** Fields whose text was not UTF-8 and is shown byte-by-byte. */
  latin1Fields: Map<string, number>;
  unsafe: { count: number; examples: string[] };
}

/** The kind of a value, with its article, for messages: "a list", "an integer". */
function typeName(view: BencodeView, i: number): string {
  const type = view.type(i);
  return type === 'bytes' ? 'a byte string' : type === 'int' ? 'an integer' : type === 'dict' ? 'a dictionary' : 'a list';
}

/** Text of a byte string: UTF-8 when valid, else latin1 (lossless) noted under `field`. */
function textOf(ctx: Ctx, i: number, field: string): string {
  const latin1 = ctx.view.latin1(i);
  if (!NON_ASCII.test(latin1)) return latin1;
  const bytes = ctx.view.bytesOf(i);
  if (isUtf8(bytes)) return bytes.toString('utf8');
  ctx.latin1Fields.set(field, (ctx.latin1Fields.get(field) ?? 0) + 1);
  return latin1;
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

function noteUnsafe(ctx: Ctx, path: string, offset: number, code: 'TORRENT_BAD_PATH' | 'TORRENT_BAD_NAME'): void {
  if (ctx.options.unsafePaths === 'reject') {
    throw new TorrentError(code, `"${path}" would escape the download folder (path traversal)`, offset);
  }
  ctx.unsafe.count++;
  if (ctx.unsafe.examples.length < MAX_EXAMPLES_PER_WARNING) ctx.unsafe.examples.push(path);
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
    if (error.code === 'BENCODE_TRAILING_DATA' && at !== undefined && onlyWhitespaceFrom(bytes, at)) {
      // A newline appended by an editor or a download tool: clients ignore it, and so do we.
      warnings.push({
        code: 'TORRENT_TRAILING_DATA',
        message: `${bytes.length - at} whitespace byte(s) after the end of the torrent were ignored`,
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
  return new TorrentError('TORRENT_NOT_BENCODE', `not a torrent file: ${reason} (${error.code})`, error.offset, {
    cause: error,
  });
}

interface V1Files {
  files: TorrentFile[];
  totalSize: number;
  paddingFiles: number;
  /** Hybrids only: byte offset of each listed file in the v1 piece space. */
  offsets: number[] | null;
}

function badLength(what: string, length: number | bigint, max: number, offset: number): TorrentError {
  const why = length < 0 ? 'is negative' : `is larger than the ${max}-byte limit`;
  return new TorrentError('TORRENT_BAD_FILE_LENGTH', `${what}: length ${length} ${why}`, offset);
}

function tooLarge(max: number, offset: number): TorrentError {
  return new TorrentError('TORRENT_TOO_LARGE', `the files add up to more than ${max} bytes`, offset);
}

function checkFileLength(ctx: Ctx, entry: number, what: string): number {
  const { view } = ctx;
  const lengthTok = view.get(entry, 'length');
  const offset = view.span(entry).start;
  if (lengthTok === -1) throw new TorrentError('TORRENT_BAD_FILE_LENGTH', `${what} has no length`, offset);
  const length = readInt(view, lengthTok);
  if (length === null) {
    throw new TorrentError('TORRENT_BAD_FILE_LENGTH', `${what}: length is ${typeName(view, lengthTok)}`, offset);
  }
  const max = ctx.options.maxFileLength ?? DEFAULT_MAX_FILE_LENGTH;
  if (typeof length !== 'number' || length < 0 || length > max) throw badLength(what, length, max, view.span(lengthTok).start);
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
  const size = checkFileLength(ctx, info, 'the file');
  return {
    files: [{ path: name, size }],
    totalSize: addToTotal(ctx, 0, size, ctx.view.span(info).start),
    paddingFiles: 0,
    offsets: withOffsets ? [0] : null,
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
  /** Elements that were not valid UTF-8 (read as latin1). */
  latin1Fallbacks = 0;

  constructor(
    private readonly view: BencodeView,
    /** Where the container being read ends: windows stop there (the binary `pieces` may follow). */
    private readonly limit: number,
    private readonly windowBytes: number,
  ) {}

  read(i: number): string {
    const view = this.view;
    const from = view.dataStart(i);
    const to = view.end(i);
    if (from < this.start || to > this.end) this.slide(from, to);
    if (this.ascii) return this.text.slice(from - this.start, to - this.start);
    const bytes = view.bytes;
    if (isUtf8(bytes.subarray(from, to))) return bytes.utf8Slice(from, to);
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
  const scope = new WindowedText(view, view.end(filesTok), ctx.options.textWindowBytes ?? DEFAULT_TEXT_WINDOW_BYTES);
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
        const why = lengthTok === -1 ? ' has no length' : `: length is ${typeName(view, lengthTok)}`;
        throw new TorrentError('TORRENT_BAD_FILE_LENGTH', `file ${index}${why}`, view.span(entry).start);
      }
      const length = view.int(lengthTok);
      if (typeof length !== 'number' || length < 0 || length > maxFileLength) {
        throw badLength(`file ${index}`, length, maxFileLength, view.span(lengthTok).start);
      }
      size = length;
    }

    if (view.isList(utf8PathTok)) pathTok = utf8PathTok;
    let path = prefix;
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
        path = first ? path + text : `${path}/${text}`;
        if (mayHideSeparators && text.includes('\0')) {
          throw new TorrentError('TORRENT_BAD_PATH', `file ${index}: a path element contains a NUL byte`, view.span(element).start);
        }
        if ((mayHideSeparators || text.length <= 2) && isUnsafeElement(text)) {
          noteUnsafe(ctx, path, view.span(element).start, 'TORRENT_BAD_PATH');
        }
        // BEP 47 pad files live under `.pad/`; BitComet's older ones are named `_____padding_file_…`.
        if ((first && text === '.pad') || (text.charCodeAt(0) === CH_UNDERSCORE && text.startsWith(BITCOMET_PAD_PREFIX))) {
          padding = true;
        }
      }
    }
    if (padding) {
      paddingFiles++;
    } else {
      offsets?.push(total);
      files.push({ path, size });
    }
    total += size;
    if (total > maxTotal) throw tooLarge(maxTotal, view.span(entry).start);
  }
  if (scope.latin1Fallbacks > 0) ctx.latin1Fields.set('file paths', (ctx.latin1Fields.get('file paths') ?? 0) + scope.latin1Fallbacks);
  return { files, totalSize: total, paddingFiles, offsets };
}

interface V2File {
  path: string;
  size: number;
  /** `pieces root` token (-1 for empty files and symlinks). */
  root: number;
}

/** BEP 52 `file tree`: nested dictionaries, a file being `{ "": { length, pieces root } }`. */
function readFileTree(ctx: Ctx, treeTok: number, name: string, hasFileList: boolean): V2File[] {
  const { view } = ctx;
  if (!view.isDict(treeTok)) {
    throw new TorrentError('TORRENT_BAD_FILE_TREE', `'file tree' is ${typeName(view, treeTok)}`, view.span(treeTok).start);
  }
  const out: V2File[] = [];
  const maxDepth = ctx.options.maxFileTreeDepth ?? DEFAULT_MAX_FILE_TREE_DEPTH;
  const topEntries = view.entries(treeTok);
  // BEP 52 single-file torrent: the tree's only entry is the file itself, named by its key.
  const single = !hasFileList && topEntries.length === 1 && isFileNode(view, topEntries[0]![1]);

  const walk = (node: number, dir: string, depth: number) => {
    if (depth > maxDepth) {
      throw new TorrentError('TORRENT_BAD_FILE_TREE', `the file tree is deeper than ${maxDepth} directories`, view.span(node).start);
    }
    for (const [keyTok, child] of depth === 0 ? topEntries : view.entries(node)) {
      const at = view.span(keyTok).start;
      const element = textOf(ctx, keyTok, 'file paths');
      if (element === '') {
        throw new TorrentError('TORRENT_BAD_FILE_TREE', 'the file tree has an empty name where a file or directory is expected', at);
      }
      if (element.includes('\0')) throw new TorrentError('TORRENT_BAD_PATH', 'a file tree name contains a NUL byte', at);
      if (!view.isDict(child)) {
        throw new TorrentError('TORRENT_BAD_FILE_TREE', `file tree entry "${element}" is ${typeName(view, child)}`, at);
      }
      const path = single ? element : `${dir}/${element}`;
      if (isUnsafeElement(element)) noteUnsafe(ctx, path, at, 'TORRENT_BAD_PATH');
      if (view.get(child, '') === -1) {
        walk(child, path, depth + 1);
        continue;
      }
      if (view.size(child) !== 1) {
        throw new TorrentError('TORRENT_BAD_FILE_TREE', `"${path}" is both a file and a directory`, at);
      }
      out.push(readTreeFile(ctx, view.get(child, ''), path));
    }
  };
  walk(treeTok, name, 0);
  return out;
}

function isFileNode(view: BencodeView, node: number): boolean {
  return view.isDict(node) && view.get(node, '') !== -1 && view.size(node) === 1;
}

function readTreeFile(ctx: Ctx, attrs: number, path: string): V2File {
  const { view } = ctx;
  const at = view.span(attrs).start;
  if (!view.isDict(attrs)) throw new TorrentError('TORRENT_BAD_FILE_TREE', `"${path}": file properties are not a dictionary`, at);
  const attr = attrOf(view, attrs);
  if (attr.includes('p')) {
    // BEP 52 aligns files by itself; a pad file inside a v2 tree is malformed.
    throw new TorrentError('TORRENT_BAD_FILE_TREE', `"${path}" is marked as a padding file, which a v2 file tree cannot contain`, at);
  }
  if (attr.includes('l')) {
    checkSymlinkPath(ctx, attrs, `"${path}"`);
    return { path, size: 0, root: -1 };
  }
  const size = checkFileLength(ctx, attrs, `"${path}"`);
  if (size === 0) return { path, size, root: -1 };
  const root = view.get(attrs, 'pieces root');
  if (!view.isBytes(root) || view.bytesSpan(root).end - view.bytesSpan(root).start !== SHA256_LENGTH) {
    throw new TorrentError('TORRENT_BAD_PIECES_ROOT', `"${path}" has no 32-byte pieces root`, at);
  }
  if (view.bytesOf(root).every((b) => b === 0)) {
    throw new TorrentError('TORRENT_BAD_PIECES_ROOT', `"${path}" has an all-zero pieces root`, view.span(root).start);
  }
  return { path, size, root };
}

/**
 * A hybrid torrent is one content in two swarms: its v1 file list (padding aside) must name the
 * same files, with the same sizes, each starting on a piece boundary as v2 requires.
 */
function checkHybrid(v1: V1Files, v2: V2File[], pieceLength: number, offset: number): void {
  const mismatch = (why: string) =>
    new TorrentError('TORRENT_HYBRID_MISMATCH', `the v1 and v2 file lists of this hybrid torrent differ: ${why}`, offset);
  if (v1.files.length !== v2.length) throw mismatch(`${v1.files.length} v1 files, ${v2.length} v2 files`);
  for (let i = 0; i < v2.length; i++) {
    const a = v1.files[i]!;
    const b = v2[i]!;
    if (a.path !== b.path) throw mismatch(`file ${i + 1} is "${a.path}" in v1 and "${b.path}" in v2`);
    if (a.size !== b.size) throw mismatch(`"${a.path}" has ${a.size} bytes in v1 and ${b.size} in v2`);
    if (a.size > 0 && v1.offsets![i]! % pieceLength !== 0) throw mismatch(`"${a.path}" does not start on a piece boundary`);
  }
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
function checkPieceLayers(ctx: Ctx, root: number, files: V2File[], pieceLength: number): void {
  const { view } = ctx;
  const needing = files.filter((f) => f.root !== -1 && f.size > pieceLength);
  if (needing.length === 0) return;
  const layersTok = view.get(root, 'piece layers');
  const problems: string[] = [];
  let unverified = 0;
  if (!view.isDict(layersTok)) {
    problems.push(layersTok === -1 ? 'there are none' : "'piece layers' is not a dictionary");
  } else {
    const byRoot = new Map<string, number>();
    for (const [k, v] of view.entries(layersTok)) if (!byRoot.has(view.latin1(k))) byRoot.set(view.latin1(k), v);
    let budget = ctx.options.maxVerifiedLayerHashes ?? DEFAULT_MAX_VERIFIED_LAYER_HASHES;
    for (const file of needing) {
      const layer = byRoot.get(view.latin1(file.root));
      const pieces = Math.ceil(file.size / pieceLength);
      if (layer === undefined) problems.push(`"${file.path}" has none`);
      else if (!view.isBytes(layer)) problems.push(`"${file.path}": not a byte string`);
      else {
        const bytes = view.bytesOf(layer);
        if (bytes.length !== pieces * SHA256_LENGTH) {
          problems.push(`"${file.path}": ${bytes.length} bytes for ${pieces} pieces`);
        } else if (pieces > budget) {
          unverified++;
        } else {
          budget -= pieces;
          if (!pieceLayerRoot(bytes, pieceLength).equals(view.bytesOf(file.root))) {
            problems.push(`"${file.path}": the hashes do not match its pieces root`);
          }
        }
      }
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_EXAMPLES_PER_WARNING).join('; ');
    const more = problems.length > MAX_EXAMPLES_PER_WARNING ? ` (and ${problems.length - MAX_EXAMPLES_PER_WARNING} more)` : '';
    ctx.warnings.push({
      code: 'TORRENT_BAD_PIECE_LAYERS',
      message: `BEP 52 piece layers are missing or wrong (${shown}${more}); the info-hash and swarm are unaffected, but a client must fetch them from peers`,
    });
  }
  if (unverified > 0) {
    ctx.warnings.push({
      code: 'TORRENT_BAD_PIECE_LAYERS',
      message: `piece layers of ${unverified} file(s) are too large to verify here and were not checked`,
    });
  }
}

function readTrackers(ctx: Ctx, root: number): string[][] {
  const { view } = ctx;
  const tiers: string[][] = [];
  let ignored = 0;
  const listTok = view.get(root, 'announce-list');
  if (view.isList(listTok)) {
    for (const tierTok of view.listItems(listTok)) {
      if (view.isBytes(tierTok)) {
        // A flat list of URLs instead of a list of tiers: read as one URL per tier.
        tiers.push([textOf(ctx, tierTok, 'trackers')]);
        ignored++;
      } else if (view.isList(tierTok)) {
        const tier: string[] = [];
        for (const urlTok of view.listItems(tierTok)) {
          if (view.isBytes(urlTok)) tier.push(textOf(ctx, urlTok, 'trackers'));
          else ignored++;
        }
        tiers.push(tier);
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
  let trackers = normaliseTiers(tiers);
  // BEP 12: `announce` only counts when there is no (usable) announce-list.
  if (trackers.length === 0) {
    const announce = view.get(root, 'announce');
    if (view.isBytes(announce)) trackers = normaliseTiers([[textOf(ctx, announce, 'trackers')]]);
  }
  return trackers;
}

function readWebSeeds(ctx: Ctx, root: number): string[] {
  const { view } = ctx;
  const tok = view.get(root, 'url-list');
  if (tok === -1) return [];
  if (view.isBytes(tok)) return normaliseUrlList([textOf(ctx, tok, 'web seeds')]);
  const urls: string[] = [];
  let ignored = 0;
  if (view.isList(tok)) {
    for (const item of view.listItems(tok)) {
      if (view.isBytes(item)) urls.push(textOf(ctx, item, 'web seeds'));
      else ignored++;
    }
  } else {
    ignored++;
  }
  if (ignored > 0) {
    ctx.warnings.push({
      code: 'TORRENT_IGNORED_FIELD',
      message: `'url-list' has ${ignored} entr${ignored === 1 ? 'y' : 'ies'} that are not URLs (ignored)`,
    });
  }
  return normaliseUrlList(urls);
}

function readCreationDate(ctx: Ctx, root: number): Date | null {
  const { view } = ctx;
  const tok = view.get(root, 'creation date');
  if (tok === -1) return null;
  const seconds = readInt(view, tok);
  if (typeof seconds === 'number' && seconds >= 0 && seconds <= MAX_CREATION_DATE_SECONDS) {
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
    if (ctx.options.unsafePaths === 'reject') {
      throw new TorrentError('TORRENT_BAD_NAME', `the name "${name}" would escape the download folder`, view.span(tok).start);
    }
    ctx.warnings.push({
      code: 'TORRENT_UNSAFE_NAME',
      message: `the name "${name}" is not a safe folder name (clients rename it); shown as written`,
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

function flushPathWarnings(ctx: Ctx): void {
  const { count, examples } = ctx.unsafe;
  if (count > 0) {
    const more = count > examples.length ? ` and ${count - examples.length} more` : '';
    ctx.warnings.push({
      code: 'TORRENT_UNSAFE_PATH',
      message: `file paths that would escape the download folder (clients sanitise them; shown as written): ${examples.map((p) => `"${p}"`).join(', ')}${more}`,
    });
  }
  if (ctx.latin1Fields.size > 0) {
    const fields = [...ctx.latin1Fields].map(([field, n]) => (n > 1 ? `${field} (${n})` : field)).join(', ');
    ctx.warnings.push({
      code: 'TORRENT_TEXT_ENCODING',
      message: `text that is not UTF-8 is shown byte by byte (latin1): ${fields}`,
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
  const ctx: Ctx = { view, options, warnings, latin1Fields: new Map(), unsafe: { count: 0, examples: [] } };

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

  const filesTok = view.get(info, 'files');
  const lengthTok = view.get(info, 'length');
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
  if (metaVersion === 2) {
    v2 = readFileTree(ctx, treeTok, name, filesTok !== -1);
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
    if (v2 !== null) checkHybrid(v1, v2, pieceLength, view.span(treeTok).start);
    pieceCount = checkV1Pieces(ctx, info, totalSize, pieceLength);
  } else {
    // v2 only: every file starts on a piece boundary, so pieces are counted per file.
    totalSize = 0;
    pieceCount = 0;
    files = [];
    for (const file of v2!) {
      totalSize = addToTotal(ctx, totalSize, file.size, infoAt);
      pieceCount += Math.ceil(file.size / pieceLength);
      files.push({ path: file.path, size: file.size });
    }
    checkSizeLimits(ctx, totalSize, pieceCount, infoAt);
  }
  if (v2 !== null) checkPieceLayers(ctx, root, v2, pieceLength);

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
