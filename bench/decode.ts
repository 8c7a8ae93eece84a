/**
 * Decode + info-hash throughput. Run: `npx tsx bench/decode.ts`.
 *
 * Every contender must read every byte of `info` to hash it, so the floor is SHA-1 of the info
 * bytes alone; each result is printed as a multiple of that floor (and in operations per second).
 *   parseTorrent          our full model (file list, both hashes where they exist, validation)
 *   decodeView+sha1       our decoder proper + SHA-1 of the raw info span
 *   decodeDocument+sha1   our decoder building plain values (Maps) + SHA-1 of the raw info span
 *   bencode+sha1          `bencode` (npm) decode + SHA-1 of bencode.encode(info) (parse-torrent's way)
 *   parse-torrent         parse-torrent's decodeTorrentFile
 * Inputs: two generated shapes (file-heavy, piece-heavy) and the repository's torrent fixtures.
 * Targets for parseTorrent: file-heavy ≤ 5× SHA-1, piece-heavy ≤ 1.3× SHA-1.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bencode from 'bencode';
import parseTorrentNpm from 'parse-torrent';
import webtorrentFixtures from 'webtorrent-fixtures';
import { decodeDocument, decodeView, encode, isDict } from '../src/bencode/index.js';
import { parseTorrent } from '../src/torrent/index.js';

// Generated shapes (issue #2).
const FILE_HEAVY_FILES = 10_000;
const FILE_HEAVY_PIECES = 50_000;
const FILE_HEAVY_PIECE_LENGTH = 16 * 1024;
const PIECE_HEAVY_PIECES = 400_000;
const PIECE_HEAVY_PIECE_LENGTH = 256 * 1024;
const TARGETS: Record<string, number> = { 'file-heavy': 5, 'piece-heavy': 1.3 };

// Measurement.
/** Time spent running each contender before measuring (JIT warm-up). */
const WARMUP_MS = 300;
/** Each run repeats the operation until at least this long has passed. */
const RUN_MIN_MS = 60;
/** Runs per measurement; the median is reported. */
const RUNS = 7;
/** Small fixtures first: the generated shapes are what the targets are about. */
const FIXTURE_DIRS = ['test/fixtures/mktorrent', 'test/fixtures/libtorrent'];
const WEBTORRENT_FIXTURES = ['bunny', 'sintel', 'leaves', 'numbers'];

const SHA1_LENGTH = 20;

interface Input {
  name: string;
  bytes: Buffer;
  /** The raw info bytes, for the SHA-1 floor. */
  info: Buffer;
}

function generate(name: string, info: Map<string, unknown>): Input {
  const bytes = encode(
    new Map<string, unknown>([
      ['announce', Buffer.from('http://127.0.0.1:6969/announce')],
      ['info', info],
    ]) as never,
  );
  return withInfo(name, bytes);
}

function withInfo(name: string, bytes: Buffer): Input {
  const view = decodeView(bytes);
  const info = view.get(view.root, 'info');
  return { name, bytes, info: view.raw(info) };
}

function fileHeavy(): Input {
  // Sizes that add up to exactly FILE_HEAVY_PIECES pieces, spread unevenly over the files.
  const total = FILE_HEAVY_PIECES * FILE_HEAVY_PIECE_LENGTH;
  const base = Math.floor(total / FILE_HEAVY_FILES);
  const files = [];
  let used = 0;
  for (let i = 0; i < FILE_HEAVY_FILES; i++) {
    const length = i === FILE_HEAVY_FILES - 1 ? total - used : base + ((i * 7919) % 1001) - 500;
    used += length;
    const path = [`season-${Math.floor(i / 1000)}`, `disc-${Math.floor(i / 100) % 10}`, `track-${String(i).padStart(5, '0')}.flac`];
    files.push(new Map<string, unknown>([['length', length], ['path', path.map((p) => Buffer.from(p))]]));
  }
  return generate(
    'file-heavy',
    new Map<string, unknown>([
      ['files', files],
      ['name', Buffer.from('a large collection')],
      ['piece length', FILE_HEAVY_PIECE_LENGTH],
      ['pieces', randomBytes(FILE_HEAVY_PIECES * SHA1_LENGTH)],
    ]),
  );
}

