import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BValue, BencodeError, decode, decodeDocument, encode } from '../../src/bencode/index.js';

const bvalue: fc.Arbitrary<BValue> = fc.letrec<{ value: BValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).filter((b) => b > 2n ** 53n || b < -(2n ** 53n)),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .array(fc.tuple(fc.uint8Array({ maxLength: 8 }), tie('value')), { maxLength: 5 })
      .map((entries) => new Map(entries.map(([k, v]) => [Buffer.from(k).toString('latin1'), v]))),
  ),
})).value;

/** Canonical form of a decoded value: what a re-decode must give back. */
function sortedCopy(v: BValue): unknown {
  if (v instanceof Map) {
    return [...v.entries()]
      .sort((a, b) => Buffer.compare(Buffer.from(a[0], 'latin1'), Buffer.from(b[0], 'latin1')))
      .map(([k, x]) => [k, sortedCopy(x)]);
  }
  if (Array.isArray(v)) return v.map(sortedCopy);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v;
}

describe('encode', () => {
  it('writes canonical bencode with keys sorted by raw bytes', () => {
    const out = encode({ b: 1, a: 'x', c: [1n, new Uint8Array([0x41])], m: new Map([['\xff', 1], ['a', 2]]) });
    expect(out.toString('latin1')).toBe('d1:a1:x1:bi1e1:cli1e1:Ae1:md1:ai2e1:\xffi1eee');
  });

  it('writes JS strings as UTF-8 and refuses what bencode cannot hold', () => {
    expect(encode('é').toString('latin1')).toBe('2:\xc3\xa9');
    expect(() => encode(1.5)).toThrow(BencodeError);
    expect(() => encode(null as unknown as BValue)).toThrow(BencodeError);
  });

  it('round-trips: decode(encode(x)) equals x with sorted keys (property)', () => {
    fc.assert(
      fc.property(bvalue, (v) => {
        const once = encode(v);
        const back = decodeDocument(once, { keyOrder: 'strict' }).value;
        expect(sortedCopy(back)).toEqual(sortedCopy(v));
        expect(encode(back)).toEqual(once);
      }),
      { numRuns: 500 },
    );
  });
});

describe('decoder fuzzing', () => {
  const onlyTypedErrors = (input: Uint8Array) => {
    try {
      decode(input);
    } catch (err) {
      if (!(err instanceof BencodeError)) throw err;
      expect(err.code).toMatch(/^BENCODE_/);
    }
  };

  it('throws nothing but a typed BencodeError on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyTypedErrors), { numRuns: 2000 });
  });

  it('throws nothing but a typed BencodeError on random bencode-alphabet text', () => {
    const alphabet = fc.constantFrom(...'ilde0123456789:-'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 120 }), (chars) => onlyTypedErrors(Buffer.from(chars.join('')))),
      { numRuns: 3000 },
    );
  });

  it('survives mutations of valid documents (flip, cut, insert)', () => {
    fc.assert(
      fc.property(bvalue, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'insert'), (v, at, byte, how) => {
        const good = encode(v);
        const i = good.length === 0 ? 0 : at % good.length;
        let bad: Buffer;
        if (how === 'flip') {
          bad = Buffer.from(good);
          bad[i] = byte;
        } else if (how === 'cut') {
          bad = good.subarray(0, i);
        } else {
          bad = Buffer.concat([good.subarray(0, i), Buffer.from([byte]), good.subarray(i)]);
        }
        onlyTypedErrors(bad);
      }),
      { numRuns: 2000 },
    );
  });
});
