import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { parseTorrent } from '../../src/torrent/index.js';
import { FIXTURES } from './helpers.js';

/** Which digests parseTorrent asks node:crypto for (a v1 torrent must not pay for SHA-256). */
const used: string[] = [];

vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>();
  return {
    ...crypto,
    createHash: (algorithm: string) => {
      used.push(algorithm);
      return crypto.createHash(algorithm);
    },
    hash: (algorithm: string, ...rest: unknown[]) => {
      used.push(algorithm);
      return (crypto.hash as (...args: unknown[]) => unknown)(algorithm, ...rest);
    },
  };
});

describe('digests computed', () => {
  beforeEach(() => {
    used.length = 0;
  });

  it('v1: SHA-1 of info only', () => {
    parseTorrent(readFileSync(join(FIXTURES, 'mktorrent/multi.torrent')));
    expect(used).toEqual(['sha1']);
  });

  it('v2 only: SHA-256 of info (plus piece-layer checks), no SHA-1', () => {
    parseTorrent(readFileSync(join(FIXTURES, 'libtorrent/v2-only.torrent')));
    expect(used).not.toContain('sha1');
    expect(used).toContain('sha256');
  });

  it('hybrid: both', () => {
    parseTorrent(readFileSync(join(FIXTURES, 'libtorrent/hybrid.torrent')));
    expect(used).toContain('sha1');
    expect(used).toContain('sha256');
  });
});
