import type { Warning } from '../errors.js';
import { type BDict, BencodeError, type BList, type BValue, type Span } from './types.js';

/** libtorrent's default `max_decode_depth`: deeper nesting is refused, never recursed into. */
export const DEFAULT_MAX_DEPTH = 100;
/** libtorrent's default `max_decode_tokens` (`load_torrent_limits`): bounds work and memory. */
export const DEFAULT_MAX_TOKENS = 3_000_000;
/** An integer with more digits than this is refused rather than parsed into a huge bigint. */
export const MAX_INTEGER_DIGITS = 64;
/** A length prefix this long cannot fit any input we accept (> 2^53): refused early. */
const MAX_LENGTH_DIGITS = 15;
/** Warnings beyond this many are counted, not kept, so a hostile file cannot fill memory. */
export const MAX_WARNINGS = 32;

const CH_0 = 0x30;
const CH_9 = 0x39;
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_I = 0x69;
const CH_L = 0x6c;

export interface DecodeOptions {
  /** Deepest nesting of lists/dictionaries accepted (default 100). */
  maxDepth?: number;
  /** Most values (integers, strings, lists, dictionaries) accepted (default 3 000 000). */
  maxTokens?: number;
  /**
   * BEP 3 requires dictionary keys sorted by raw bytes and unique. `strict` refuses a document that
   * breaks this; `lenient` (default) accepts it with a warning, as real clients do, keeping the
   * first value of a duplicated key (as libtorrent's lookups do).
   */
  keyOrder?: 'strict' | 'lenient';
  /**
   * Record byte spans of lists and dictionaries nested at most this deep (0 = the top value only).
   * Default: all of them. A caller that only needs `info` passes 1 and saves the bookkeeping.
   */
  spanDepth?: number;
}

export interface DecodedDocument {
  value: BValue;
  warnings: Warning[];
  /** Warnings found beyond MAX_WARNINGS (not kept). */
  droppedWarnings: number;
  /** Raw byte span `[start, end)` of a list or dictionary of this document, if recorded. */
  spanOf(container: BList | BDict): Span | undefined;
}

