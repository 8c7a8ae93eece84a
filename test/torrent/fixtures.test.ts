import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import bencode from 'bencode';
import parseTorrentNpm from 'parse-torrent';
import { describe, expect, it } from 'vitest';
import webtorrentFixtures, { type TorrentFixture } from 'webtorrent-fixtures';
import { normaliseTiers, parseTorrent, type Torrent } from '../../src/torrent/index.js';
import { canonicalInfo, FIXTURES, SHA1_LENGTH, sha1Hex, thrown } from './helpers.js';

interface OracleView {
  infoHashV1: string | null;
  infoHashV2: string | null;
  name: string;
  numPieces: number;
  pieceLength: number;
  totalSize: number;
  files: { path: string; size: number; pad: boolean }[];
  trackerTiers: string[][];
  webSeeds: string[];
  private: boolean;
  comment: string;
  creator: string;
  creationDate: number;
}

interface MktorrentInput {
  file: string;
  name: string;
  files: { path: string; size: number }[];
  pieceLength: number;
  tiers: string[][];
  webSeeds: string[];
  comment: string | null;
  private: boolean;
  createdBy: string;
}

const oracle = JSON.parse(readFileSync(join(FIXTURES, 'oracle.json'), 'utf8')) as Record<string, OracleView>;
const inputs = JSON.parse(readFileSync(join(FIXTURES, 'mktorrent/inputs.json'), 'utf8')) as MktorrentInput[];
const codes = (t: Torrent) => t.warnings.map((w) => w.code);

/** libtorrent's view (made by make_fixtures.py with python3-libtorrent) against ours. */
function expectAgreesWithLibtorrent(t: Torrent, lt: OracleView): void {
  expect(t.infoHashV1).toBe(lt.infoHashV1);
  expect(t.infoHashV2).toBe(lt.infoHashV2);
  expect(t.pieceCount).toBe(lt.numPieces);
  expect(t.pieceLength).toBe(lt.pieceLength);
  expect(t.name).toBe(lt.name);
  expect(t.private).toBe(lt.private);
  expect(t.comment ?? '').toBe(lt.comment);
  expect(t.createdBy ?? '').toBe(lt.creator);
  expect(t.creationDate?.getTime() ?? 0).toBe(lt.creationDate * 1000);
  expect(t.webSeeds).toEqual(lt.webSeeds);
  // libtorrent shuffles the URLs of a tier (the oracle lists each sorted) and keeps repeats.
  expect(t.trackers.map((tier) => [...tier].sort())).toEqual(normaliseTiers(lt.trackerTiers));
  const listed = lt.files.filter((f) => !f.pad);
  expect(t.files).toEqual(listed.map((f) => ({ path: f.path, size: f.size })));
  if (t.version === 'v2') {
    // libtorrent pads every v2 file to a piece boundary in its total; ours is the content itself.
    const aligned = t.files.reduce((sum, f) => sum + Math.ceil(f.size / t.pieceLength!) * t.pieceLength!, 0);
    expect(aligned).toBe(lt.totalSize);
  } else {
    expect(t.totalSize).toBe(lt.totalSize);
    expect(t.paddingFiles).toBe(lt.files.length - listed.length);
  }
}

