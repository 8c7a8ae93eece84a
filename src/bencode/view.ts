import { isAscii, isUtf8 } from 'node:buffer';
import type { Warning } from '../errors.js';
import { BencodeError, type Span } from './types.js';

/**
 * The decoder proper, in the manner of libtorrent's `bdecode`: one pass over the bytes validates
 * the whole document (BEP 3 grammar, depth and token limits, key order) and records each value as a
 * few integers in a flat token table — no object per value. Readers then walk the table by token
 * index (`BencodeView`), touching only what they need; `decodeDocument` builds plain values from
 * it. Nesting costs table slots, never call stack.
 */

/** libtorrent's default `max_decode_depth`: deeper nesting is refused, never recursed into. */
export const DEFAULT_MAX_DEPTH = 100;
/** libtorrent's default `max_decode_tokens` (`load_torrent_limits`): bounds work and memory. */
export const DEFAULT_MAX_TOKENS = 3_000_000;
/** An integer with more digits than this is refused rather than parsed into a huge bigint. */
export const MAX_INTEGER_DIGITS = 64;
/** Warnings beyond this many are counted, not kept, so a hostile file cannot fill memory. */
export const MAX_WARNINGS = 32;
/** A length prefix this long cannot fit any input (> 2^53): refused before the arithmetic. */
const MAX_LENGTH_DIGITS = 15;
/** Bounds on the caller's own limits: the depth arrays are allocated up front; offsets are int32. */
const MAX_DEPTH_LIMIT = 100_000;
const MAX_TOKENS_LIMIT = 100_000_000;
const MAX_INPUT_BYTES = 0x7fff_ffff;
/** First guess of the token table's size: torrents average well over this many bytes a token. */
const INITIAL_BYTES_PER_TOKEN = 16;
/** …but never more than this up front: a piece-heavy file is megabytes in a handful of tokens. */
const INITIAL_TOKENS_MAX = 65_536;

const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_I = 0x69;
const CH_L = 0x6c;

export type BType = 'int' | 'bytes' | 'list' | 'dict';
const TYPES: readonly BType[] = ['int', 'bytes', 'list', 'dict'];
const T_INT = 0;
const T_BYTES = 1;
const T_LIST = 2;
const T_DICT = 3;

// Token table layout: STRIDE int32 slots per token.
const STRIDE = 4;
/** Type (T_*). */
const F_TYPE = 0;
/** Byte offset where the value starts (its `i`, `l`, `d` or first length digit). */
const F_START = 1;
/** Byte offset just past the value. */
const F_END = 2;
/** Strings: where the bytes begin (after `:`). Containers: index of the token after the last child. */
const F_AUX = 3;

export interface DecodeOptions {
  /** Deepest nesting of lists/dictionaries accepted (default 100). */
  maxDepth?: number;
  /** Most values (integers, strings, lists, dictionaries, keys) accepted (default 3 000 000). */
  maxTokens?: number;
  /**
   * BEP 3 requires dictionary keys sorted by raw bytes and unique. `strict` refuses a document that
   * breaks this; `lenient` (default) accepts it with a warning, as real clients do. Readers keep
   * the first value of a duplicated key, as libtorrent's lookups do.
   */
  keyOrder?: 'strict' | 'lenient';
}

export class BencodeView {
  /** @internal */
  constructor(
    /** The decoded input. */
    readonly bytes: Buffer,
    private readonly table: Int32Array,
    /** Number of tokens (values, keys included). */
    readonly tokenCount: number,
    readonly warnings: Warning[],
    readonly droppedWarnings: number,
  ) {}

  /** Token index of the document's top value. */
  readonly root = 0;

  /** Byte offset where byte string `i`'s bytes begin. */
  dataStart(i: number): number {
    return this.table[i * STRIDE + F_AUX]!;
  }

  /** Byte offset just past value `i`. */
  end(i: number): number {
    return this.table[i * STRIDE + F_END]!;
  }

  /**
   * Byte string `i` as text: UTF-8 when valid, else a lossless latin1 reading (see `decodeText`).
   * Use a `TextScope` to read many strings of one container quickly.
   */
  text(i: number): string {
    return textOfRange(this.bytes, this.dataStart(i), this.end(i));
  }

