import { describe, expect, it } from 'vitest';
import { type Encodable, encode } from '../../src/bencode/index.js';
import type { TrackerscopeError } from '../../src/errors.js';
import {
  DEFAULT_MAX_FILE_LENGTH,
  DEFAULT_MAX_PIECE_COUNT,
  normaliseTiers,
  parseTorrent,
  TorrentError,
} from '../../src/torrent/index.js';
import { canonicalInfo, multiFile, pieceHashes, sha1Hex, sha256Hex, singleFile, thrown } from './helpers.js';

const codes = (t: { warnings: { code: string }[] }) => t.warnings.map((w) => w.code);
const ROOT_32 = Buffer.alloc(32, 7);

const infoOf = canonicalInfo;

function v2Torrent(tree: Encodable, info: Record<string, Encodable> = {}, root: Record<string, Encodable> = {}): Buffer {
  return encode({
    announce: 'http://127.0.0.1:6969/announce',
    ...root,
    info: { name: 'v2', 'piece length': 16384, 'meta version': 2, 'file tree': tree, ...info },
  });
}

const leaf = (length: number, extra: Record<string, Encodable> = {}) =>
  new Map<string, Encodable>([['', { length, ...(length > 0 ? { 'pieces root': ROOT_32 } : {}), ...extra }]]);

describe('parseTorrent: a single-file v1 torrent', () => {
  const bytes = singleFile(
    { name: 'movie.mkv', length: 100_000, 'piece length': 32768, private: 1 },
    {
      comment: 'a comment',
      'created by': 'mktorrent 1.1',
      'creation date': 1_700_000_000,
      'url-list': 'http://127.0.0.1:8080/movie.mkv',
    },
  );
  const t = parseTorrent(bytes);

  it('reads every field of the model', () => {
    expect(t).toEqual({
      source: 'file',
      hasMetadata: true,
      name: 'movie.mkv',
      infoHashV1: sha1Hex(infoOf(bytes)),
      infoHashV2: null,
      version: 'v1',
      totalSize: 100_000,
      pieceLength: 32768,
      pieceCount: 4,
      files: [{ path: 'movie.mkv', size: 100_000 }],
      paddingFiles: 0,
      private: true,
      comment: 'a comment',
      createdBy: 'mktorrent 1.1',
      creationDate: new Date(1_700_000_000_000),
      webSeeds: ['http://127.0.0.1:8080/movie.mkv'],
      trackers: [['http://127.0.0.1:6969/announce']],
      warnings: [],
    });
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    const copy = new Uint8Array(bytes.length + 10).subarray(5, 5 + bytes.length);
    copy.set(bytes);
    expect(parseTorrent(copy).infoHashV1).toBe(t.infoHashV1);
  });
});

