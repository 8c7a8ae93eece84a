import { describe, expect, it } from 'vitest';
import {
  type BDict,
  BencodeError,
  DEFAULT_MAX_DEPTH,
  decode,
  decodeDocument,
  decodeText,
  encode,
  toText,
} from '../../src/bencode/index.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

function failure(input: string | Uint8Array, opts = {}): { code: string; offset: number | undefined } {
  try {
    decode(typeof input === 'string' ? bytes(input) : input, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(BencodeError);
    const e = err as BencodeError;
    return { code: e.code, offset: e.offset };
  }
  throw new Error(`decoded without error: ${String(input).slice(0, 40)}`);
}

describe('decode: valid documents', () => {
  it('reads integers, strings, lists and dictionaries', () => {
    expect(decode(bytes('i42e'))).toBe(42);
    expect(decode(bytes('i-42e'))).toBe(-42);
    expect(decode(bytes('i0e'))).toBe(0);
    expect(Buffer.from(decode(bytes('4:spam')) as Uint8Array).toString()).toBe('spam');
    expect((decode(bytes('0:')) as Uint8Array).length).toBe(0);
    expect(decode(bytes('li1ei2ee'))).toEqual([1, 2]);
    const d = decode(bytes('d3:bar4:spam3:fooi42ee')) as BDict;
    expect([...d.keys()]).toEqual(['bar', 'foo']);
    expect(d.get('foo')).toBe(42);
  });

  it('keeps integers beyond 2^53 exact as bigint', () => {
    expect(decode(bytes('i9007199254740991e'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode(bytes('i9007199254740993e'))).toBe(9007199254740993n);
    expect(decode(bytes('i-12345678901234567890e'))).toBe(-12345678901234567890n);
  });

  it('keeps byte strings as bytes, with dictionary keys as lossless latin1 strings', () => {
    const d = decode(Buffer.concat([bytes('d2:'), Buffer.from([0xff, 0x00]), bytes('1:\x80e')])) as BDict;
    const [key] = [...d.keys()];
    expect(Buffer.from(key!, 'latin1')).toEqual(Buffer.from([0xff, 0x00]));
    expect(d.get(key!)).toEqual(Buffer.from([0x80]));
  });

  it('treats a __proto__ key as data, never as a prototype', () => {
    const d = decode(bytes('d9:__proto__d8:pollutedi1eee')) as BDict;
    expect(d).toBeInstanceOf(Map);
    expect(d.get('__proto__')).toBeInstanceOf(Map);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts a Uint8Array that is not a Buffer, at an offset', () => {
    const backing = new Uint8Array([0x78, ...bytes('li7ee')]);
    expect(decode(backing.subarray(1))).toEqual([7]);
  });
});

describe('decode: strict BEP 3 refusals, each with a code and byte offset', () => {
  it.each([
    ['i03e', 'BENCODE_BAD_INTEGER', 1],
    ['i-0e', 'BENCODE_BAD_INTEGER', 2],
    ['i+5e', 'BENCODE_BAD_INTEGER', 1],
    ['i1.5e', 'BENCODE_BAD_INTEGER', 2],
    ['ie', 'BENCODE_BAD_INTEGER', 1],
    ['i-e', 'BENCODE_BAD_INTEGER', 2],
    ['i 1e', 'BENCODE_BAD_INTEGER', 1],
    ['03:abc', 'BENCODE_BAD_LENGTH', 0],
    ['3a:abc', 'BENCODE_BAD_LENGTH', 1],
    ['-1:a', 'BENCODE_UNEXPECTED_BYTE', 0],
    ['l-3:abce', 'BENCODE_UNEXPECTED_BYTE', 1],
    ['5:ab', 'BENCODE_LENGTH_PAST_END', 0],
    ['99999999999999999999:x', 'BENCODE_LENGTH_PAST_END', 0],
    ['i1', 'BENCODE_UNEXPECTED_END', 2],
    ['l', 'BENCODE_UNEXPECTED_END', 1],
    ['li1e', 'BENCODE_UNEXPECTED_END', 4],
    ['d1:a', 'BENCODE_UNEXPECTED_END', 4],
    ['12', 'BENCODE_UNEXPECTED_END', 2],
    ['d3:fooe', 'BENCODE_MISSING_VALUE', 6],
    ['di1ei2ee', 'BENCODE_KEY_NOT_STRING', 1],
    ['dlei1ee', 'BENCODE_KEY_NOT_STRING', 1],
    ['i1ei2e', 'BENCODE_TRAILING_DATA', 3],
    ['lee', 'BENCODE_TRAILING_DATA', 2],
    ['x', 'BENCODE_UNEXPECTED_BYTE', 0],
    ['e', 'BENCODE_UNEXPECTED_BYTE', 0],
    ['', 'BENCODE_EMPTY', 0],
    ['0000000000000000:', 'BENCODE_BAD_LENGTH', 0],
  ])('%j → %s at %s', (input, code, offset) => {
    expect(failure(input)).toEqual({ code, offset });
  });

  it('puts the byte offset in the message', () => {
    try {
      decode(bytes('d4:infod4:name'));
    } catch (err) {
      expect((err as Error).message).toMatch(/^unexpected end of data .* at byte 14$/);
    }
  });

  it('refuses integers with absurd digit counts instead of building a giant bigint', () => {
    expect(failure(`i${'9'.repeat(100)}e`).code).toBe('BENCODE_BAD_INTEGER');
  });
});

describe('decode: limits that a hostile file cannot get past', () => {
  it('refuses 100 000 nested lists quickly, without recursion', () => {
    const started = performance.now();
    expect(failure('l'.repeat(100_000))).toEqual({ code: 'BENCODE_DEPTH_EXCEEDED', offset: DEFAULT_MAX_DEPTH });
    expect(failure(`${'l'.repeat(100_000)}${'e'.repeat(100_000)}`).code).toBe('BENCODE_DEPTH_EXCEEDED');
    // Not a timing assertion on speed, only a guard against a hang becoming a slow pass.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('honours a custom depth limit exactly', () => {
    expect(decode(bytes('llee'), { maxDepth: 2 })).toEqual([[]]);
    expect(failure('llleee', { maxDepth: 2 })).toEqual({ code: 'BENCODE_DEPTH_EXCEEDED', offset: 2 });
  });

  it('honours a token limit', () => {
    expect(decode(bytes('li1ei2ee'), { maxTokens: 3 })).toEqual([1, 2]);
    expect(failure('li1ei2ei3ee', { maxTokens: 3 })).toEqual({ code: 'BENCODE_TOKEN_LIMIT', offset: 7 });
  });
});

describe('decode: key order and duplicates', () => {
  it('accepts unsorted keys leniently, with a warning, and refuses them in strict mode', () => {
    const doc = decodeDocument(bytes('d1:bi1e1:ai2ee'));
    expect([...(doc.value as BDict).entries()]).toEqual([
      ['b', 1],
      ['a', 2],
    ]);
    expect(doc.warnings).toEqual([expect.objectContaining({ code: 'BENCODE_UNSORTED_KEYS', offset: 7 })]);
    expect(failure('d1:bi1e1:ai2ee', { keyOrder: 'strict' })).toEqual({ code: 'BENCODE_UNSORTED_KEYS', offset: 7 });
  });

  it('keeps the first value of a duplicated key, with a warning; strict refuses', () => {
    const doc = decodeDocument(bytes('d1:ai1e1:bi3e1:ai2ee'));
    expect((doc.value as BDict).get('a')).toBe(1);
    expect((doc.value as BDict).get('b')).toBe(3);
    expect(doc.warnings.map((w) => w.code)).toEqual(['BENCODE_UNSORTED_KEYS', 'BENCODE_DUPLICATE_KEY']);
    expect(decodeDocument(bytes('d1:ai1e1:ai2ee')).warnings.map((w) => w.code)).toEqual(['BENCODE_DUPLICATE_KEY']);
    expect(failure('d1:ai1e1:ai2ee', { keyOrder: 'strict' }).code).toBe('BENCODE_DUPLICATE_KEY');
  });

  it('orders keys by raw bytes (0xff after ASCII)', () => {
    const sorted = Buffer.concat([bytes('d1:ai1e1:'), Buffer.from([0xff]), bytes('i2ee')]);
    expect(decodeDocument(sorted, { keyOrder: 'strict' }).warnings).toEqual([]);
  });

  it('stays linear on many repeated keys that are not adjacent (a hostile tracker reply)', () => {
    const hostile = bytes(`d${'1:ai0e1:bi0e'.repeat(40_000)}e`);
    const started = performance.now();
    const doc = decodeDocument(hostile);
    expect(decode(hostile)).toBeInstanceOf(Map);
    expect(doc.warnings.length).toBe(32);
    expect(doc.droppedWarnings).toBeGreaterThan(40_000);
    // A guard against the quadratic case (~10 s) coming back, not a speed assertion.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('bounds the number of warnings kept', () => {
    const many = `l${'d1:bi1e1:ai1ee'.repeat(100)}e`;
    const doc = decodeDocument(bytes(many));
    expect(doc.warnings.length).toBe(32);
    expect(doc.droppedWarnings).toBe(68);
  });
});

describe('raw byte spans', () => {
  it('gives the original bytes of a nested dictionary, even when its keys are unsorted', () => {
    const raw = 'd8:announce3:url4:infod4:name1:x6:lengthi5eee';
    const doc = decodeDocument(bytes(raw));
    const info = (doc.value as BDict).get('info') as BDict;
    const span = doc.spanOf(info)!;
    expect(raw.slice(span.start, span.end)).toBe('d4:name1:x6:lengthi5ee');
    // a re-encoding sorts the keys and so differs from the original bytes
    expect(encode(info).toString('latin1')).not.toBe(raw.slice(span.start, span.end));
    expect(doc.spanOf(doc.value as BDict)).toEqual({ start: 0, end: raw.length });
  });

  it('records spans only as deep as asked', () => {
    const doc = decodeDocument(bytes('d1:ad1:bleee'), { spanDepth: 1 });
    const a = (doc.value as BDict).get('a') as BDict;
    expect(doc.spanOf(a)).toEqual({ start: 4, end: 11 });
    expect(doc.spanOf(a.get('b') as [])).toBeUndefined();
  });
});

describe('text', () => {
  it('reads UTF-8, and falls back to a lossless latin1 reading', () => {
    expect(toText(Buffer.from('héllo ✓', 'utf8'))).toBe('héllo ✓');
    const bad = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in latin1, invalid UTF-8
    expect(decodeText(bad)).toEqual({ text: 'café', encoding: 'latin1' });
    expect(Buffer.from(decodeText(bad).text, 'latin1')).toEqual(bad);
  });
});