  /** Whether byte string `i` is valid UTF-8 (else `text` gave its latin1 reading). */
  isUtf8(i: number): boolean {
    return isUtf8(this.bytes.subarray(this.dataStart(i), this.end(i)));
  }

  /** A fast text reader for the byte strings inside container `i` (e.g. a file list). */
  textScope(i: number): TextScope {
    return new TextScope(this, i);
  }

  type(i: number): BType {
    return TYPES[this.table[i * STRIDE + F_TYPE]!]!;
  }

  isDict(i: number): boolean {
    return i >= 0 && this.table[i * STRIDE + F_TYPE] === T_DICT;
  }

  isList(i: number): boolean {
    return i >= 0 && this.table[i * STRIDE + F_TYPE] === T_LIST;
  }

  isBytes(i: number): boolean {
    return i >= 0 && this.table[i * STRIDE + F_TYPE] === T_BYTES;
  }

  isInt(i: number): boolean {
    return i >= 0 && this.table[i * STRIDE + F_TYPE] === T_INT;
  }

  /** Raw byte span of any value: the info-hash is taken over exactly these bytes. */
  span(i: number): Span {
    return { start: this.table[i * STRIDE + F_START]!, end: this.table[i * STRIDE + F_END]! };
  }

  /** The raw bytes of any value, as they are in the input. */
  raw(i: number): Buffer {
    return this.bytes.subarray(this.table[i * STRIDE + F_START], this.table[i * STRIDE + F_END]);
  }

  /** Index of the token after value `i` and everything inside it. */
  next(i: number): number {
    const t = this.table;
    const type = t[i * STRIDE + F_TYPE];
    return type === T_LIST || type === T_DICT ? t[i * STRIDE + F_AUX]! : i + 1;
  }

  /** Children of a list (values) or dictionary (key, value, key, value …) as token indexes. */
  *children(i: number): Generator<number> {
    const end = this.table[i * STRIDE + F_AUX]!;
    for (let c = i + 1; c < end; c = this.next(c)) yield c;
  }

  /** Items of a list as token indexes (empty for anything else). */
  listItems(i: number): number[] {
    if (!this.isList(i)) return [];
    const out: number[] = [];
    const end = this.table[i * STRIDE + F_AUX]!;
    for (let c = i + 1; c < end; c = this.next(c)) out.push(c);
    return out;
  }

  /** Number of items of a list, or entries of a dictionary. */
  size(i: number): number {
    let n = 0;
    const end = this.table[i * STRIDE + F_AUX]!;
    for (let c = i + 1; c < end; c = this.next(c)) n++;
    return this.isDict(i) ? n / 2 : n;
  }

  /** [key token, value token] pairs of a dictionary, in file order. */
  entries(i: number): [number, number][] {
    const out: [number, number][] = [];
    if (!this.isDict(i)) return out;
    const end = this.table[i * STRIDE + F_AUX]!;
    for (let k = i + 1; k < end; ) {
      const v = k + 1;
      out.push([k, v]);
      k = this.next(v);
    }
    return out;
  }

  /**
   * Token index of the value stored under `key` (its bytes as a latin1 string) in dictionary `i`,
   * or -1. The first occurrence wins when a lenient document repeats a key.
   */
  get(i: number, key: string): number {
    if (!this.isDict(i)) return -1;
    const t = this.table;
    const buf = this.bytes;
    const end = t[i * STRIDE + F_AUX]!;
    const keyLen = key.length;
    for (let k = i + 1; k < end; ) {
      const from = t[k * STRIDE + F_AUX]!;
      if (t[k * STRIDE + F_END]! - from === keyLen) {
        let same = true;
        for (let j = 0; j < keyLen; j++) {
          if (buf[from + j] !== key.charCodeAt(j)) {
            same = false;
            break;
          }
        }
        if (same) return k + 1;
      }
      k = this.next(k + 1);
    }
    return -1;
  }

  /** A dictionary key (or any byte string) as a lossless latin1 string. */
  latin1(i: number): string {
    const t = this.table;
    return this.bytes.latin1Slice(t[i * STRIDE + F_AUX]!, t[i * STRIDE + F_END]!);
  }

