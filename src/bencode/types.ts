import { TrackerscopeError } from '../errors.js';

/**
 * A decoded bencode value (BEP 3).
 * - integers: `number` while exact (|n| ≤ 2^53 − 1), `bigint` beyond, so nothing loses precision;
 * - byte strings: `Uint8Array` (zero-copy views of the input: text is decided by the reader);
 * - lists: arrays; dictionaries: `BDict`.
 */
export type BValue = number | bigint | Uint8Array | BList | BDict;
export type BList = BValue[];
/**
 * A dictionary. Keys are the key's raw bytes as a latin1 ("binary") JS string: lossless, ordered
 * like the bytes, and a `Map` so that a `__proto__` key is just a key.
 */
export type BDict = Map<string, BValue>;

/** Half-open byte range `[start, end)` of a value in the decoded input. */
export interface Span {
  start: number;
  end: number;
}

/** Stable codes of everything the decoder can refuse, libtorrent `bdecode_errors` style. */
export type BencodeErrorCode =
  | 'BENCODE_EMPTY'
  | 'BENCODE_UNEXPECTED_END'
  | 'BENCODE_UNEXPECTED_BYTE'
  | 'BENCODE_TRAILING_DATA'
  | 'BENCODE_BAD_INTEGER'
  | 'BENCODE_BAD_LENGTH'
  | 'BENCODE_LENGTH_PAST_END'
  | 'BENCODE_KEY_NOT_STRING'
  | 'BENCODE_MISSING_VALUE'
  | 'BENCODE_DEPTH_EXCEEDED'
  | 'BENCODE_TOKEN_LIMIT'
  | 'BENCODE_UNSORTED_KEYS'
  | 'BENCODE_DUPLICATE_KEY'
  | 'BENCODE_NOT_ENCODABLE';

export class BencodeError extends TrackerscopeError {
  declare readonly code: BencodeErrorCode;

  constructor(code: BencodeErrorCode, message: string, offset?: number) {
    super(code, message, offset);
  }
}

export function isDict(v: unknown): v is BDict {
  return v instanceof Map;
}

export function isList(v: unknown): v is BList {
  return Array.isArray(v);
}

export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

export function isInt(v: unknown): v is number | bigint {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}
