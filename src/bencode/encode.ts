import { type BDict, BencodeError, type BValue } from './types.js';

/**
 * What `encode` accepts: decoded values, plus JS strings (written as UTF-8) and plain objects
 * (keys written as UTF-8) for building documents by hand. `Map` keys are raw bytes as latin1
 * strings, exactly as `decode` produces them, so `decode(encode(x))` round-trips.
 */
export type Encodable = BValue | string | EncodableList | EncodableObject | Map<string, Encodable>;
export interface EncodableList extends Array<Encodable> {}
export interface EncodableObject {
  [key: string]: Encodable | undefined;
}

const TEXT_ENCODER = new TextEncoder();

/** Canonical bencode (BEP 3): dictionary keys sorted by their raw bytes, integers as written. */
export function encode(value: Encodable): Buffer {
  const chunks: Uint8Array[] = [];
  write(value, chunks);
  return Buffer.concat(chunks);
}

function ascii(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

function writeBytes(bytes: Uint8Array, chunks: Uint8Array[]): void {
  chunks.push(ascii(`${bytes.length}:`), bytes);
}

function write(value: Encodable, chunks: Uint8Array[]): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new BencodeError('BENCODE_NOT_ENCODABLE', `cannot encode ${value}: not a safe integer`);
    }
    chunks.push(ascii(`i${value}e`));
  } else if (typeof value === 'bigint') {
    chunks.push(ascii(`i${value}e`));
  } else if (typeof value === 'string') {
    writeBytes(TEXT_ENCODER.encode(value), chunks);
  } else if (value instanceof Uint8Array) {
    writeBytes(value, chunks);
  } else if (Array.isArray(value)) {
    chunks.push(ascii('l'));
    for (const item of value) write(item, chunks);
    chunks.push(ascii('e'));
  } else if (value instanceof Map) {
    writeDict(
      [...(value as BDict | Map<string, Encodable>).entries()].map(([k, v]) => [Buffer.from(k, 'latin1'), v]),
      chunks,
    );
  } else if (typeof value === 'object' && value !== null) {
    const entries: [Buffer, Encodable][] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) entries.push([Buffer.from(k, 'utf8'), v]);
    }
    writeDict(entries, chunks);
  } else {
    throw new BencodeError('BENCODE_NOT_ENCODABLE', `cannot encode a value of type ${typeof value}`);
  }
}

function writeDict(entries: [Buffer, Encodable][], chunks: Uint8Array[]): void {
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  chunks.push(ascii('d'));
  for (const [key, v] of entries) {
    writeBytes(key, chunks);
    write(v, chunks);
  }
  chunks.push(ascii('e'));
}
