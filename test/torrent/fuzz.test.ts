import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTorrent, TorrentError } from '../../src/torrent/index.js';
import { FIXTURES } from './helpers.js';

/** Mutated real torrents: parseTorrent returns a model or throws a TorrentError, nothing else. */

const seeds = ['mktorrent', 'libtorrent'].flatMap((dir) =>
  readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.torrent'))
    .map((f) => readFileSync(join(FIXTURES, dir, f))),
);
const RUNS = 1500;
/**
 * A mutated fixture of a few hundred bytes parses in microseconds: this catches a stall, and leaves
 * room for a GC pause or a descheduled test worker on a loaded 2-core machine.
 */
const PARSE_BUDGET_MS = 500;

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let bytes = Buffer.from(seed);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    if (m.kind === 'flip') {
      if (bytes.length > 0) bytes[at] = m.byte;
    } else if (m.kind === 'cut') {
      bytes = bytes.subarray(0, at);
    } else if (m.kind === 'insert') {
      bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    } else {
      bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)]);
    }
  }
  return bytes;
}

describe('parseTorrent on mutated torrents', () => {
  it('never throws anything but a TorrentError, and never stalls', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, mutations) => {
        const bytes = mutate(seeds[seed]!, mutations);
        const start = performance.now();
        try {
          const t = parseTorrent(bytes);
          expect(t.infoHashV1 ?? t.infoHashV2).toMatch(/^[0-9a-f]{40}([0-9a-f]{24})?$/);
        } catch (error) {
          if (!(error instanceof TorrentError)) throw error;
          expect(error.code).toMatch(/^TORRENT_[A-Z_]+$/);
        }
        expect(performance.now() - start).toBeLessThan(PARSE_BUDGET_MS);
      }),
      { numRuns: RUNS },
    );
  });
});