describe('mktorrent fixtures: against what mktorrent was given, and libtorrent', () => {
  for (const input of inputs) {
    it(input.file, () => {
      const bytes = readFileSync(join(FIXTURES, 'mktorrent', input.file));
      const t = parseTorrent(bytes);
      const single = input.files.length === 1 && input.files[0]!.path === input.name;
      expect(t.version).toBe('v1');
      expect(t.name).toBe(input.name);
      // mktorrent lists files sorted; single-file torrents are named after the file.
      expect(t.files).toEqual(single ? [{ path: input.name, size: input.files[0]!.size }] : input.files);
      const total = input.files.reduce((sum, f) => sum + f.size, 0);
      expect(t.totalSize).toBe(total);
      expect(t.pieceLength).toBe(input.pieceLength);
      expect(t.pieceCount).toBe(Math.ceil(total / input.pieceLength));
      expect(t.private).toBe(input.private);
      expect(t.comment).toBe(input.comment);
      expect(t.createdBy).toBe(input.createdBy);
      expect(t.webSeeds).toEqual(input.webSeeds);
      expect(t.trackers).toEqual(normaliseTiers(input.tiers));
      expect(codes(t)).toEqual(input.tiers.length === 0 ? ['TORRENT_NO_TRACKERS'] : []);
      // mktorrent writes canonical bencode: the hash of `bencode`'s re-encoding must match too.
      expect(t.infoHashV1).toBe(sha1Hex(canonicalInfo(bytes)));
      expectAgreesWithLibtorrent(t, oracle[`mktorrent/${input.file}`]!);
    });
  }

  it('tiers.torrent: repeats across tiers removed, the emptied tier dropped, order kept', () => {
    const t = parseTorrent(readFileSync(join(FIXTURES, 'mktorrent/tiers.torrent')));
    expect(t.trackers).toEqual([
      ['http://127.0.0.1:7001/announce', 'http://127.0.0.1:7002/announce'],
      ['udp://127.0.0.1:7003/announce'],
      ['ws://127.0.0.1:7004/announce'],
    ]);
  });
});

describe('libtorrent-made v2 and hybrid fixtures: against python3-libtorrent', () => {
  const made = Object.keys(oracle).filter((k) => k.startsWith('libtorrent/'));
  it('covers v2-only and hybrid, single- and multi-file', () => {
    expect(made.sort()).toEqual([
      'libtorrent/hybrid-single.torrent',
      'libtorrent/hybrid.torrent',
      'libtorrent/v2-only.torrent',
      'libtorrent/v2-single.torrent',
    ]);
  });
  for (const name of made) {
    it(name, () => {
      const t = parseTorrent(readFileSync(join(FIXTURES, name)));
      expect(t.version).toBe(name.includes('hybrid') ? 'hybrid' : 'v2');
      expectAgreesWithLibtorrent(t, oracle[name]!);
      // libtorrent wrote valid piece layers: they verify against each file's pieces root.
      expect(codes(t)).not.toContain('TORRENT_BAD_PIECE_LAYERS');
    });
  }
});

describe('webtorrent-fixtures: against parse-torrent and the fixtures’ own content', () => {
  const torrents = Object.entries(webtorrentFixtures).filter((e): e is [string, TorrentFixture] => 'torrent' in e[1]);

  it('has the fixtures this test expects', () => {
    expect(torrents.map(([name]) => name).sort()).toEqual(
      ['alice', 'bunny', 'corrupt', 'folder', 'leaves', 'leavesMetadata', 'lotsOfNumbers', 'numbers', 'sintel'].sort(),
    );
  });

  for (const [name, fixture] of torrents) {
    it(name, async () => {
      const bytes = Buffer.from(fixture.torrent);
      if (name === 'corrupt') {
        // Its info dictionary has no name: parse-torrent refuses it too.
        await expect(parseTorrentNpm(bytes)).rejects.toThrow(/name/);
        expect(thrown(() => parseTorrent(bytes)).code).toBe('TORRENT_BAD_NAME');
        return;
      }
      const t = parseTorrent(bytes);
      const p = fixture.parsedTorrent!;
      expect(t.infoHashV1).toBe(p.infoHash);
      expect(t.infoHashV2).toBeNull();
      expect(t.name).toBe(p.name);
      expect(t.totalSize).toBe(p.length);
      expect(t.pieceLength).toBe(p.pieceLength);
      expect(t.pieceCount).toBe(p.pieces.length);
      expect(t.files).toEqual(p.files.map((f) => ({ path: f.path, size: f.length })));
      expect(t.trackers.flat()).toEqual(p.announce);
      expect(t.webSeeds).toEqual(p.urlList);
      expect(t.private).toBe(p.private ?? false);
      expect(t.createdBy).toBe(p.createdBy ?? null);
      expect(t.comment).toBe(p.comment ?? null);
      const created = p.created?.getTime();
      if (created === undefined) {
        expect(t.creationDate).toBeNull();
      } else if (created / 1000 > 253_402_300_799) {
        // alice, folder, numbers, lotsOfNumbers carry Date.now() (milliseconds): parse-torrent shows
        // a date tens of thousands of years away; we read milliseconds and say so.
        expect(t.creationDate?.getTime()).toBe(created / 1000);
        expect(codes(t)).toContain('TORRENT_BAD_CREATION_DATE');
      } else {
        expect(t.creationDate?.getTime()).toBe(created);
      }
    });
  }

  it('piece hashes over the fixtures’ content, read in our file order, match the torrents', () => {
    let checked = 0;
    for (const [name, fixture] of torrents) {
      if (fixture.contentPath === undefined || name === 'corrupt') continue;
      const t = parseTorrent(Buffer.from(fixture.torrent));
      const contentRoot = statSync(fixture.contentPath).isDirectory() ? dirname(fixture.contentPath) : undefined;
      const parts = t.files.map((f) => {
        const onDisk = contentRoot === undefined ? fixture.contentPath! : join(contentRoot, f.path);
        expect(statSync(onDisk).size).toBe(f.size);
        return readFileSync(onDisk);
      });
      const content = Buffer.concat(parts);
      expect(content.length).toBe(t.totalSize);
      const pieces = ((bencode.decode(fixture.torrent) as { info: { pieces: Uint8Array } }).info.pieces);
      for (let i = 0; i < t.pieceCount!; i++) {
        const piece = content.subarray(i * t.pieceLength!, (i + 1) * t.pieceLength!);
        const expected = Buffer.from(pieces.subarray(i * SHA1_LENGTH, (i + 1) * SHA1_LENGTH)).toString('hex');
        expect(createHash('sha1').update(piece).digest('hex')).toBe(expected);
      }
      checked++;
    }
    expect(checked).toBe(6);
  });
});

