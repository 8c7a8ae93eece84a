import { describe, expect, it } from 'vitest';
import { decodeView, encode } from '../../src/bencode/index.js';

const doc = encode({
  announce: 'http://t/announce',
  info: { files: [{ length: 5, path: ['a', 'b.txt'] }, { length: 7, path: ['c'] }], name: 'n', 'piece length': 16384 },
  big: 2n ** 70n,
});

describe('BencodeView: reading a document without building it', () => {
  const view = decodeView(doc);

  it('finds dictionary values by key and reports their types', () => {
    const info = view.get(view.root, 'info');
    expect(view.type(info)).toBe('dict');
    expect(view.bytesOf(view.get(info, 'name')).toString()).toBe('n');
    expect(view.int(view.get(info, 'piece length'))).toBe(16384);
    expect(view.int(view.get(view.root, 'big'))).toBe(2n ** 70n);
    expect(view.get(info, 'missing')).toBe(-1);
    expect(view.get(view.get(info, 'name'), 'x')).toBe(-1);
  });

  it('walks lists and dictionaries by token index', () => {
    const files = view.get(view.get(view.root, 'info'), 'files');
    const items = view.listItems(files);
    expect(items).toHaveLength(2);
    expect(view.size(files)).toBe(2);
    const paths = items.map((f) => view.listItems(view.get(f, 'path')).map((p) => view.latin1(p)).join('/'));
    expect(paths).toEqual(['a/b.txt', 'c']);
    expect(view.entries(items[0]!).map(([k]) => view.latin1(k))).toEqual(['length', 'path']);
    expect(view.size(items[0]!)).toBe(2);
  });

  it('gives the raw span of any value', () => {
    const info = view.get(view.root, 'info');
    const raw = view.raw(info).toString('latin1');
    expect(raw.startsWith('d5:filesl')).toBe(true);
    expect(raw.endsWith('12:piece lengthi16384ee')).toBe(true);
    expect(view.span(view.root)).toEqual({ start: 0, end: doc.length });
  });

  it('returns the first value of a repeated key', () => {
    const v = decodeView(Buffer.from('d1:ai1e1:ai2ee'));
    expect(v.int(v.get(v.root, 'a'))).toBe(1);
    expect(v.warnings.map((w) => w.code)).toEqual(['BENCODE_DUPLICATE_KEY']);
  });

  it('refuses nonsensical limits instead of allocating for them', () => {
    expect(() => decodeView(doc, { maxDepth: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => decodeView(doc, { maxTokens: 0 })).toThrow(RangeError);
  });
});

describe('text of byte strings', () => {
  it('reads UTF-8, falls back to latin1, and a TextScope agrees with per-string reads', () => {
    const latin1Name = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in latin1: not UTF-8
    for (const names of [
      ['plain', 'ascii.txt'],
      ['ünïcødé', '文件.txt'],
      ['plain', latin1Name],
    ]) {
      const v = decodeView(encode({ l: names }));
      const list = v.get(v.root, 'l');
      const scope = v.textScope(list);
      const items = v.listItems(list);
      expect(items.map((i) => scope.text(i))).toEqual(items.map((i) => v.text(i)));
      expect(items.map((i) => v.text(i))).toEqual(names.map((n) => (typeof n === 'string' ? n : 'café')));
      expect(scope.latin1Fallbacks).toBe(names.some((n) => typeof n !== 'string') ? 1 : 0);
      expect(items.map((i) => v.isUtf8(i))).toEqual(names.map((n) => typeof n === 'string'));
    }
  });
});