  /** The bytes of a byte string: a zero-copy view of the input. */
  bytesOf(i: number): Buffer {
    const t = this.table;
    return this.bytes.subarray(t[i * STRIDE + F_AUX], t[i * STRIDE + F_END]);
  }

  /** Where a byte string's bytes are: `[start, end)`. */
  bytesSpan(i: number): Span {
    const t = this.table;
    return { start: t[i * STRIDE + F_AUX]!, end: t[i * STRIDE + F_END]! };
  }

  /** An integer's value: `number` while exact, `bigint` beyond 2^53. */
  int(i: number): number | bigint {
    const t = this.table;
    const buf = this.bytes;
    let p = t[i * STRIDE + F_START]! + 1;
    const end = t[i * STRIDE + F_END]! - 1;
    const negative = buf[p] === CH_MINUS;
    if (negative) p++;
    if (end - p <= 15) {
      // 15 decimal digits always fit a double exactly.
      let n = 0;
      for (; p < end; p++) n = n * 10 + (buf[p]! - CH_0);
      return negative ? -n : n;
    }
    const big = BigInt(buf.latin1Slice(t[i * STRIDE + F_START]! + 1, end));
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
}

function textOfRange(buf: Buffer, start: number, end: number): string {
  const bytes = buf.subarray(start, end);
  return isUtf8(bytes) ? buf.utf8Slice(start, end) : buf.latin1Slice(start, end);
}

/**
 * Reads the byte strings inside one container as text. When the container's bytes are all
 * ASCII — the common case for file lists — the whole range is decoded once and every string is a
 * slice of it, instead of one native decode per path element.
 */
export class TextScope {
  private readonly asciiText: string | null;
  private readonly base: number;
  /** How many strings read so far were not valid UTF-8 (and were read as latin1). */
  latin1Fallbacks = 0;

  constructor(
    private readonly view: BencodeView,
    container: number,
  ) {
    const { start, end } = view.span(container);
    this.base = start;
    this.asciiText = isAscii(view.bytes.subarray(start, end)) ? view.bytes.latin1Slice(start, end) : null;
  }

