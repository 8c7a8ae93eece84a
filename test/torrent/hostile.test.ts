import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrackerscopeError } from '../../src/errors.js';
import { parseTorrent, TorrentError } from '../../src/torrent/index.js';
import { FIXTURES } from './helpers.js';

/** test/fixtures/hostile: every file has a hand-written expectation in expectations.json. */

interface Expectation {
  error?: string;
  cause?: string;
  warnings?: string[];
  rejectError?: string;
}

const DIR = join(FIXTURES, 'hostile');
const table = JSON.parse(readFileSync(join(DIR, 'expectations.json'), 'utf8')) as Record<string, Expectation | string>;
const expectations = Object.entries(table).filter((e): e is [string, Expectation] => !e[0].startsWith('_'));
/**
 * Hostile input must be dealt with quickly, whatever it declares (100 000 levels of nesting …): each
 * file takes milliseconds; the budget catches a hang and leaves room for a GC pause or a
 * descheduled test worker on a loaded 2-core machine (a tiny file once took 299 ms there).
 */
const PARSE_BUDGET_MS = 1000;

interface LibtorrentVerdict {
  loads: boolean;
  infoHashV1?: string | null;
  infoHashV2?: string | null;
  error?: string;
}

/** libtorrent 2.0.8's verdict on each hostile file (make_fixtures.py writes it). */
const libtorrent = JSON.parse(readFileSync(join(DIR, 'libtorrent-2.0.8-view.json'), 'utf8')) as Record<string, LibtorrentVerdict | string>;

/** Files libtorrent opens that we refuse on purpose, and why. */
const STRICTER_THAN_LIBTORRENT: Record<string, string> = {
  'leading-zero-integer.torrent': 'BEP 3 forbids leading zeros; the issue asks the decoder to reject i03e',
  'leading-zero-length.torrent': 'BEP 3 forbids leading zeros in string lengths; the issue asks to reject 03:abc',
  'negative-zero.torrent': 'BEP 3 forbids i-0e; the issue asks to reject it',
  'nul-in-path.torrent': 'a NUL byte ends a file name in every C API: no client can create that file as written',
};

function attempt(bytes: Buffer, options = {}): { error?: TrackerscopeError; ms: number; torrent?: ReturnType<typeof parseTorrent> } {
  const start = performance.now();
  try {
    const torrent = parseTorrent(bytes, options);
    return { torrent, ms: performance.now() - start };
  } catch (error) {
    return { error: error as TrackerscopeError, ms: performance.now() - start };
  }
}

describe('hostile corpus', () => {
  it('every file has an expectation and every expectation a file', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.torrent'))
      .sort();
    expect(expectations.map(([f]) => f).sort()).toEqual(files);
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  for (const [file, expected] of expectations) {
    const label = expected.error ?? `accepted with [${expected.warnings?.join(', ')}]`;
    it(`${file} → ${label}`, () => {
      const bytes = readFileSync(join(DIR, file));
      const { error, torrent, ms } = attempt(bytes);
      expect(ms).toBeLessThan(PARSE_BUDGET_MS);
      if (expected.error !== undefined) {
        expect(error).toBeInstanceOf(TorrentError);
        expect(error!.code).toBe(expected.error);
        if (expected.cause !== undefined) {
          expect((error!.cause as TrackerscopeError).code).toBe(expected.cause);
          // The code travels on `cause`; the message is the decoder's reason in words, with the offset.
          expect(error!.message).not.toContain(expected.cause);
          expect(error!.message).toMatch(/^not a torrent file: .+ at byte \d+$/);
          expect(error!.offset).toBeTypeOf('number');
        }
        return;
      }
      expect(error).toBeUndefined();
      const codes = torrent!.warnings.map((w) => w.code);
      expect(codes).toEqual(expect.arrayContaining(expected.warnings ?? []));
      if (expected.rejectError !== undefined) {
        const strict = attempt(bytes, { unsafePaths: 'reject' });
        expect(strict.error).toBeInstanceOf(TorrentError);
        expect(strict.error!.code).toBe(expected.rejectError);
      }
    });
  }

  it("has libtorrent's verdict on exactly the files of the corpus", () => {
    expect(Object.keys(libtorrent).filter((f) => !f.startsWith('_')).sort()).toEqual(expectations.map(([f]) => f).sort());
  });

  for (const [file, verdict] of Object.entries(libtorrent)) {
    if (typeof verdict === 'string' || !verdict.loads) continue;
    const stricter = STRICTER_THAN_LIBTORRENT[file];
    it(`${file}: libtorrent opens it → ${stricter === undefined ? 'so do we, with its info-hash' : `we refuse it: ${stricter}`}`, () => {
      const { error, torrent } = attempt(readFileSync(join(DIR, file)));
      if (stricter !== undefined) {
        expect(error).toBeInstanceOf(TorrentError);
        return;
      }
      expect(error).toBeUndefined();
      expect(torrent!.infoHashV1).toBe(verdict.infoHashV1);
      expect(torrent!.infoHashV2).toBe(verdict.infoHashV2);
    });
  }

  it('trailing bytes of any kind leave the info-hash of the torrent before them', () => {
    const hashes = ['trailing-garbage', 'trailing-newline', 'trailing-nul', 'trailing-e'].map((name) => {
      const t = parseTorrent(readFileSync(join(DIR, `${name}.torrent`)));
      const warning = t.warnings.find((w) => w.code === 'TORRENT_TRAILING_DATA');
      expect(warning?.message).toMatch(/byte\(s\) after the end of the torrent were ignored/);
      return t.infoHashV1;
    });
    expect(new Set(hashes).size).toBe(1);
  });

  it('__proto__ and constructor keys are plain data: nothing is polluted', () => {
    const t = parseTorrent(readFileSync(join(DIR, 'proto-keys.torrent')));
    expect(t.files).toEqual([{ path: 'proto.bin/__proto__', size: 1000 }]);
    expect(t.name).toBe('proto.bin');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
  });

  it('the file with a repeated info key keeps the first value, as libtorrent does', () => {
    expect(parseTorrent(readFileSync(join(DIR, 'duplicate-info-key.torrent'))).name).toBe('first.bin');
  });

  it('a name in latin1 is shown byte by byte', () => {
    expect(parseTorrent(readFileSync(join(DIR, 'latin1-name.torrent'))).name).toBe('café crème.bin');
  });
});