const hasMktorrent = (() => {
  try {
    execFileSync('mktorrent', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // mktorrent -h exits 0 on Debian; any other status still proves it exists.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
})();

describe('a torrent mktorrent makes now, from random content', () => {
  if (!hasMktorrent && process.env.CI) {
    it('needs mktorrent (CI installs it)', () => {
      expect.fail('mktorrent is not installed');
    });
  }
  it.skipIf(!hasMktorrent && !process.env.CI)('is read exactly (needs mktorrent)', () => {
    const work = mkdtempSync(join(tmpdir(), 'trackerscope-mktorrent-'));
    try {
      const sizes = [randomBytes(2).readUInt16BE() + 1, 0, randomBytes(3).readUIntBE(0, 3) + 1, 7];
      const names = ['b.bin', 'empty', 'z/deep/a.bin', 'c.txt'];
      for (let i = 0; i < names.length; i++) {
        mkdirSync(dirname(join(work, 'content', names[i]!)), { recursive: true });
        writeFileSync(join(work, 'content', names[i]!), randomBytes(sizes[i]!));
      }
      const out = join(work, 'out.torrent');
      execFileSync(
        'mktorrent',
        ['-l', '15', '-a', 'http://127.0.0.1:1/a,udp://127.0.0.1:2/b', '-a', 'http://127.0.0.1:1/a', '-p', '-c', 'now', '-o', out, 'content'],
        { cwd: work, stdio: 'ignore' },
      );
      const bytes = readFileSync(out);
      const t = parseTorrent(bytes);
      expect(t.name).toBe('content');
      expect(t.private).toBe(true);
      expect(t.trackers).toEqual([['http://127.0.0.1:1/a', 'udp://127.0.0.1:2/b']]);
      expect(t.infoHashV1).toBe(sha1Hex(canonicalInfo(bytes)));
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(t.totalSize).toBe(total);
      expect(t.pieceCount).toBe(Math.ceil(total / 32768));
      // Our file order and sizes, applied to the content on disk, reproduce mktorrent's piece hashes.
      const content = Buffer.concat(t.files.map((f) => readFileSync(resolve(work, f.path))));
      const pieces = (bencode.decode(bytes) as { info: { pieces: Uint8Array } }).info.pieces;
      for (let i = 0; i < t.pieceCount!; i++) {
        const hash = createHash('sha1').update(content.subarray(i * 32768, (i + 1) * 32768)).digest();
        expect(Buffer.compare(hash, pieces.subarray(i * SHA1_LENGTH, (i + 1) * SHA1_LENGTH))).toBe(0);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