describe('parseTorrent: a multi-file v1 torrent', () => {
  it('joins paths under the torrent name and sums sizes', () => {
    const t = parseTorrent(
      multiFile([
        { length: 10, path: ['a.txt'] },
        { length: 20_000, path: ['sub', 'deeper', 'b.bin'] },
        { length: 0, path: ['empty'] },
      ]),
    );
    expect(t.files).toEqual([
      { path: 'folder/a.txt', size: 10 },
      { path: 'folder/sub/deeper/b.bin', size: 20_000 },
      { path: 'folder/empty', size: 0 },
    ]);
    expect(t.totalSize).toBe(20_010);
    expect(t.pieceCount).toBe(2);
  });

  it('reads long file lists exactly, ASCII and not, wherever an element falls', () => {
    // Enough bytes that the list is read through several text windows, with UTF-8 and latin1
    // elements in some of them and elements of every length across the window edges.
    const files = Array.from({ length: 3000 }, (_, i) => {
      const dir = i % 500 === 7 ? 'répertoire' : `dir-${i % 13}`;
      const base = `${'x'.repeat(i % 37)}file-${i}.bin`;
      return { length: i + 1, path: [dir, base] as Encodable[], expected: `folder/${dir}/${base}` };
    });
    files[2321]!.path = ['dir', Buffer.from('caf\xe9', 'latin1')];
    files[2321]!.expected = 'folder/dir/café';
    files[10]!.path = ['x', 'a', 'b', 'ü'];
    files[10]!.expected = 'folder/x/a/b/ü';
    const total = files.reduce((sum, f) => sum + f.length, 0);
    const bytes = encode({
      info: {
        name: 'folder',
        'piece length': 16384,
        pieces: pieceHashes(Math.ceil(total / 16384)),
        files: files.map((f) => ({ length: f.length, path: f.path })),
      },
    });
    const t = parseTorrent(bytes);
    const expected = files.map((f) => ({ path: f.expected, size: f.length }));
    expect(t.files).toEqual(expected);
    expect(t.warnings.find((w) => w.code === 'TORRENT_TEXT_ENCODING')?.message).toMatch(/file paths/);
    // Small windows put window edges at every position relative to the elements.
    for (const textWindowBytes of [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]) {
      expect(parseTorrent(bytes, { textWindowBytes }).files).toEqual(expected);
    }
  });

  it('ignores keys it does not know and keeps the first of repeated keys in a file entry', () => {
    const info = Buffer.concat([
      Buffer.from('d5:filesld4:ed2k16:0123456789abcdef6:lengthi5e6:lengthi9e4:pathl1:ae4:pathl1:be4:sha120:'),
      Buffer.alloc(20, 1),
      Buffer.from('ee4:name1:x12:piece lengthi16384e6:pieces20:'),
      pieceHashes(1),
      Buffer.from('e'),
    ]);
    const t = parseTorrent(Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')]));
    expect(t.files).toEqual([{ path: 'x/a', size: 5 }]);
    expect(t.infoHashV1).toBe(sha1Hex(info));
  });

  it('hides BEP 47 padding files from the list but counts their bytes', () => {
    const t = parseTorrent(
      multiFile([
        { length: 100, path: ['a'] },
        { length: 16284, path: ['.pad', '16284'], attr: 'p' },
        { length: 50, path: ['b'] },
        { length: 16334, path: ['.pad', '16334'] },
        { length: 200, path: ['c'] },
        { length: 100, path: ['_____padding_file_0_'] },
        { length: 300, path: ['d'] },
      ]),
    );
    expect(t.files.map((f) => f.path)).toEqual(['folder/a', 'folder/b', 'folder/c', 'folder/d']);
    expect(t.paddingFiles).toBe(3);
    expect(t.totalSize).toBe(100 + 16284 + 50 + 16334 + 200 + 100 + 300);
    expect(t.pieceCount).toBe(Math.ceil(t.totalSize! / 16384));
  });

  it('accepts a padding file without a path (attr p), as libtorrent does', () => {
    const bytes = encode({
      info: {
        name: 'x',
        'piece length': 16384,
        pieces: pieceHashes(1),
        files: [{ length: 45, path: ['a'] }, { length: 2124, attr: 'p' }],
      },
    });
    const t = parseTorrent(bytes);
    expect(t.files).toEqual([{ path: 'x/a', size: 45 }]);
    expect(t.paddingFiles).toBe(1);
    expect(t.totalSize).toBe(2169);
  });

  it('gives BEP 47 symlinks no size, whatever length they declare', () => {
    const bytes = encode({
      info: {
        name: 'x',
        'piece length': 16384,
        pieces: pieceHashes(1),
        files: [
          { length: 425, path: ['a', 'bar'] },
          { length: 425, path: ['a', 'foo'], attr: 'l', 'symlink path': ['a', 'bar'] },
          { path: ['a', 'baz'], attr: 'xl', 'symlink path': ['bar'] },
        ],
      },
    });
    const t = parseTorrent(bytes);
    expect(t.files).toEqual([
      { path: 'x/a/bar', size: 425 },
      { path: 'x/a/foo', size: 0 },
      { path: 'x/a/baz', size: 0 },
    ]);
    expect(t.totalSize).toBe(425);
  });

  it('refuses a symlink whose target is not a list of strings', () => {
    const bytes = encode({
      info: {
        name: 'x',
        'piece length': 16384,
        pieces: pieceHashes(1),
        files: [
          { length: 1, path: ['a'] },
          { path: ['b'], attr: 'l', 'symlink path': ['a', 4] },
        ],
      },
    });
    expect(thrown(() => parseTorrent(bytes)).code).toBe('TORRENT_BAD_PATH');
  });
});

describe('parseTorrent: text', () => {
  it('prefers the .utf-8 variants of name, path, comment and created by', () => {
    const bytes = encode({
      comment: Buffer.from('caf\xe9', 'latin1'),
      'comment.utf-8': 'café',
      'created by': 'x',
      'created by.utf-8': 'créateur',
      info: {
        name: Buffer.from('\x82', 'latin1'),
        'name.utf-8': 'Ünïcödé',
        'piece length': 16384,
        pieces: pieceHashes(1),
        files: [{ length: 5, path: [Buffer.from('\xe9', 'latin1')], 'path.utf-8': ['é'] }],
      },
    });
    const t = parseTorrent(bytes);
    expect(t.name).toBe('Ünïcödé');
    expect(t.files[0]!.path).toBe('Ünïcödé/é');
    expect(t.comment).toBe('café');
    expect(t.createdBy).toBe('créateur');
    expect(codes(t)).not.toContain('TORRENT_TEXT_ENCODING');
  });

  it('shows text that is not UTF-8 byte by byte, with one warning naming the fields', () => {
    const t = parseTorrent(
      encode({
        comment: Buffer.from('na\xefve', 'latin1'),
        info: {
          name: Buffer.from('caf\xe9', 'latin1'),
          'piece length': 16384,
          pieces: pieceHashes(1),
          files: [
            { length: 5, path: [Buffer.from('r\xe9sum\xe9', 'latin1')] },
            { length: 5, path: ['ok'] },
          ],
        },
      }),
    );
    expect(t.name).toBe('café');
    expect(t.comment).toBe('naïve');
    expect(t.files[0]!.path).toBe('café/résumé');
    const warning = t.warnings.find((w) => w.code === 'TORRENT_TEXT_ENCODING');
    expect(warning?.message).toMatch(/name/);
    expect(warning?.message).toMatch(/file paths/);
    expect(warning?.message).toMatch(/comment/);
  });
});

describe('parseTorrent: trackers (BEP 12) and web seeds (BEP 19)', () => {
  it('keeps tiers in order, trims, drops empty URLs and tiers, removes repeats across tiers', () => {
    const t = parseTorrent(
      singleFile(
        {},
        {
          announce: 'http://127.0.0.1:1/ignored',
          'announce-list': [
            ['  http://127.0.0.1:1/a ', 'http://127.0.0.1:1/b', ''],
            ['http://127.0.0.1:1/b', '\t', 'udp://127.0.0.1:2/c'],
            ['   ', 'http://127.0.0.1:1/a'],
            [],
            ['wss://127.0.0.1:3/d'],
          ],
        },
      ),
    );
    expect(t.trackers).toEqual([
      ['http://127.0.0.1:1/a', 'http://127.0.0.1:1/b'],
      ['udp://127.0.0.1:2/c'],
      ['wss://127.0.0.1:3/d'],
    ]);
    expect(codes(t)).toEqual([]);
  });

  it('falls back to announce when announce-list is missing, empty or holds only blanks', () => {
    for (const list of [undefined, [], [[]], [[' ', '']]]) {
      const t = parseTorrent(singleFile({}, { announce: ' udp://127.0.0.1:6969/announce ', 'announce-list': list }));
      expect(t.trackers).toEqual([['udp://127.0.0.1:6969/announce']]);
    }
  });

  it('reads a flat announce-list (URLs instead of tiers) as one tier per URL, with a warning', () => {
    const t = parseTorrent(singleFile({}, { 'announce-list': ['http://127.0.0.1:1/a', 'http://127.0.0.1:1/b', 5] }));
    expect(t.trackers).toEqual([['http://127.0.0.1:1/a'], ['http://127.0.0.1:1/b']]);
    expect(codes(t)).toContain('TORRENT_IGNORED_FIELD');
  });

  it('says so when a torrent has no trackers at all (DHT only), and still parses it', () => {
    const t = parseTorrent(singleFile({}, { announce: undefined }));
    expect(t.trackers).toEqual([]);
    expect(codes(t)).toEqual(['TORRENT_NO_TRACKERS']);
    const blank = parseTorrent(singleFile({}, { announce: '   ', 'announce-list': [['']] }));
    expect(codes(blank)).toEqual(['TORRENT_NO_TRACKERS']);
  });

  it('reads url-list as a string or a list, dropping blanks, repeats and non-strings', () => {
    expect(parseTorrent(singleFile({}, { 'url-list': '' })).webSeeds).toEqual([]);
    expect(parseTorrent(singleFile({}, { 'url-list': ' http://127.0.0.1/a ' })).webSeeds).toEqual(['http://127.0.0.1/a']);
    const t = parseTorrent(
      singleFile({}, { 'url-list': ['http://127.0.0.1/a', '', ' ', 'http://127.0.0.1/a', 'http://127.0.0.1/b', 7, ['x']] }),
    );
    expect(t.webSeeds).toEqual(['http://127.0.0.1/a', 'http://127.0.0.1/b']);
    expect(codes(t)).toContain('TORRENT_IGNORED_FIELD');
  });

  it('normaliseTiers keeps the first occurrence of a URL', () => {
    expect(normaliseTiers([['b', 'a'], ['a', 'c'], ['b']])).toEqual([['b', 'a'], ['c']]);
  });
});

describe('parseTorrent: creation date and private flag', () => {
  const dateOf = (value: Encodable) => parseTorrent(singleFile({}, { 'creation date': value }));

  it('reads seconds since the epoch', () => {
    expect(dateOf(0).creationDate).toEqual(new Date(0));
    expect(dateOf(1_234_567).creationDate).toEqual(new Date(1_234_567_000));
  });

  it('shows out-of-range, negative, huge and non-integer dates as unknown, with a warning', () => {
    for (const value of [-1, 10n ** 30n, 2n ** 53n, '2020-01-01', [1]]) {
      const t = dateOf(value as Encodable);
      expect(t.creationDate).toBeNull();
      expect(codes(t)).toContain('TORRENT_BAD_CREATION_DATE');
    }
  });

  it('reads a millisecond timestamp (Date.now() written by JS tools) as milliseconds, with a warning', () => {
    const t = dateOf(1_452_468_000_000);
    expect(t.creationDate).toEqual(new Date(1_452_468_000_000));
    expect(codes(t)).toContain('TORRENT_BAD_CREATION_DATE');
  });

  it('reads private (BEP 27): non-zero is private, as clients do; a non-integer is ignored with a warning', () => {
    expect(parseTorrent(singleFile({ private: 1 })).private).toBe(true);
    expect(parseTorrent(singleFile({ private: 0 })).private).toBe(false);
    expect(parseTorrent(singleFile({ private: 2 })).private).toBe(true);
    expect(parseTorrent(singleFile({})).private).toBe(false);
    const odd = parseTorrent(singleFile({ private: '1' }));
    expect(odd.private).toBe(false);
    expect(codes(odd)).toContain('TORRENT_IGNORED_FIELD');
  });
});

describe('parseTorrent: the info-hash is taken over the original bytes', () => {
  it('hashes a non-canonical info dictionary as written, with a warning', () => {
    const info = Buffer.concat([
      Buffer.from('d4:name4:temp6:lengthi425e12:piece lengthi16384e6:pieces20:'),
      pieceHashes(1),
      Buffer.from('e'),
    ]);
    const bytes = Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')]);
    const t = parseTorrent(bytes);
    expect(t.infoHashV1).toBe(sha1Hex(info));
    expect(codes(t)).toEqual(expect.arrayContaining(['BENCODE_UNSORTED_KEYS', 'TORRENT_NONCANONICAL_INFO']));
  });

  it('does not call unsorted keys outside info a non-canonical info', () => {
    const bytes = Buffer.concat([Buffer.from('d4:info'), infoOf(singleFile()), Buffer.from('8:announce3:urle')]);
    const t = parseTorrent(bytes);
    expect(codes(t)).toContain('BENCODE_UNSORTED_KEYS');
    expect(codes(t)).not.toContain('TORRENT_NONCANONICAL_INFO');
    expect(t.infoHashV1).toBe(sha1Hex(infoOf(singleFile())));
  });

  it('ignores whitespace after the torrent (an appended newline), with a warning', () => {
    const bytes = singleFile();
    for (const tail of ['\n', '\r\n', '  \n\t']) {
      const t = parseTorrent(Buffer.concat([bytes, Buffer.from(tail)]));
      expect(t.infoHashV1).toBe(sha1Hex(infoOf(bytes)));
      expect(codes(t)).toContain('TORRENT_TRAILING_DATA');
    }
  });

  it('refuses other trailing bytes', () => {
    const e = thrown(() => parseTorrent(Buffer.concat([singleFile(), Buffer.from('\nxyz')])));
    expect(e.code).toBe('TORRENT_NOT_BENCODE');
    expect((e.cause as TrackerscopeError).code).toBe('BENCODE_TRAILING_DATA');
  });
});

describe('parseTorrent: BEP 52 v2 and hybrid torrents', () => {
  it('v2 only: SHA-256 info-hash, no v1 hash, pieces counted per file', () => {
    const bytes = v2Torrent({ 'a.bin': leaf(20_000), dir: { 'b.bin': leaf(100), 'e.txt': leaf(0) } }, { 'piece length': 32768 });
    const t = parseTorrent(bytes);
    expect(t.version).toBe('v2');
    expect(t.infoHashV1).toBeNull();
    expect(t.infoHashV2).toBe(sha256Hex(infoOf(bytes)));
    expect(t.files).toEqual([
      { path: 'v2/a.bin', size: 20_000 },
      { path: 'v2/dir/b.bin', size: 100 },
      { path: 'v2/dir/e.txt', size: 0 },
    ]);
    expect(t.totalSize).toBe(20_100);
    expect(t.pieceCount).toBe(2);
    expect(t.pieceLength).toBe(32768);
  });

  it('v2 single file: the path is the file tree key', () => {
    const t = parseTorrent(v2Torrent({ 'only.bin': leaf(10) }));
    expect(t.files).toEqual([{ path: 'only.bin', size: 10 }]);
  });

  it('hybrid: both hashes over the same bytes; the v1 list (padding hidden) is shown', () => {
    const bytes = encode({
      info: {
        name: 'h',
        'piece length': 16384,
        'meta version': 2,
        'file tree': { a: leaf(100), b: leaf(200) },
        files: [
          { length: 100, path: ['a'] },
          { length: 16284, path: ['.pad', '16284'], attr: 'p' },
          { length: 200, path: ['b'] },
        ],
        pieces: pieceHashes(2),
      },
    });
    const t = parseTorrent(bytes);
    expect(t.version).toBe('hybrid');
    expect(t.infoHashV1).toBe(sha1Hex(infoOf(bytes)));
    expect(t.infoHashV2).toBe(sha256Hex(infoOf(bytes)));
    expect(t.files).toEqual([
      { path: 'h/a', size: 100 },
      { path: 'h/b', size: 200 },
    ]);
    expect(t.paddingFiles).toBe(1);
    expect(t.totalSize).toBe(16584);
    expect(t.pieceCount).toBe(2);
  });

  it('refuses a hybrid whose v1 and v2 file lists differ', () => {
    const hybrid = (files: Encodable[], pieces: number) =>
      encode({
        info: {
          name: 'h',
          'piece length': 16384,
          'meta version': 2,
          'file tree': { a: leaf(100), b: leaf(200) },
          files,
          pieces: pieceHashes(pieces),
        },
      });
    const cases: [Encodable[], number][] = [
      [[{ length: 100, path: ['a'] }], 1],
      [[{ length: 100, path: ['a'] }, { length: 16284, path: ['.pad', 'x'], attr: 'p' }, { length: 200, path: ['c'] }], 2],
      [[{ length: 100, path: ['a'] }, { length: 16284, path: ['.pad', 'x'], attr: 'p' }, { length: 201, path: ['b'] }], 2],
      [[{ length: 100, path: ['a'] }, { length: 200, path: ['b'] }], 1],
    ];
    for (const [files, pieces] of cases) {
      expect(thrown(() => parseTorrent(hybrid(files, pieces))).code).toBe('TORRENT_HYBRID_MISMATCH');
    }
  });

  it('refuses malformed file trees with specific codes', () => {
    const cases: [Encodable, string][] = [
      ['not a dict', 'TORRENT_BAD_FILE_TREE'],
      [{ a: 5 }, 'TORRENT_BAD_FILE_TREE'],
      [{ '': leaf(5).get('')! }, 'TORRENT_BAD_FILE_TREE'],
      [{ a: new Map<string, Encodable>([['', { length: 5, 'pieces root': ROOT_32 }], ['x', leaf(1)]]) }, 'TORRENT_BAD_FILE_TREE'],
      [{ a: leaf(5, { attr: 'p' }) }, 'TORRENT_BAD_FILE_TREE'],
      [{ a: new Map<string, Encodable>([['', 'x']]) }, 'TORRENT_BAD_FILE_TREE'],
      [{}, 'TORRENT_NO_FILES'],
      [{ a: new Map<string, Encodable>([['', { length: 5 }]]) }, 'TORRENT_BAD_PIECES_ROOT'],
      [{ a: new Map<string, Encodable>([['', { length: 5, 'pieces root': Buffer.alloc(31, 1) }]]) }, 'TORRENT_BAD_PIECES_ROOT'],
      [{ a: new Map<string, Encodable>([['', { length: 5, 'pieces root': Buffer.alloc(32) }]]) }, 'TORRENT_BAD_PIECES_ROOT'],
      [{ a: new Map<string, Encodable>([['', { length: -5 }]]) }, 'TORRENT_BAD_FILE_LENGTH'],
      [{ 'a\0b': leaf(5) }, 'TORRENT_BAD_PATH'],
    ];
    for (const [tree, code] of cases) {
      expect(thrown(() => parseTorrent(v2Torrent(tree))).code, JSON.stringify(tree, (_k, v) => (v instanceof Map ? [...v] : v))).toBe(code);
    }
  });

  it('bounds the depth of the file tree (option maxFileTreeDepth)', () => {
    let tree: Encodable = leaf(1);
    for (let i = 0; i < 30; i++) tree = { [`d${i}`]: tree };
    expect(parseTorrent(v2Torrent(tree)).files[0]!.path.split('/')).toHaveLength(31);
    const e = thrown(() => parseTorrent(v2Torrent(tree), { maxFileTreeDepth: 20 }));
    expect(e.code).toBe('TORRENT_BAD_FILE_TREE');
  });

  it('v2 piece length must be a power of two of at least 16 KiB', () => {
    for (const pieceLength of [8192, 16383, 49152]) {
      expect(thrown(() => parseTorrent(v2Torrent({ a: leaf(5) }, { 'piece length': pieceLength }))).code).toBe(
        'TORRENT_BAD_PIECE_LENGTH',
      );
    }
  });

  it('warns about missing or wrong piece layers (they are outside info: hashes are unaffected)', () => {
    const big = { a: leaf(40_000) };
    const missing = parseTorrent(v2Torrent(big));
    expect(codes(missing)).toContain('TORRENT_BAD_PIECE_LAYERS');
    const wrongSize = parseTorrent(v2Torrent(big, {}, { 'piece layers': new Map([[ROOT_32.toString('latin1'), Buffer.alloc(64, 1)]]) }));
    expect(wrongSize.warnings.find((w) => w.code === 'TORRENT_BAD_PIECE_LAYERS')?.message).toMatch(/64 bytes for 3 pieces/);
    const wrongHash = parseTorrent(v2Torrent(big, {}, { 'piece layers': new Map([[ROOT_32.toString('latin1'), Buffer.alloc(96, 1)]]) }));
    expect(wrongHash.warnings.find((w) => w.code === 'TORRENT_BAD_PIECE_LAYERS')?.message).toMatch(/do not match/);
    expect(wrongHash.infoHashV2).toBe(missing.infoHashV2);
  });

  it('refuses a file tree without meta version 2, and meta version 2 without a file tree', () => {
    expect(thrown(() => parseTorrent(singleFile({ 'file tree': { a: leaf(1) } }))).code).toBe('TORRENT_BAD_META_VERSION');
    expect(thrown(() => parseTorrent(singleFile({ 'meta version': 2 }))).code).toBe('TORRENT_BAD_FILE_TREE');
    expect(thrown(() => parseTorrent(singleFile({ 'meta version': 3 }))).code).toBe('TORRENT_UNKNOWN_VERSION');
    expect(thrown(() => parseTorrent(singleFile({ 'meta version': 0 }))).code).toBe('TORRENT_BAD_META_VERSION');
    expect(thrown(() => parseTorrent(singleFile({ 'meta version': '2' }))).code).toBe('TORRENT_BAD_META_VERSION');
  });
});

describe('parseTorrent: unsafe paths and names', () => {
  const unsafe = [['..', 'etc'], ['.'], [''], ['a/b'], ['a\\b'], ['/abs']];

  it('shows paths clients would sanitise, with one warning listing examples (default)', () => {
    for (const path of unsafe) {
      const t = parseTorrent(multiFile([{ length: 5, path }]));
      expect(t.files[0]!.path).toBe(`folder/${path.join('/')}`);
      expect(codes(t)).toContain('TORRENT_UNSAFE_PATH');
    }
    const many = parseTorrent(multiFile(Array.from({ length: 10 }, (_, i) => ({ length: 1, path: ['..', `f${i}`] }))));
    const warnings = many.warnings.filter((w) => w.code === 'TORRENT_UNSAFE_PATH');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/and 7 more/);
  });

  it('refuses them with unsafePaths: reject', () => {
    for (const path of unsafe) {
      expect(thrown(() => parseTorrent(multiFile([{ length: 5, path }]), { unsafePaths: 'reject' })).code).toBe('TORRENT_BAD_PATH');
    }
    expect(thrown(() => parseTorrent(singleFile({ name: '..' }), { unsafePaths: 'reject' })).code).toBe('TORRENT_BAD_NAME');
  });

  it('always refuses a NUL byte, a non-string element and a missing path', () => {
    for (const files of [
      [{ length: 5, path: ['a\0'] }],
      [{ length: 5, path: ['a', 5] }],
      [{ length: 5, path: [] }],
      [{ length: 5 }],
      [{ length: 5, path: 'a' }],
    ] as Encodable[][]) {
      expect(thrown(() => parseTorrent(encode({ info: { name: 'x', 'piece length': 16384, pieces: pieceHashes(1), files } }))).code).toBe(
        'TORRENT_BAD_PATH',
      );
    }
  });

  it('warns about an unsafe name, refuses a missing, empty or NUL name', () => {
    expect(codes(parseTorrent(singleFile({ name: 'a/../b' })))).toContain('TORRENT_UNSAFE_NAME');
    for (const name of [undefined, '', 'a\0b', 5, ['x']]) {
      expect(thrown(() => parseTorrent(singleFile({ name: name as Encodable }))).code).toBe('TORRENT_BAD_NAME');
    }
  });
});

