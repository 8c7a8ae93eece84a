import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { BencodeError, type BencodeView, decodeView, type DecodeOptions, withTokenTable } from '../../src/bencode/index.js';
import { KEPT_OPEN_CONTAINERS_MAX_LEVELS, keptOpenContainerLevels } from '../../src/bencode/view.js';

/**
 * decodeView keeps its open-container stack between calls. Whatever ran before — a deeper limit, a
 * decode that failed half-way with every level dirty, a decode nested in another's reader — must
 * not change what a call returns.
 */

/** Everything a caller can observe of one decode, as plain data. */
function outcomeOf(bytes: Uint8Array, options: DecodeOptions, decode: typeof decodeView = decodeView): unknown {
  try {
    const view = decode(bytes, options);
    return { tree: treeOf(view, view.root), tokens: view.tokenCount, warnings: view.warnings, dropped: view.droppedWarnings };
  } catch (err) {
    // A fresh module instance has its own BencodeError class: compare by code.
    const { code, offset, message } = err as BencodeError;
    if (typeof code === 'string' && code.startsWith('BENCODE_')) return { code, offset, message };
    throw err;
  }
}

/** decodeView of a newly evaluated module: nothing kept from any earlier call. */
async function freshDecodeView(): Promise<typeof decodeView> {
  vi.resetModules();
  const fresh = await import('../../src/bencode/view.js');
  return fresh.decodeView;
}

function treeOf(view: BencodeView, i: number): unknown {
  const span = view.span(i);
  if (view.isInt(i)) return { int: String(view.int(i)), span };
  if (view.isBytes(i)) return { bytes: view.latin1(i), span };
  if (view.isList(i)) return { list: view.listItems(i).map((c) => treeOf(view, c)), span };
  return { dict: view.entries(i).map(([k, v]) => [view.latin1(k), treeOf(view, v)]), span };
}

const text = (s: string) => Buffer.from(s, 'latin1');
/** `depth` nested dictionaries, each with unsorted and duplicated keys, left open at the bottom. */
function dirtyingDocument(depth: number): Buffer {
  return text(`${'d1:z0:1:a0:1:a0:1:x'.repeat(depth)}`);
}

/** Hand-written bencode: sorted and unsorted dictionaries, lists, nesting, broken endings. */
const bencodeText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -1000, max: 1000 }).map((n) => `i${n}e`),
    fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 3 }).map((s) => `${s.length}:${s}`),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `l${items.join('')}e`),
    fc
      .array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'ab'), tie('value')), { maxLength: 4 })
      .map((entries) => `d${entries.map(([k, v]) => `${k.length}:${k}${v}`).join('')}e`),
  ),
})).value;

const caseArb = fc.record({
  doc: fc.oneof(
    bencodeText,
    bencodeText.map((s) => s.slice(0, Math.max(1, s.length - 1))),
    fc.integer({ min: 1, max: 12 }).map((n) => `${'l'.repeat(n)}i1e${'e'.repeat(n)}`),
  ),
  maxDepth: fc.integer({ min: 1, max: 8 }),
  keyOrder: fc.constantFrom<'strict' | 'lenient'>('strict', 'lenient'),
});

