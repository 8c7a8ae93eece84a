import { describe, expect, it } from 'vitest';
import { type Encodable, encode } from '../../src/bencode/index.js';
import type { TrackerscopeError } from '../../src/errors.js';
import {
  capTiers,
  DEFAULT_MAX_FILE_LENGTH,
  DEFAULT_MAX_PIECE_COUNT,
  DEFAULT_MAX_TRACKERS,
  DEFAULT_MAX_WEB_SEEDS,
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
    expect(dateOf(1).creationDate).toEqual(new Date(1000));
    expect(dateOf(1_234_567).creationDate).toEqual(new Date(1_234_567_000));
  });

  it('reads 0 as no date, as libtorrent does, without a warning', () => {
    const t = dateOf(0);
    expect(t.creationDate).toBeNull();
    expect(codes(t)).toEqual([]);
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

  it('ignores any other bytes after the torrent too, as libtorrent does, with a warning at their offset', () => {
    const bytes = singleFile();
    for (const tail of [Buffer.from('garbage'), Buffer.from([0, 0]), Buffer.from('e'), Buffer.from('\nxyz'), encode({ info: 'x' })]) {
      const t = parseTorrent(Buffer.concat([bytes, tail]));
      expect(t.infoHashV1).toBe(sha1Hex(infoOf(bytes)));
      const warning = t.warnings.find((w) => w.code === 'TORRENT_TRAILING_DATA');
      expect(warning?.offset).toBe(bytes.length);
      expect(warning?.message).toContain(`${tail.length} byte(s) after the end of the torrent were ignored`);
    }
  });

  it('still judges what comes before trailing bytes as strictly as ever', () => {
    expect(thrown(() => parseTorrent(Buffer.from('i5egarbage'))).code).toBe('TORRENT_NOT_DICT');
    expect(thrown(() => parseTorrent(Buffer.from('d8:announce3:urlegarbage'))).code).toBe('TORRENT_NO_INFO');
    const truncated = thrown(() => parseTorrent(Buffer.concat([singleFile().subarray(0, 40)])));
    expect(truncated.code).toBe('TORRENT_NOT_BENCODE');
    const badInteger = thrown(() => parseTorrent(Buffer.from('d4:infoi03eegarbage')));
    expect(badInteger.code).toBe('TORRENT_NOT_BENCODE');
    expect((badInteger.cause as TrackerscopeError).code).toBe('BENCODE_BAD_INTEGER');
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

  it('hybrid: matches v1 paths to the v2 tree element by element, at every depth', () => {
    const hybrid = (paths: string[][], tree: Encodable) =>
      encode({
        info: {
          name: 'h',
          'piece length': 16384,
          'meta version': 2,
          'file tree': tree,
          files: paths.map((path) => ({ length: 100, path })),
          pieces: pieceHashes(1),
        },
      });
    const tree = { d: { x: leaf(100) } };
    expect(parseTorrent(hybrid([['d', 'x']], tree)).files).toEqual([{ path: 'h/d/x', size: 100 }]);
    for (const paths of [[['d', 'y']], [['x']], [['e', 'x']], [['a', 'd', 'x']], [['d', 'x', 'z']]]) {
      const e = thrown(() => parseTorrent(hybrid(paths, tree)));
      expect(e.code).toBe('TORRENT_HYBRID_MISMATCH');
      expect(e.message).toContain(`file 1 is "h/${paths[0]!.join('/')}" in v1 and "h/d/x" in v2`);
    }
    const noRoot = { d: { x: new Map<string, Encodable>([['', { length: 100 }]]) } };
    expect(thrown(() => parseTorrent(hybrid([['d', 'x']], noRoot))).message).toContain('"h/d/x" has no 32-byte pieces root');
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

  it('re-hashes piece layers only within maxVerifiedLayerHashes; sizes are checked whatever the budget', () => {
    const big = { a: leaf(40_000) };
    const layers = (bytes: number) => ({ 'piece layers': new Map([[ROOT_32.toString('latin1'), Buffer.alloc(bytes, 1)]]) });
    const layerWarnings = (t: { warnings: { code: string; message: string }[] }) =>
      t.warnings.filter((w) => w.code === 'TORRENT_BAD_PIECE_LAYERS').map((w) => w.message);
    expect(layerWarnings(parseTorrent(v2Torrent(big, {}, layers(96)), { maxVerifiedLayerHashes: 3 }))[0]).toMatch(/do not match/);
    // Three hashes, a budget of two: not re-hashed, and nothing to say about it.
    expect(layerWarnings(parseTorrent(v2Torrent(big, {}, layers(96)), { maxVerifiedLayerHashes: 2 }))).toEqual([]);
    expect(layerWarnings(parseTorrent(v2Torrent(big, {}, layers(64)), { maxVerifiedLayerHashes: 0 }))[0]).toMatch(/64 bytes for 3 pieces/);
  });

  it('finds each file its own layer among roots that share their first bytes', () => {
    // Three roots alike but for their last byte, and layers of three different sizes: a layer
    // given to the wrong file would be reported as the wrong size.
    const root = (last: number) => Buffer.concat([Buffer.alloc(31, 9), Buffer.from([last])]);
    const file = (last: number, length: number) =>
      new Map<string, Encodable>([['', { length, 'pieces root': root(last) }]]);
    const tree = { a: file(1, 40_000), b: file(2, 60_000), c: file(3, 80_000) };
    const layers = new Map([
      [root(3).toString('latin1'), Buffer.alloc(5 * 32, 1)],
      [root(1).toString('latin1'), Buffer.alloc(3 * 32, 1)],
      [root(2).toString('latin1'), Buffer.alloc(4 * 32, 1)],
    ]);
    const t = parseTorrent(v2Torrent(tree, {}, { 'piece layers': layers }), { maxVerifiedLayerHashes: 0 });
    expect(t.warnings.filter((w) => w.code === 'TORRENT_BAD_PIECE_LAYERS')).toEqual([]);
    const swapped = new Map([
      [root(1).toString('latin1'), Buffer.alloc(4 * 32, 1)],
      [root(2).toString('latin1'), Buffer.alloc(5 * 32, 1)],
      [root(3).toString('latin1'), Buffer.alloc(3 * 32, 1)],
    ]);
    const bad = parseTorrent(v2Torrent(tree, {}, { 'piece layers': swapped }), { maxVerifiedLayerHashes: 0 });
    expect(bad.warnings.find((w) => w.code === 'TORRENT_BAD_PIECE_LAYERS')?.message).toContain(
      '"v2/a": 128 bytes for 3 pieces; "v2/b": 160 bytes for 4 pieces; "v2/c": 96 bytes for 5 pieces',
    );
  });

  it('names three layer problems and counts the rest', () => {
    const tree = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`f${i}`, leaf(40_000)]));
    const elsewhere = { 'piece layers': new Map([['x'.repeat(32), Buffer.alloc(96, 1)]]) };
    const message = parseTorrent(v2Torrent(tree, {}, elsewhere)).warnings.find((w) => w.code === 'TORRENT_BAD_PIECE_LAYERS')?.message;
    expect(message).toContain('"v2/f0" has none; "v2/f1" has none; "v2/f2" has none (and 2 more)');
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

  it('wraps a decode error: its code and byte offset are kept, the message is for a person', () => {
    const e = thrown(() => parseTorrent(Buffer.from('d4:infoi03ee')));
    expect(e.code).toBe('TORRENT_NOT_BENCODE');
    expect(e.offset).toBe(8);
    expect(e.message).toMatch(/^not a torrent file: .+ at byte 8$/);
    // The decoder's code is machine data: on `cause`, not in the sentence.
    expect(e.message).not.toContain('BENCODE_');
    expect((e.cause as TrackerscopeError).code).toBe('BENCODE_BAD_INTEGER');
    const cut = thrown(() => parseTorrent(Buffer.from('d4:infoi42')));
    expect(cut.message).toBe('not a torrent file: unexpected end of data in an integer at byte 10');
    expect(cut.message).not.toContain('BENCODE_UNEXPECTED_END');
    expect((cut.cause as TrackerscopeError).code).toBe('BENCODE_UNEXPECTED_END');
  });

  it('says what is wrong with a file length in words: which file, its length and the limit', () => {
    const overLimit = thrown(() =>
      parseTorrent(singleFile({ length: 10n ** 20n, 'piece length': 2 ** 30, pieces: pieceHashes(1) })),
    );
    expect(overLimit.message).toBe(
      'the length of its single file is 100,000,000,000,000,000,000 bytes, more than the 17,592,186,028,031-byte (16 TiB) limit for one file' +
        ` at byte ${overLimit.offset}`,
    );
    expect(thrown(() => parseTorrent(singleFile({ length: -5, pieces: pieceHashes(1) }))).message).toMatch(
      /^the length of its single file is negative \(-5\) at byte \d+$/,
    );
    expect(thrown(() => parseTorrent(singleFile({ length: '5', pieces: pieceHashes(1) }))).message).toMatch(
      /^the length of its single file is a byte string, not an integer at byte \d+$/,
    );
    expect(thrown(() => parseTorrent(multiFile([{ length: 5, path: ['a'] }], { files: [{ length: 5, path: ['a'] }, { path: ['b'] }] }))).message).toMatch(
      /^file 2 has no length at byte \d+$/,
    );
    expect(thrown(() => parseTorrent(singleFile({ length: 5000 }), { maxFileLength: 4999 })).message).toMatch(
      /^the length of its single file is 5,000 bytes, more than the 4,999-byte \(4\.88 KiB\) limit for one file at byte \d+$/,
    );
    expect(thrown(() => parseTorrent(v2Torrent({ dir: { a: new Map<string, Encodable>([['', { length: -5 }]]) } }))).message).toMatch(
      /^the length of "[^"]*dir\/a" is negative \(-5\) at byte \d+$/,
    );
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

describe('parseTorrent: bounded tracker and web seed lists', () => {
  /** A torrent whose announce-list holds `count` distinct URLs, one tier each, written byte by byte. */
  function manyTrackers(count: number): Buffer {
    const parts = ['d13:announce-listl'];
    for (let i = 0; i < count; i++) {
      const url = `udp://127.0.0.1:1/${i}`;
      parts.push(`l${url.length}:${url}e`);
    }
    parts.push('e4:info');
    return Buffer.concat([Buffer.from(parts.join('')), infoOf(singleFile()), Buffer.from('e')]);
  }

  it(`keeps the first ${DEFAULT_MAX_TRACKERS} of 300 000 announce URLs, in tier order, and says how many were dropped`, () => {
    const bytes = manyTrackers(300_000);
    const start = performance.now();
    const t = parseTorrent(bytes);
    const ms = performance.now() - start;
    expect(t.trackers.flat()).toEqual(Array.from({ length: DEFAULT_MAX_TRACKERS }, (_, i) => `udp://127.0.0.1:1/${i}`));
    expect(t.trackers).toHaveLength(DEFAULT_MAX_TRACKERS);
    const warning = t.warnings.find((w) => w.code === 'TORRENT_TOO_MANY_TRACKERS');
    expect(warning?.message).toContain(`${300_000 - DEFAULT_MAX_TRACKERS} were dropped`);
    expect(warning?.message).toContain('300000 distinct tracker URLs');
    // Generous for a loaded 2-core machine: the point is that 300 000 URLs are not 300 000 scrapes.
    expect(ms).toBeLessThan(3000);
  });

  it('counts distinct URLs: repeats and blanks neither take a place nor count as dropped', () => {
    const tiers = [
      ['udp://127.0.0.1:1/a', 'udp://127.0.0.1:1/b', ' '],
      ['udp://127.0.0.1:1/a', 'udp://127.0.0.1:1/c', 'udp://127.0.0.1:1/d'],
      ['udp://127.0.0.1:1/e', 'udp://127.0.0.1:1/d', 'udp://127.0.0.1:1/b', 'udp://127.0.0.1:1/e'],
    ];
    const t = parseTorrent(singleFile({}, { 'announce-list': tiers }), { maxTrackers: 3 });
    expect(t.trackers).toEqual([['udp://127.0.0.1:1/a', 'udp://127.0.0.1:1/b'], ['udp://127.0.0.1:1/c']]);
    const warning = t.warnings.find((w) => w.code === 'TORRENT_TOO_MANY_TRACKERS');
    expect(warning?.message).toBe('5 distinct tracker URLs: only the first 3 (in tier order) are kept and scraped; 2 were dropped');
    expect(capTiers(tiers, 3)).toEqual({ tiers: t.trackers, dropped: 2 });
    expect(capTiers(tiers, 5).dropped).toBe(0);
    const exactly = parseTorrent(singleFile({}, { 'announce-list': tiers }), { maxTrackers: 5 });
    expect(codes(exactly)).not.toContain('TORRENT_TOO_MANY_TRACKERS');
    expect(exactly.trackers.flat()).toHaveLength(5);
  });

  it(`keeps the first ${DEFAULT_MAX_WEB_SEEDS} web seeds, with a warning`, () => {
    const seeds = Array.from({ length: DEFAULT_MAX_WEB_SEEDS + 25 }, (_, i) => `http://127.0.0.1:8080/${i}/`);
    const t = parseTorrent(singleFile({}, { 'url-list': [...seeds, seeds[0]!] }));
    expect(t.webSeeds).toEqual(seeds.slice(0, DEFAULT_MAX_WEB_SEEDS));
    expect(t.warnings.find((w) => w.code === 'TORRENT_TOO_MANY_WEB_SEEDS')?.message).toContain('25 were dropped');
    const few = parseTorrent(singleFile({}, { 'url-list': seeds.slice(0, 3) }), { maxWebSeeds: 2 });
    expect(few.webSeeds).toEqual(seeds.slice(0, 2));
    expect(few.warnings.find((w) => w.code === 'TORRENT_TOO_MANY_WEB_SEEDS')?.message).toContain('1 were dropped');
  });
});

describe("parseTorrent: the 'encoding' of old clients (BitComet)", () => {
  // 中文 in GBK, written byte by byte (GB 2312 row/cell + 0xA0): 中 = D6 D0, 文 = CE C4.
  const GBK_CHINESE = Buffer.from([0xd6, 0xd0, 0xce, 0xc4]);
  const gbkTorrent = (encoding: Encodable | undefined, name: Buffer = Buffer.concat([GBK_CHINESE, Buffer.from('.txt')])) =>
    encode({
      comment: Buffer.concat([Buffer.from('by '), GBK_CHINESE]),
      encoding,
      info: {
        name,
        'piece length': 16384,
        pieces: pieceHashes(1),
        files: [
          { length: 5, path: ['sub', GBK_CHINESE] },
          { length: 5, path: ['ascii'] },
        ],
      },
    });

  it('decodes text that is not UTF-8 with the torrent encoding, and says which', () => {
    const t = parseTorrent(gbkTorrent('GBK'));
    expect(t.name).toBe('中文.txt');
    expect(t.files.map((f) => f.path)).toEqual(['中文.txt/sub/中文', '中文.txt/ascii']);
    expect(t.comment).toBe('by 中文');
    const warnings = t.warnings.filter((w) => w.code === 'TORRENT_TEXT_ENCODING');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toBe(
      `text that is not UTF-8 was decoded as gbk, the torrent's 'encoding' ("GBK"): name, file paths, comment`,
    );
  });

  it('reads Windows code-page names (cp936) and WHATWG aliases (gb2312) as GBK', () => {
    expect(parseTorrent(gbkTorrent('CP936')).name).toBe('中文.txt');
    expect(parseTorrent(gbkTorrent('gb2312')).name).toBe('中文.txt');
  });

  it('without an encoding, or with one it cannot use, shows the bytes as latin1 and says why', () => {
    const none = parseTorrent(gbkTorrent(undefined));
    expect(none.name).toBe('ÖÐÎÄ.txt');
    expect(none.warnings.find((w) => w.code === 'TORRENT_TEXT_ENCODING')?.message).toMatch(/^text that is not UTF-8 is shown byte by byte \(latin1\): name/);
    const unknown = parseTorrent(gbkTorrent('x-no-such-encoding'));
    expect(unknown.name).toBe('ÖÐÎÄ.txt');
    expect(unknown.warnings.find((w) => w.code === 'TORRENT_TEXT_ENCODING')?.message).toContain(
      `the torrent's 'encoding' "x-no-such-encoding" is not one this server can decode`,
    );
    // 0x81 opens a two-byte GBK character that never comes: not GBK either.
    const broken = parseTorrent(gbkTorrent('GBK', Buffer.from([0x61, 0x81])));
    expect(broken.name).toBe('a\u0081');
    const messages = broken.warnings.filter((w) => w.code === 'TORRENT_TEXT_ENCODING').map((w) => w.message);
    expect(messages).toContainEqual(expect.stringMatching(/^text that is not UTF-8 was decoded as gbk.*: file paths, comment$/));
    expect(messages).toContainEqual(expect.stringMatching(/not valid gbk either.*: name$/));
  });

  it('keeps valid UTF-8 as UTF-8 whatever the encoding says, and ignores encoding: UTF-8', () => {
    const utf8 = parseTorrent(gbkTorrent('GBK', Buffer.from('中文.txt')));
    expect(utf8.name).toBe('中文.txt');
    const t = parseTorrent(gbkTorrent('UTF-8'));
    expect(t.name).toBe('ÖÐÎÄ.txt');
    expect(t.warnings.find((w) => w.code === 'TORRENT_TEXT_ENCODING')?.message).not.toContain('encoding');
  });

  it('decodes v2 file tree names with it too', () => {
    const t = parseTorrent(
      encode({
        encoding: 'GBK',
        info: { name: 'v2', 'piece length': 16384, 'meta version': 2, 'file tree': new Map([[GBK_CHINESE.toString('latin1'), leaf(5)]]) },
      }),
    );
    expect(t.files[0]!.path).toBe('中文');
  });
});

describe("parseTorrent: 'files' that is not a list beside 'length'", () => {
  it('reads a single-file torrent, as libtorrent does, with a warning', () => {
    for (const files of ['a/b.bin', 5, { a: 1 }] as Encodable[]) {
      const bytes = singleFile({ name: 'one.bin', length: 20_000, files });
      const t = parseTorrent(bytes);
      expect(t.files).toEqual([{ path: 'one.bin', size: 20_000 }]);
      expect(t.totalSize).toBe(20_000);
      expect(t.pieceCount).toBe(2);
      expect(t.infoHashV1).toBe(sha1Hex(infoOf(bytes)));
      expect(t.warnings.find((w) => w.code === 'TORRENT_IGNORED_FIELD')?.message).toMatch(/^'files' is .*, not a list: ignored/);
    }
  });

  it("still refuses it without 'length', and reads a list of files over 'length'", () => {
    expect(thrown(() => parseTorrent(singleFile({ length: undefined, files: 'a' }))).code).toBe('TORRENT_BAD_FILE_LIST');
    const both = parseTorrent(multiFile([{ length: 7, path: ['a'] }], { length: 1000 }));
    expect(both.files).toEqual([{ path: 'folder/a', size: 7 }]);
    expect(codes(both)).not.toContain('TORRENT_IGNORED_FIELD');
  });
});

describe('parseTorrent: path traversal is named as such', () => {
  const TRAVERSAL = "path contains '..' (path traversal): shown as written, never used as a file path";

  it("says so for '..' in a v1 path, a v2 file tree and the name", () => {
    const v1 = parseTorrent(multiFile([{ length: 5, path: ['..', '..', 'etc', 'passwd'] }]));
    expect(v1.warnings.find((w) => w.code === 'TORRENT_UNSAFE_PATH')?.message).toBe(`${TRAVERSAL}: "folder/../../etc/passwd"`);
    const v2 = parseTorrent(v2Torrent({ '..': { 'x.bin': leaf(5), 'y.bin': leaf(5) }, 'z.bin': leaf(5) }));
    expect(v2.files.map((f) => f.path)).toEqual(['v2/../x.bin', 'v2/../y.bin', 'v2/z.bin']);
    expect(v2.warnings.find((w) => w.code === 'TORRENT_UNSAFE_PATH')?.message).toBe(`${TRAVERSAL}: "v2/../x.bin", "v2/../y.bin"`);
    for (const name of ['..', 'a/../b', '..\\x']) {
      const t = parseTorrent(singleFile({ name }));
      expect(t.warnings.find((w) => w.code === 'TORRENT_UNSAFE_NAME')?.message).toBe(
        `the name "${name}" contains '..' (path traversal): shown as written, never used as a file path`,
      );
    }
  });

  it("keeps other unsafe elements apart from '..', in their own warning", () => {
    const t = parseTorrent(
      multiFile([
        { length: 5, path: ['ok', '..', 'a'] },
        { length: 5, path: ['.', 'b'] },
        { length: 5, path: ['c/d'] },
        { length: 5, path: ['', '..', 'e'] },
      ]),
    );
    const messages = t.warnings.filter((w) => w.code === 'TORRENT_UNSAFE_PATH').map((w) => w.message);
    expect(messages).toEqual([
      `${TRAVERSAL}: "folder/ok/../a", "folder//../e"`,
      `path has an empty or '.' element, or one containing '/' or '\\' (clients rename it): shown as written, never used as a file path: "folder/./b", "folder/c/d"`,
    ]);
  });

  it('refuses both kinds under unsafePaths: reject, naming traversal', () => {
    const e = thrown(() => parseTorrent(multiFile([{ length: 5, path: ['..', 'x'] }]), { unsafePaths: 'reject' }));
    expect(e.code).toBe('TORRENT_BAD_PATH');
    expect(e.message).toContain("contains '..' (path traversal)");
    expect(thrown(() => parseTorrent(singleFile({ name: 'a/../b' }), { unsafePaths: 'reject' })).message).toContain('path traversal');
  });
});