describe('parseTorrent: typed errors', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['not bencode', () => Buffer.from('<html>'), 'TORRENT_NOT_BENCODE'],
    ['a list', () => encode([1, 2]), 'TORRENT_NOT_DICT'],
    ['no info', () => encode({ announce: 'x' }), 'TORRENT_NO_INFO'],
    ['info a string', () => encode({ info: 'x' }), 'TORRENT_NO_INFO'],
    ['no piece length', () => singleFile({ 'piece length': undefined }), 'TORRENT_BAD_PIECE_LENGTH'],
    ['piece length a string', () => singleFile({ 'piece length': '16384', pieces: pieceHashes(1) }), 'TORRENT_BAD_PIECE_LENGTH'],
    ['piece length 0', () => singleFile({ 'piece length': 0, pieces: pieceHashes(1) }), 'TORRENT_BAD_PIECE_LENGTH'],
    ['piece length negative', () => singleFile({ 'piece length': -16384, pieces: pieceHashes(1) }), 'TORRENT_BAD_PIECE_LENGTH'],
    ['piece length 2 GiB', () => singleFile({ 'piece length': 2 ** 31, pieces: pieceHashes(1) }), 'TORRENT_BAD_PIECE_LENGTH'],
    ['no pieces', () => singleFile({ pieces: undefined }), 'TORRENT_BAD_PIECES'],
    ['pieces an integer', () => singleFile({ pieces: 5 }), 'TORRENT_BAD_PIECES'],
    ['pieces 21 bytes', () => singleFile({ pieces: Buffer.alloc(21) }), 'TORRENT_BAD_PIECES'],
    ['too few pieces', () => singleFile({ length: 40_000, pieces: pieceHashes(2) }), 'TORRENT_BAD_PIECES'],
    ['too many pieces', () => singleFile({ length: 40_000, pieces: pieceHashes(4) }), 'TORRENT_BAD_PIECES'],
    ['neither length nor files', () => singleFile({ length: undefined, pieces: pieceHashes(1) }), 'TORRENT_NO_FILES'],
    ['empty files list', () => multiFile([], { pieces: pieceHashes(1) }), 'TORRENT_NO_FILES'],
    ['files a dict', () => singleFile({ length: undefined, files: { a: 1 } }), 'TORRENT_BAD_FILE_LIST'],
    ['file entry a list', () => singleFile({ length: undefined, files: [[1]] }), 'TORRENT_BAD_FILE_LIST'],
    ['length a string', () => singleFile({ length: '5', pieces: pieceHashes(1) }), 'TORRENT_BAD_FILE_LENGTH'],
    ['length negative', () => singleFile({ length: -5, pieces: pieceHashes(1) }), 'TORRENT_BAD_FILE_LENGTH'],
    ['length a bigint', () => singleFile({ length: 10n ** 20n, pieces: pieceHashes(1) }), 'TORRENT_BAD_FILE_LENGTH'],
    ['file length missing', () => multiFile([{ length: 5, path: ['a'] }], { files: [{ path: ['a'] }] }), 'TORRENT_BAD_FILE_LENGTH'],
    ['file length a list', () => multiFile([{ length: 5, path: ['a'] }], { files: [{ length: [5], path: ['a'] }] }), 'TORRENT_BAD_FILE_LENGTH'],
    [
      'file over the limit',
      () => singleFile({ length: DEFAULT_MAX_FILE_LENGTH + 1, 'piece length': 2 ** 30, pieces: pieceHashes(1) }),
      'TORRENT_BAD_FILE_LENGTH',
    ],
    ['all files empty', () => multiFile([{ length: 0, path: ['a'] }], { pieces: Buffer.alloc(0) }), 'TORRENT_ZERO_SIZE'],
    [
      'more pieces than the limit',
      () => singleFile({ length: (DEFAULT_MAX_PIECE_COUNT + 1) * 16384, pieces: pieceHashes(1) }),
      'TORRENT_TOO_MANY_PIECES',
    ],
  ];
  for (const [what, bytes, code] of cases) {
    it(`${what} → ${code}`, () => {
      const e = thrown(() => parseTorrent(bytes()));
      expect(e).toBeInstanceOf(TorrentError);
      expect(e.code).toBe(code);
      expect(e.message.length).toBeGreaterThan(10);
    });
  }

  it('wraps a decode error: its code and byte offset are kept', () => {
    const e = thrown(() => parseTorrent(Buffer.from('d4:infoi03ee')));
    expect(e.code).toBe('TORRENT_NOT_BENCODE');
    expect(e.offset).toBe(8);
    expect(e.message).toContain('BENCODE_BAD_INTEGER');
    expect(e.message).toMatch(/at byte 8$/);
    expect((e.cause as TrackerscopeError).code).toBe('BENCODE_BAD_INTEGER');
  });

  it('honours the size limits given as options', () => {
    expect(thrown(() => parseTorrent(singleFile({ length: 5000 }), { maxFileLength: 4999 })).code).toBe('TORRENT_BAD_FILE_LENGTH');
    expect(thrown(() => parseTorrent(multiFile([{ length: 3000, path: ['a'] }, { length: 3000, path: ['b'] }]), { maxTotalSize: 5999 })).code).toBe(
      'TORRENT_TOO_LARGE',
    );
    expect(thrown(() => parseTorrent(singleFile({ length: 40_000 }), { maxPieceCount: 2 })).code).toBe('TORRENT_TOO_MANY_PIECES');
    expect(thrown(() => parseTorrent(singleFile({ 'piece length': 32768, length: 40_000 }), { maxPieceLength: 16384 })).code).toBe(
      'TORRENT_BAD_PIECE_LENGTH',
    );
    expect(thrown(() => parseTorrent(singleFile(), { maxDepth: 1 })).code).toBe('TORRENT_NOT_BENCODE');
  });
});
