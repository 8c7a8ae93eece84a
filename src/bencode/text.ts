const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export interface DecodedText {
  text: string;
  /** `latin1` when the bytes were not valid UTF-8: every byte kept as one character. */
  encoding: 'utf-8' | 'latin1';
}

/** Bytes to text: UTF-8 when valid, else a lossless latin1 reading (each byte one character). */
export function decodeText(bytes: Uint8Array): DecodedText {
  try {
    return { text: UTF8.decode(bytes), encoding: 'utf-8' };
  } catch {
    return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'), encoding: 'latin1' };
  }
}

/** Bytes to text (see `decodeText`). */
export function toText(bytes: Uint8Array): string {
  return decodeText(bytes).text;
}