function pieceHeavy(): Input {
  return generate(
    'piece-heavy',
    new Map<string, unknown>([
      ['length', PIECE_HEAVY_PIECES * PIECE_HEAVY_PIECE_LENGTH - 12345],
      ['name', Buffer.from('one very large file.mkv')],
      ['piece length', PIECE_HEAVY_PIECE_LENGTH],
      ['pieces', randomBytes(PIECE_HEAVY_PIECES * SHA1_LENGTH)],
    ]),
  );
}

function fixtures(root: string): Input[] {
  const out: Input[] = [];
  for (const dir of FIXTURE_DIRS) {
    for (const file of readdirSync(join(root, dir)).sort()) {
      if (file.endsWith('.torrent')) out.push(withInfo(`${dir.split('/').pop()}/${file}`, readFileSync(join(root, dir, file))));
    }
  }
  for (const name of WEBTORRENT_FIXTURES) {
    const fixture = webtorrentFixtures[name];
    if (fixture !== undefined && 'torrent' in fixture) out.push(withInfo(`webtorrent-fixtures/${name}`, Buffer.from(fixture.torrent)));
  }
  return out;
}

type Op = (input: Input) => unknown;

const contenders: [string, Op][] = [
  ['SHA-1 floor', (input) => createHash('sha1').update(input.info).digest('hex')],
  ['parseTorrent', (input) => parseTorrent(input.bytes).infoHashV1],
  [
    'decodeView+sha1',
    (input) => {
      const view = decodeView(input.bytes);
      return createHash('sha1').update(view.raw(view.get(view.root, 'info'))).digest('hex');
    },
  ],
  [
    'decodeDocument+sha1',
    (input) => {
      const doc = decodeDocument(input.bytes, { spanDepth: 1 });
      const info = isDict(doc.value) ? doc.value.get('info') : undefined;
      const span = info !== undefined && isDict(info) ? doc.spanOf(info) : undefined;
      return createHash('sha1').update(input.bytes.subarray(span!.start, span!.end)).digest('hex');
    },
  ],
  [
    'bencode+sha1',
    (input) => {
      const torrent = bencode.decode(input.bytes) as { info: unknown };
      return createHash('sha1').update(bencode.encode(torrent.info)).digest('hex');
    },
  ],
  ['parse-torrent', (input) => parseTorrentNpm(input.bytes)],
];

async function timeOnce(op: Op, input: Input, minMs: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    const result = op(input);
    if (result instanceof Promise) await result;
    n++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return elapsed / n;
}

/** Milliseconds per operation, or the reason the contender cannot read this input. */
async function measure(op: Op, input: Input): Promise<number | string> {
  try {
    await op(input);
  } catch (error) {
    return (error as Error).message;
  }
  await timeOnce(op, input, WARMUP_MS);
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(await timeOnce(op, input, RUN_MIN_MS));
  runs.sort((a, b) => a - b);
  return runs[Math.floor(RUNS / 2)]!;
}

function formatOps(msPerOp: number): string {
  const ops = 1000 / msPerOp;
  return ops >= 1000 ? `${(ops / 1000).toFixed(1)}k/s` : `${ops.toFixed(ops >= 10 ? 0 : 1)}/s`;
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const inputs = [fileHeavy(), pieceHeavy(), ...fixtures(root)];
  console.log(`node ${process.version}; median of ${RUNS} runs (≥ ${RUN_MIN_MS} ms each) after ${WARMUP_MS} ms warm-up\n`);
  let missed = false;
  for (const input of inputs) {
    const results = new Map<string, number | string>();
    for (const [name, op] of contenders) results.set(name, await measure(op, input));
    const floor = results.get('SHA-1 floor') as number;
    console.log(`${input.name}: ${(input.bytes.length / 1024).toFixed(1)} KiB file, ${(input.info.length / 1024).toFixed(1)} KiB info`);
    for (const [name, ms] of results) {
      if (typeof ms === 'string') {
        console.log(`  ${name.padEnd(20)} cannot read it: ${ms}`);
        continue;
      }
      const ratio = ms / floor;
      const target = name === 'parseTorrent' ? TARGETS[input.name] : undefined;
      const verdict = target === undefined ? '' : ratio <= target ? `  (target ≤ ${target}×: met)` : `  (target ≤ ${target}×: MISSED)`;
      if (target !== undefined && ratio > target) missed = true;
      console.log(`  ${name.padEnd(20)} ${ms.toFixed(3).padStart(9)} ms  ${formatOps(ms).padStart(9)}  ${ratio.toFixed(2).padStart(7)}× SHA-1${verdict}`);
    }
    console.log('');
  }
  if (missed) process.exitCode = 1;
}

await main();