describe('decodeView: the kept open-container stack', () => {
  it('gives the outcome of a decoder that has never run, whatever ran before', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { minLength: 1, maxLength: 6 }), async (cases) => {
        for (const c of cases) {
          const options = { maxDepth: c.maxDepth, keyOrder: c.keyOrder };
          const expected = outcomeOf(text(c.doc), options, await freshDecodeView());
          expect(outcomeOf(text(c.doc), options)).toEqual(expected);
          expect(() => decodeView(dirtyingDocument(64), { maxDepth: 64 })).toThrow(/unexpected end/);
          expect(outcomeOf(text(c.doc), options)).toEqual(expected);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('gives the same outcome whatever ran before (fresh order, reverse order, after a dirtying failure)', () => {
    fc.assert(
      fc.property(fc.array(caseArb, { minLength: 1, maxLength: 12 }), (cases) => {
        const run = (c: (typeof cases)[number]) => outcomeOf(text(c.doc), { maxDepth: c.maxDepth, keyOrder: c.keyOrder });
        const forward = cases.map(run);
        const backward = [...cases].reverse().map(run).reverse();
        const afterDirt = cases.map((c) => {
          // Fails at the limit with every level holding a dictionary, its key range and an order warning.
          expect(() => decodeView(dirtyingDocument(64), { maxDepth: 64 })).toThrow(/unexpected end/);
          return run(c);
        });
        expect(backward).toEqual(forward);
        expect(afterDirt).toEqual(forward);
      }),
      { numRuns: 150 },
    );
  });

  it('warns about unsorted keys again at a level a previous decode had already warned at', () => {
    const unsorted = text('d1:b0:1:a0:e');
    const before = decodeView(unsorted).warnings.map((w) => w.code);
    expect(() => decodeView(dirtyingDocument(10))).toThrow(BencodeError);
    expect(decodeView(unsorted).warnings.map((w) => w.code)).toEqual(before);
    expect(before).toEqual(['BENCODE_UNSORTED_KEYS']);
  });

  it('enforces each call its own maxDepth, after a deeper or shallower one', () => {
    const fiveDeep = text(`${'l'.repeat(5)}${'e'.repeat(5)}`);
    expect(decodeView(fiveDeep, { maxDepth: 500 }).tokenCount).toBe(5);
    expect(keptOpenContainerLevels()).toBeGreaterThanOrEqual(500);
    // The kept stack has 500 levels; the limit asked for is still 4.
    expect(() => decodeView(fiveDeep, { maxDepth: 4 })).toThrow(expect.objectContaining({ code: 'BENCODE_DEPTH_EXCEEDED', offset: 4 }));
    expect(decodeView(fiveDeep, { maxDepth: 5 }).tokenCount).toBe(5);
    expect(() => decodeView(fiveDeep, { maxDepth: 1 })).toThrow(expect.objectContaining({ code: 'BENCODE_DEPTH_EXCEEDED', offset: 1 }));
    expect(decodeView(fiveDeep).tokenCount).toBe(5);
  });

  it(`keeps no stack deeper than ${KEPT_OPEN_CONTAINERS_MAX_LEVELS} levels, yet decodes to a larger limit`, () => {
    const depth = KEPT_OPEN_CONTAINERS_MAX_LEVELS + 10;
    const deep = text(`${'l'.repeat(depth)}${'e'.repeat(depth)}`);
    expect(decodeView(deep, { maxDepth: depth }).tokenCount).toBe(depth);
    expect(keptOpenContainerLevels()).toBeLessThanOrEqual(KEPT_OPEN_CONTAINERS_MAX_LEVELS);
    expect(() => decodeView(deep, { maxDepth: depth - 1 })).toThrow(expect.objectContaining({ code: 'BENCODE_DEPTH_EXCEEDED' }));
    expect(keptOpenContainerLevels()).toBeLessThanOrEqual(KEPT_OPEN_CONTAINERS_MAX_LEVELS);
  });

  it('leaves views read inside withTokenTable intact across nested decodes with other limits', () => {
    const torrentLike = text('d8:announce3:url4:infod5:filesld6:lengthi5e4:pathl1:aeee4:name1:nee');
    const scrapeLike = text('d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei3eeee');
    const expectedOuter = outcomeOf(torrentLike, {});
    const expectedInner = outcomeOf(scrapeLike, { maxDepth: 3 });
    const seen = withTokenTable(() => {
      const outer = decodeView(torrentLike, { maxDepth: 50 });
      const inner = withTokenTable(() => {
        const view = decodeView(scrapeLike, { maxDepth: 3 });
        expect(() => decodeView(scrapeLike, { maxDepth: 2 })).toThrow(expect.objectContaining({ code: 'BENCODE_DEPTH_EXCEEDED' }));
        expect(() => decodeView(dirtyingDocument(200), { maxDepth: 1000 })).toThrow(BencodeError);
        return { tree: treeOf(view, view.root), tokens: view.tokenCount, warnings: view.warnings, dropped: view.droppedWarnings };
      });
      // The outer view is read only after the nested decodes ran.
      return [{ tree: treeOf(outer, outer.root), tokens: outer.tokenCount, warnings: outer.warnings, dropped: outer.droppedWarnings }, inner];
    });
    expect(seen).toEqual([expectedOuter, expectedInner]);
  });
});
