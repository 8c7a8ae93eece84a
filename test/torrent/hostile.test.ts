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
/** Hostile input must be dealt with quickly, whatever it declares (100 000 levels of nesting …). */
const PARSE_BUDGET_MS = 250;

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
          expect(error!.message).toContain(expected.cause);
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