interface Frame {
  container: BList | BDict;
  start: number;
  /** Dictionaries only: the key waiting for its value (null when a key is expected). */
  key: string | null;
  /** Dictionaries only: the largest key so far, for the BEP 3 order check. */
  maxKey: string | null;
  /** Dictionaries only: the pending value is for a duplicated key and is dropped. */
  skipValue: boolean;
  /** Dictionaries only: an order warning was already given for this dictionary. */
  warnedOrder: boolean;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decode a complete bencoded document; throws `BencodeError` (with byte offset) on any fault. */
export function decode(bytes: Uint8Array, options: DecodeOptions = {}): BValue {
  return decodeDocument(bytes, { spanDepth: -1, ...options }).value;
}

/**
 * Decode with everything a careful reader needs: the value, the warnings of lenient mode, and
 * the raw byte span of any container (the info-hash is computed over the original bytes of
 * `info`, never over a re-encoding). Iterative: nesting depth costs heap, never stack.
 */
export function decodeDocument(bytes: Uint8Array, options: DecodeOptions = {}): DecodedDocument {
  const buf = asBuffer(bytes);
  const len = buf.length;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  const strictKeys = options.keyOrder === 'strict';
  const spanDepth = options.spanDepth ?? Number.POSITIVE_INFINITY;
  const spans = new Map<BList | BDict, Span>();
  const warnings: Warning[] = [];
  let droppedWarnings = 0;
  const warn = (code: string, message: string, offset: number) => {
    if (warnings.length < MAX_WARNINGS) warnings.push({ code, message, offset });
    else droppedWarnings++;
  };

  if (len === 0) throw new BencodeError('BENCODE_EMPTY', 'the input is empty');

  const stack: Frame[] = [];
  let pos = 0;
  let tokens = 0;
  let value: BValue;

  for (;;) {
    if (pos >= len) {
      throw new BencodeError('BENCODE_UNEXPECTED_END', 'unexpected end of data (unterminated value)', pos);
    }
    const c = buf[pos]!;
    const top = stack.length > 0 ? stack[stack.length - 1]! : undefined;

    if (top !== undefined && c === CH_E) {
      if (top.key !== null) {
        throw new BencodeError('BENCODE_MISSING_VALUE', `dictionary key "${printable(top.key)}" has no value`, pos);
      }
      pos++;
      stack.pop();
      if (stack.length < spanDepth + 1) spans.set(top.container, { start: top.start, end: pos });
      value = top.container;
    } else if (top !== undefined && top.key === null && !Array.isArray(top.container)) {
      // A dictionary expects a key: a byte string, nothing else (BEP 3).
      if (c < CH_0 || c > CH_9) {
        throw new BencodeError('BENCODE_KEY_NOT_STRING', 'dictionary key is not a byte string', pos);
      }
      if (++tokens > maxTokens) throw tokenLimit(maxTokens, pos);
      const keyStart = pos;
      const end = readStringEnd(buf, pos);
      const key = buf.toString('latin1', end.start, end.end);
      pos = end.end;
      top.skipValue = false;
      if (top.maxKey === null || key > top.maxKey) {
        top.maxKey = key;
      } else if ((top.container as BDict).has(key) || key === top.maxKey) {
        if (strictKeys) {
          throw new BencodeError('BENCODE_DUPLICATE_KEY', `duplicate dictionary key "${printable(key)}"`, keyStart);
        }
        warn('BENCODE_DUPLICATE_KEY', `duplicate dictionary key "${printable(key)}" (first value kept)`, keyStart);
        top.skipValue = true;
      } else {
        if (strictKeys) {
          throw new BencodeError('BENCODE_UNSORTED_KEYS', `dictionary key "${printable(key)}" is out of order`, keyStart);
        }
        if (!top.warnedOrder) {
          top.warnedOrder = true;
          warn('BENCODE_UNSORTED_KEYS', `dictionary keys are not sorted ("${printable(key)}")`, keyStart);
        }
      }
      top.key = key;
      continue;
    } else {
      if (++tokens > maxTokens) throw tokenLimit(maxTokens, pos);
      if (c === CH_I) {
        const end = buf.indexOf(CH_E, pos + 1);
        value = readInteger(buf, pos, end === -1 ? len : end);
        pos = end + 1;
      } else if (c >= CH_0 && c <= CH_9) {
        const s = readStringEnd(buf, pos);
        value = buf.subarray(s.start, s.end);
        pos = s.end;
      } else if (c === CH_L || c === CH_D) {
        if (stack.length >= maxDepth) {
          throw new BencodeError('BENCODE_DEPTH_EXCEEDED', `nesting deeper than ${maxDepth} levels`, pos);
        }
        stack.push({
          container: c === CH_L ? [] : new Map(),
          start: pos,
          key: null,
          maxKey: null,
          skipValue: false,
          warnedOrder: false,
        });
        pos++;
        continue;
      } else {
        throw new BencodeError('BENCODE_UNEXPECTED_BYTE', `unexpected byte ${describeByte(c)}`, pos);
      }
    }

    // A complete value: hand it to its container, or finish.
    const parent = stack.length > 0 ? stack[stack.length - 1]! : undefined;
    if (parent === undefined) break;
    if (Array.isArray(parent.container)) {
      parent.container.push(value);
    } else {
      if (!parent.skipValue) parent.container.set(parent.key!, value);
      parent.key = null;
    }
  }

  if (pos !== len) {
    throw new BencodeError('BENCODE_TRAILING_DATA', `${len - pos} unexpected byte(s) after the end of the data`, pos);
  }
  return {
    value,
    warnings,
    droppedWarnings,
    spanOf: (container) => spans.get(container),
  };
}

function tokenLimit(maxTokens: number, pos: number): BencodeError {
  return new BencodeError('BENCODE_TOKEN_LIMIT', `more than ${maxTokens} values`, pos);
}

/** Reads `<length>:` at `pos`; returns where the string's bytes start and end. */
function readStringEnd(buf: Buffer, pos: number): Span {
  const len = buf.length;
  let n = 0;
  let p = pos;
  for (;;) {
    if (p >= len) throw new BencodeError('BENCODE_UNEXPECTED_END', 'unexpected end of data in a string length', p);
    const d = buf[p]!;
    if (d === CH_COLON) break;
    if (d < CH_0 || d > CH_9) {
      throw new BencodeError('BENCODE_BAD_LENGTH', `string length contains ${describeByte(d)}`, p);
    }
    if (p - pos >= MAX_LENGTH_DIGITS) {
      throw new BencodeError('BENCODE_LENGTH_PAST_END', 'string length is larger than the data', pos);
    }
    n = n * 10 + (d - CH_0);
    p++;
  }
  if (p === pos) throw new BencodeError('BENCODE_BAD_LENGTH', 'string length is missing', pos);
  if (buf[pos] === CH_0 && p - pos > 1) {
    throw new BencodeError('BENCODE_BAD_LENGTH', 'string length has a leading zero', pos);
  }
  const start = p + 1;
  const end = start + n;
  if (end > len) {
    throw new BencodeError(
      'BENCODE_LENGTH_PAST_END',
      `string of ${n} bytes runs ${end - len} byte(s) past the end of the data`,
      pos,
    );
  }
  return { start, end };
}

/** Reads `i<digits>e` at `pos`, where `end` is the index of the first `e` after it (or the length). */
function readInteger(buf: Buffer, pos: number, end: number): number | bigint {
  let p = pos + 1;
  const negative = buf[p] === CH_MINUS;
  if (negative) p++;
  const digitsStart = p;
  for (; p < end; p++) {
    const d = buf[p]!;
    if (d < CH_0 || d > CH_9) {
      throw new BencodeError('BENCODE_BAD_INTEGER', `integer contains ${describeByte(d)}`, p);
    }
  }
  if (end >= buf.length) throw new BencodeError('BENCODE_UNEXPECTED_END', 'unexpected end of data in an integer', end);
  const digits = end - digitsStart;
  if (digits === 0) throw new BencodeError('BENCODE_BAD_INTEGER', 'integer has no digits', digitsStart);
  if (buf[digitsStart] === CH_0 && (digits > 1 || negative)) {
    throw new BencodeError(
      'BENCODE_BAD_INTEGER',
      negative ? 'integer is negative zero' : 'integer has a leading zero',
      digitsStart,
    );
  }
  if (digits > MAX_INTEGER_DIGITS) {
    throw new BencodeError('BENCODE_BAD_INTEGER', `integer has more than ${MAX_INTEGER_DIGITS} digits`, digitsStart);
  }
  if (digits <= 15) {
    // 15 decimal digits always fit a double exactly.
    let n = 0;
    for (let i = digitsStart; i < end; i++) n = n * 10 + (buf[i]! - CH_0);
    return negative ? -n : n;
  }
  const big = BigInt(buf.toString('latin1', pos + 1, end));
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function describeByte(b: number): string {
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}' (${hex})` : hex;
}

/** A key as shown in a message: printable ASCII kept, other bytes as \xNN, long keys cut. */
function printable(key: string): string {
  const MAX_SHOWN = 40;
  let out = '';
  for (let i = 0; i < key.length && i < MAX_SHOWN; i++) {
    const code = key.charCodeAt(i);
    out += code >= 0x20 && code < 0x7f && code !== 0x22 ? key[i] : `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return key.length > MAX_SHOWN ? `${out}…` : out;
}