  text(i: number): string {
    const start = this.view.dataStart(i);
    const end = this.view.end(i);
    if (this.asciiText !== null) return this.asciiText.slice(start - this.base, end - this.base);
    const bytes = this.view.bytes;
    if (isUtf8(bytes.subarray(start, end))) return bytes.utf8Slice(start, end);
    this.latin1Fallbacks++;
    return bytes.latin1Slice(start, end);
  }
}

declare global {
  interface Buffer {
    // Node's own fast paths behind Buffer#toString (present since Node 0.x, untyped in @types/node).
    latin1Slice(start?: number, end?: number): string;
    utf8Slice(start?: number, end?: number): string;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Validate a whole bencoded document and index it; throws `BencodeError` with a byte offset. */
export function decodeView(bytes: Uint8Array, options: DecodeOptions = {}): BencodeView {
  const buf = asBuffer(bytes);
  const len = buf.length;
  const maxDepth = limit('maxDepth', options.maxDepth ?? DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT);
  const maxTokens = limit('maxTokens', options.maxTokens ?? DEFAULT_MAX_TOKENS, MAX_TOKENS_LIMIT);
  const strictKeys = options.keyOrder === 'strict';
  const warnings: Warning[] = [];
  let droppedWarnings = 0;
  const warn = (code: string, message: string, offset: number) => {
    if (warnings.length < MAX_WARNINGS) warnings.push({ code, message, offset });
    else droppedWarnings++;
  };

  if (len === 0) throw new BencodeError('BENCODE_EMPTY', 'the input is empty', 0);
  if (len > MAX_INPUT_BYTES) throw new RangeError(`input of ${len} bytes is larger than ${MAX_INPUT_BYTES}`);

  // Every token takes at least two bytes of input, so len/2 + 1 slots always suffice. The table
  // starts from a guess for typical torrents and doubles up to that bound.
  const mostTokens = Math.min(Math.floor(len / 2) + 1, maxTokens);
  let capacity: number;
  let t: Int32Array;
  const lent = lendTable();
  if (lent !== null) {
    t = lent;
    capacity = Math.min(t.length / STRIDE, mostTokens);
  } else {
    capacity = Math.min(Math.floor(len / INITIAL_BYTES_PER_TOKEN) + 16, INITIAL_TOKENS_MAX, mostTokens);
    t = new Int32Array(capacity * STRIDE);
  }
  let n = 0;
  // Indexing a plain Uint8Array is a little faster than a Buffer subclass in this hot loop.
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, len);

  // Open containers, innermost last (see `OpenContainers`). Every slot is written when its level
  // is entered, so a stack kept from an earlier call needs no clearing.
  const open = takeOpenContainers(maxDepth);
  const { openToken, openIsDict, expectKey, prevKeyStart, prevKeyEnd, warnedOrder } = open;
  let depth = 0;
  let pos = 0;

  try {
    for (;;) {
      if (pos >= len) {
        throw new BencodeError('BENCODE_UNEXPECTED_END', 'unexpected end of data (unterminated value)', pos);
      }
      const c = u8[pos]!;
      const d = depth - 1;

      if (depth > 0 && c === CH_E) {
        if (openIsDict[d] === 1 && expectKey[d] === 0) {
          const key = buf.latin1Slice(prevKeyStart[d], prevKeyEnd[d]);
          throw new BencodeError('BENCODE_MISSING_VALUE', `dictionary key "${printable(key)}" has no value`, pos);
        }
        pos++;
        const o = openToken[d]! * STRIDE;
        t[o + F_END] = pos;
        t[o + F_AUX] = n;
        depth--;
      } else if (depth > 0 && openIsDict[d] === 1 && expectKey[d] === 1) {
        if (c < CH_0 || c > CH_9) {
          throw new BencodeError('BENCODE_KEY_NOT_STRING', 'dictionary key is not a byte string', pos);
        }
        const keyAt = pos;
        const end = readLength(u8, pos);
        const dataStart = lastDataStart;
        if (n >= capacity) {
          t = grownTable(t, mostTokens, maxTokens, keyAt);
          capacity = t.length / STRIDE;
        }
        const o = n++ * STRIDE;
        t[o] = T_BYTES;
        t[o + F_START] = keyAt;
        t[o + F_END] = end;
        t[o + F_AUX] = dataStart;
        pos = end;
        if (prevKeyEnd[d] !== 0) {
          const order = compareBytes(u8, prevKeyStart[d]!, prevKeyEnd[d]!, dataStart, end);
          if (order >= 0) {
            const dup = order === 0;
            const code = dup ? 'BENCODE_DUPLICATE_KEY' : 'BENCODE_UNSORTED_KEYS';
            const key = printable(buf.latin1Slice(dataStart, end));
            if (strictKeys) {
              throw new BencodeError(code, dup ? `duplicate dictionary key "${key}"` : `dictionary key "${key}" is out of order`, keyAt);
            }
            if (dup) warn(code, `duplicate dictionary key "${key}" (first value kept)`, keyAt);
            else if (warnedOrder[d] === 0) {
              warnedOrder[d] = 1;
              warn(code, `dictionary keys are not sorted ("${key}")`, keyAt);
            }
          }
        }
        prevKeyStart[d] = dataStart;
        prevKeyEnd[d] = end;
        expectKey[d] = 0;
        continue;
      } else if (c === CH_I) {
        const end = readIntegerEnd(u8, pos);
        if (n >= capacity) {
          t = grownTable(t, mostTokens, maxTokens, pos);
          capacity = t.length / STRIDE;
        }
        const o = n++ * STRIDE;
        t[o] = T_INT;
        t[o + F_START] = pos;
        t[o + F_END] = end;
        pos = end;
      } else if (c >= CH_0 && c <= CH_9) {
        const end = readLength(u8, pos);
        if (n >= capacity) {
          t = grownTable(t, mostTokens, maxTokens, pos);
          capacity = t.length / STRIDE;
        }
        const o = n++ * STRIDE;
        t[o] = T_BYTES;
        t[o + F_START] = pos;
        t[o + F_END] = end;
        t[o + F_AUX] = lastDataStart;
        pos = end;
      } else if (c === CH_L || c === CH_D) {
        if (depth >= maxDepth) {
          throw new BencodeError('BENCODE_DEPTH_EXCEEDED', `nesting deeper than ${maxDepth} levels`, pos);
        }
        if (n >= capacity) {
          t = grownTable(t, mostTokens, maxTokens, pos);
          capacity = t.length / STRIDE;
        }
        const o = n * STRIDE;
        t[o] = c === CH_L ? T_LIST : T_DICT;
        t[o + F_START] = pos;
        openToken[depth] = n++;
        openIsDict[depth] = c === CH_D ? 1 : 0;
        expectKey[depth] = 1;
        prevKeyStart[depth] = 0;
        prevKeyEnd[depth] = 0;
        warnedOrder[depth] = 0;
        depth++;
        pos++;
        continue;
      } else {
        throw new BencodeError('BENCODE_UNEXPECTED_BYTE', `unexpected byte ${describeByte(c)}`, pos);
      }

      // A value is complete.
      if (depth === 0) break;
      if (openIsDict[depth - 1] === 1) expectKey[depth - 1] = 1;
    }
  } finally {
    keepOpenContainers(open);
  }

  if (pos !== len) {
    throw new BencodeError('BENCODE_TRAILING_DATA', `${len - pos} unexpected byte(s) after the end of the data`, pos);
  }
  if (lent !== null) keepTable(t);
  return new BencodeView(buf, t, n, warnings, droppedWarnings);
}

/**
 * The stack of open containers, one slot per nesting level. For dictionaries: whether a key is
 * expected next, the last key's byte range (BEP 3 order check) and whether its order was already
 * reported. Sized by `maxDepth`, not by the document: six arrays of 100 cost more to allocate than
 * indexing a whole scrape reply, so one stack is kept between calls (see `takeOpenContainers`).
 */
interface OpenContainers {
  /** Levels this stack holds (≥ the `maxDepth` it is taken for). */
  readonly levels: number;
  readonly openToken: Int32Array;
  readonly openIsDict: Uint8Array;
  readonly expectKey: Uint8Array;
  readonly prevKeyStart: Int32Array;
  readonly prevKeyEnd: Int32Array;
  readonly warnedOrder: Uint8Array;
}

/**
 * Deepest stack kept between calls: 4096 levels is ~60 KiB. A caller asking for more (up to
 * MAX_DEPTH_LIMIT) gets a stack of its own for that call, never a megabyte held for good.
 */
export const KEPT_OPEN_CONTAINERS_MAX_LEVELS = 4096;

/** The stack kept between calls; null while a decode holds it (or before the first decode). */
let spareOpenContainers: OpenContainers | null = null;

function newOpenContainers(levels: number): OpenContainers {
  return {
    levels,
    openToken: new Int32Array(levels),
    openIsDict: new Uint8Array(levels),
    expectKey: new Uint8Array(levels),
    prevKeyStart: new Int32Array(levels),
    prevKeyEnd: new Int32Array(levels),
    warnedOrder: new Uint8Array(levels),
  };
}

/**
 * A stack of at least `maxDepth` levels. The kept one is handed out (and withdrawn) so that a
 * decode started while another holds it — nothing in the loop calls out today, but nothing should
 * break if that changes — gets a fresh stack instead of sharing one.
 */
function takeOpenContainers(maxDepth: number): OpenContainers {
  const spare = spareOpenContainers;
  if (spare !== null && spare.levels >= maxDepth) {
    spareOpenContainers = null;
    return spare;
  }
  return newOpenContainers(maxDepth);
}

/** Give a stack back for the next call; the deepest one within the cap is the one kept. */
function keepOpenContainers(open: OpenContainers): void {
  if (open.levels > KEPT_OPEN_CONTAINERS_MAX_LEVELS) return;
  if (spareOpenContainers === null || spareOpenContainers.levels <= open.levels) spareOpenContainers = open;
}

/** Levels of the stack kept between calls (0 when none is): for tests of the reuse. */
export function keptOpenContainerLevels(): number {
  return spareOpenContainers?.levels ?? 0;
}

/**
 * A token table lent to the first `decodeView` inside `withTokenTable`, kept between calls. Parsing
 * torrent after torrent would otherwise allocate (and garbage-collect) megabytes of table each time.
 */
let spareTable: Int32Array | null = null;
/** Inside `withTokenTable`, before its decode has taken the spare table. */
let lending = false;
/**
 * A view indexed into the spare table is alive: the `withTokenTable` that lent it has not returned.
 * A `withTokenTable` nested in its reader must not lend the same table again (the second decode
 * would overwrite the first view's tokens while the reader still walks them).
 */
let tableOnLoan = false;
/** Largest table kept between calls (in int32 slots): 16 MiB. */
const SPARE_TABLE_MAX_SLOTS = 4 * 1024 * 1024;
/** Smallest table worth lending: smaller documents are cheap to index anyway. */
const SPARE_TABLE_MIN_SLOTS = INITIAL_TOKENS_MAX * STRIDE;

function lendTable(): Int32Array | null {
  if (!lending) return null;
  lending = false;
  tableOnLoan = true;
  spareTable ??= new Int32Array(SPARE_TABLE_MIN_SLOTS);
  return spareTable;
}

function keepTable(t: Int32Array): void {
  if (t.length <= SPARE_TABLE_MAX_SLOTS) spareTable = t;
}

/**
 * Run a synchronous reader whose first `decodeView` may index into a table kept from earlier
 * calls. The view it gets is valid only until `read` returns: nothing of it may be kept (values
 * read from it — numbers, strings, byte views of the input — are independent of the table).
 * Nested calls are safe: while that view is alive, decodes inside `read` get tables of their own.
 */
export function withTokenTable<T>(read: () => T): T {
  if (lending || tableOnLoan) return read();
  lending = true;
  try {
    return read();
  } finally {
    lending = false;
    tableOnLoan = false;
  }
}

/** The table doubled (up to `mostTokens`), or the token-limit error when it may not grow. */
function grownTable(t: Int32Array, mostTokens: number, maxTokens: number, at: number): Int32Array {
  const capacity = t.length / STRIDE;
  if (capacity >= mostTokens) throw tokenLimit(maxTokens, at);
  const bigger = new Int32Array(Math.min(capacity * 2, mostTokens) * STRIDE);
  bigger.set(t);
  return bigger;
}

function tokenLimit(maxTokens: number, pos: number): BencodeError {
  return new BencodeError('BENCODE_TOKEN_LIMIT', `more than ${maxTokens} values`, pos);
}

function limit(name: string, value: number, most: number): number {
  if (!Number.isInteger(value) || value < 1 || value > most) {
    throw new RangeError(`${name} must be a whole number from 1 to ${most}, not ${value}`);
  }
  return value;
}

/** Byte-order comparison of two ranges of `buf` (keys are short: a JS loop beats a native call). */
function compareBytes(buf: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const common = Math.min(aLen, bLen);
  for (let j = 0; j < common; j++) {
    const diff = buf[aStart + j]! - buf[bStart + j]!;
    if (diff !== 0) return diff;
  }
  return aLen - bLen;
}

/** Where the bytes of the string last read by `readLength` begin (saves an object per string). */
let lastDataStart = 0;

/** Reads `<length>:` at `pos`; returns where the string's bytes end (`lastDataStart`: begin). */
function readLength(buf: Uint8Array, pos: number): number {
  // Hot path: digits then ':', no leading zero, within the data. Anything else is diagnosed,
  // precisely, by the cold `lengthError`.
  const len = buf.length;
  let n = 0;
  let p = pos;
  let d = 0;
  while (p < len) {
    d = buf[p]!;
    if (d < CH_0 || d > CH_9 || p - pos >= MAX_LENGTH_DIGITS) break;
    n = n * 10 + (d - CH_0);
    p++;
  }
  const end = p + 1 + n;
  if (p >= len || d !== CH_COLON || p === pos || (buf[pos] === CH_0 && p - pos > 1) || end > len) {
    throw lengthError(buf, pos);
  }
  lastDataStart = p + 1;
  return end;
}

function lengthError(buf: Uint8Array, pos: number): BencodeError {
  const len = buf.length;
  let n = 0;
  let p = pos;
  for (;;) {
    if (p >= len) return new BencodeError('BENCODE_UNEXPECTED_END', 'unexpected end of data in a string length', p);
    const d = buf[p]!;
    if (d === CH_COLON) break;
    if (d < CH_0 || d > CH_9) return new BencodeError('BENCODE_BAD_LENGTH', `string length contains ${describeByte(d)}`, p);
    if (p - pos >= MAX_LENGTH_DIGITS) {
      if (buf[pos] === CH_0) return new BencodeError('BENCODE_BAD_LENGTH', 'string length has a leading zero', pos);
      return new BencodeError('BENCODE_LENGTH_PAST_END', 'string length is larger than the data', pos);
    }
    n = n * 10 + (d - CH_0);
    p++;
  }
  if (p === pos) return new BencodeError('BENCODE_BAD_LENGTH', 'string length is missing', pos);
  if (buf[pos] === CH_0 && p - pos > 1) return new BencodeError('BENCODE_BAD_LENGTH', 'string length has a leading zero', pos);
  const end = p + 1 + n;
  return new BencodeError(
    'BENCODE_LENGTH_PAST_END',
    `string of ${n} bytes runs ${end - len} byte(s) past the end of the data`,
    pos,
  );
}

/** Validates `i<digits>e` at `pos` (BEP 3: no leading zeros, no `-0`); returns the offset after `e`. */
function readIntegerEnd(buf: Uint8Array, pos: number): number {
  // Hot path: an optional '-', digits, 'e', no leading zero or -0, not absurdly long. Anything
  // else is diagnosed, precisely, by the cold `integerError`.
  const len = buf.length;
  let p = pos + 1;
  if (buf[p] === CH_MINUS) p++;
  const digitsStart = p;
  let d = 0;
  while (p < len) {
    d = buf[p]!;
    if (d < CH_0 || d > CH_9) break;
    p++;
  }
  const digits = p - digitsStart;
  if (
    p >= len ||
    d !== CH_E ||
    digits === 0 ||
    digits > MAX_INTEGER_DIGITS ||
    (buf[digitsStart] === CH_0 && (digits > 1 || digitsStart !== pos + 1))
  ) {
    throw integerError(buf, pos);
  }
  return p + 1;
}

function integerError(buf: Uint8Array, pos: number): BencodeError {
  const len = buf.length;
  let p = pos + 1;
  const negative = buf[p] === CH_MINUS;
  if (negative) p++;
  const digitsStart = p;
  for (; p < len; p++) {
    const d = buf[p]!;
    if (d === CH_E) break;
    if (d < CH_0 || d > CH_9) return new BencodeError('BENCODE_BAD_INTEGER', `integer contains ${describeByte(d)}`, p);
  }
  if (p >= len) return new BencodeError('BENCODE_UNEXPECTED_END', 'unexpected end of data in an integer', p);
  const digits = p - digitsStart;
  if (digits === 0) return new BencodeError('BENCODE_BAD_INTEGER', 'integer has no digits', digitsStart);
  if (buf[digitsStart] === CH_0) {
    return new BencodeError(
      'BENCODE_BAD_INTEGER',
      negative ? 'integer is negative zero' : 'integer has a leading zero',
      digitsStart,
    );
  }
  return new BencodeError('BENCODE_BAD_INTEGER', `integer has more than ${MAX_INTEGER_DIGITS} digits`, digitsStart);
}

function describeByte(b: number): string {
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}' (${hex})` : hex;
}

/** A key as shown in a message: printable ASCII kept, other bytes as \xNN, long keys cut. */
export function printable(key: string): string {
  const MAX_SHOWN = 40;
  let out = '';
  for (let i = 0; i < key.length && i < MAX_SHOWN; i++) {
    const code = key.charCodeAt(i);
    out += code >= 0x20 && code < 0x7f && code !== 0x22 ? key[i] : `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return key.length > MAX_SHOWN ? `${out}…` : out;
}
