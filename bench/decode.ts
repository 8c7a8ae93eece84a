/**
 * Decode + info-hash throughput. Run: `npx tsx bench/decode.ts` (`--check`: exit 1 when a target
 * is missed).
 *
 * Every contender must read every byte of `info` to hash it, so the floor is SHA-1 of the info
 * bytes alone; each result is printed as a multiple of that floor.
 *   SHA-1 floor           SHA-1 of the raw info bytes (the reference of every ratio)
 *   SHA-1+SHA-256         both hashes of the raw info bytes: what a hybrid costs at the least
 *   parseTorrent          our full model (file list, both hashes where they exist, validation)
 *   decodeView+sha1       our decoder proper + SHA-1 of the raw info span
 *   decodeDocument+sha1   our decoder building plain values (Maps) + SHA-1 of the raw info span
 *   bencode+sha1          `bencode` (npm) decode + SHA-1 of bencode.encode(info) (parse-torrent's way)
 *   parse-torrent         parse-torrent's decodeTorrentFile
 * Inputs: four generated shapes (file-heavy and piece-heavy, each as v1 and as a v1+v2 hybrid, so
 * that "both hashes" is measured) and the repository's torrent fixtures.
 * Targets for parseTorrent (issue #2): file-heavy ≤ 5× SHA-1, piece-heavy ≤ 1.3× SHA-1.
 *
 * Measurement, made for a noisy 2-core machine:
 * - Each contender runs in its own worker thread, so its own V8 heap: the garbage of one (the
 *   peers leave hundreds of MB) is never collected on another's time. Only one runs at a time.
 * - After one untimed warm-up round, each round runs every contender in turn (the order rotates
 *   from round to round) for a short batch, then pauses SETTLE_MS so that background GC work of a
 *   batch ends before the next batch starts. Each batch records wall time and CPU time
 *   (process.cpuUsage, user + system) per operation.
 * - A contender's ratio is computed within each round, against the floor measured in that same
 *   round, and the MEDIAN of those per-round ratios is reported: noise that hits a whole round
 *   cancels out, noise that hits one batch lands in the tails.
 * - The target verdict uses the CPU-time ratio (time the process was descheduled by other load
 *   is not counted); the wall-time ratio is printed beside it.
 * (Forcing a full GC between batches was tried and rejected: it makes V8 flush and recompile the
 * code under test.)
 */
import { createHash, hash as digest, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import bencode from 'bencode';
import parseTorrentNpm from 'parse-torrent';
import webtorrentFixtures from 'webtorrent-fixtures';
import { decodeDocument, decodeView, type Encodable, encode, isDict } from '../src/bencode/index.js';
import { parseTorrent, type Torrent } from '../src/torrent/index.js';

// Generated shapes (issue #2).
const FILE_HEAVY_FILES = 10_000;
const FILE_HEAVY_PIECES = 50_000;
const FILE_HEAVY_PIECE_LENGTH = 16 * 1024;
/** Pieces per file of the file-heavy shape: FILE_HEAVY_PIECES spread evenly over the files. */
const FILE_HEAVY_PIECES_PER_FILE = FILE_HEAVY_PIECES / FILE_HEAVY_FILES;
/** File sizes vary within this many bytes (so they are not all equal, nor all piece-aligned). */
const FILE_HEAVY_SIZE_SPREAD = 1001;
const PIECE_HEAVY_PIECES = 400_000;
const PIECE_HEAVY_PIECE_LENGTH = 256 * 1024;
/** Bytes the piece-heavy file is short of filling its last piece. */
const PIECE_HEAVY_SHORTFALL = 12_345;
const TARGETS: Record<string, number> = { 'file-heavy': 5, 'piece-heavy': 1.3 };

/** BEP 3 / BEP 52 digest sizes and the v2 merkle block. */
const SHA1_LENGTH = 20;
const SHA256_LENGTH = 32;
const V2_BLOCK_SIZE = 16 * 1024;

// Measurement.
interface Protocol {
  /** Timed rounds (after one untimed warm-up round). */
  rounds: number;
  /** Each contender's batch in a round runs at least this long (and at least one operation). */
  batchMs: number;
}
const GENERATED: Protocol = { rounds: 15, batchMs: 25 };
/** Idle time after each batch: lets background GC work of the batch finish untimed. */
const SETTLE_MS = 5;
const FIXTURES: Protocol = { rounds: 7, batchMs: 8 };
const FIXTURE_DIRS = ['test/fixtures/mktorrent', 'test/fixtures/libtorrent'];
const WEBTORRENT_FIXTURES = ['bunny', 'sintel', 'leaves', 'numbers'];

interface Input {
  name: string;
  /** The shape a target belongs to (`file-heavy`, `piece-heavy`), for generated inputs. */
  shape?: string;
  bytes: Buffer;
  /** The raw info bytes, for the floors. */
  info: Buffer;
  hybrid: boolean;
  protocol: Protocol;
}

type Op = (input: Input) => unknown;

interface Contender {
  name: string;
  op: Op;
  /** Only run on hybrid inputs. */
  hybridOnly?: boolean;
}

const FLOOR = 'SHA-1 floor';
const BOTH_HASHES = 'SHA-1+SHA-256';

const contenders: Contender[] = [
  { name: FLOOR, op: (input) => createHash('sha1').update(input.info).digest('hex') },
  {
    name: BOTH_HASHES,
    hybridOnly: true,
    op: (input) => [createHash('sha1').update(input.info).digest('hex'), createHash('sha256').update(input.info).digest('hex')],
  },
  { name: 'parseTorrent', op: (input) => parseTorrent(input.bytes) },
  {
    name: 'decodeView+sha1',
    op: (input) => {
      const view = decodeView(input.bytes);
      return createHash('sha1').update(view.raw(view.get(view.root, 'info'))).digest('hex');
    },
  },
  {
    name: 'decodeDocument+sha1',
    op: (input) => {
      const doc = decodeDocument(input.bytes, { spanDepth: 1 });
      const info = isDict(doc.value) ? doc.value.get('info') : undefined;
      const span = info !== undefined && isDict(info) ? doc.spanOf(info) : undefined;
      return createHash('sha1').update(input.bytes.subarray(span!.start, span!.end)).digest('hex');
    },
  },
  {
    name: 'bencode+sha1',
    op: (input) => {
      const torrent = bencode.decode(input.bytes) as { info: unknown };
      return createHash('sha1').update(bencode.encode(torrent.info)).digest('hex');
    },
  },
  { name: 'parse-torrent', op: (input) => parseTorrentNpm(input.bytes) },
];

// ---------------------------------------------------------------- generated inputs

function withInfo(name: string, bytes: Buffer, protocol: Protocol, shape?: string): Input {
  const view = decodeView(bytes);
  const info = view.get(view.root, 'info');
  const hybrid = view.get(info, 'meta version') !== -1 && view.get(info, 'pieces') !== -1;
  return { name, shape, bytes, info: Buffer.from(view.raw(info)), hybrid, protocol };
}

/** Root of a BEP 52 merkle tree over a piece layer, padded with the hash of an all-zero piece. */
function merkleRoot(layer: Buffer[], pieceLength: number): Buffer {
  let pad = Buffer.alloc(SHA256_LENGTH);
  for (let blocks = pieceLength / V2_BLOCK_SIZE; blocks > 1; blocks /= 2) pad = digest('sha256', Buffer.concat([pad, pad]), 'buffer');
  let level = layer;
  let width = 1;
  while (width < level.length) width *= 2;
  level = [...level, ...Array<Buffer>(width - level.length).fill(pad)];
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(digest('sha256', Buffer.concat([level[i]!, level[i + 1]!]), 'buffer'));
    level = next;
  }
  return level[0]!;
}

/** A v2 file: its `file tree` leaf and its `piece layers` entry (valid, so nothing is warned). */
function v2File(size: number, pieceLength: number): { leaf: Map<string, Encodable>; layer: [Buffer, Buffer] | null } {
  const pieces = Math.ceil(size / pieceLength);
  const hashes = Array.from({ length: pieces }, () => randomBytes(SHA256_LENGTH));
  // BEP 52: a file of one piece has no layer; its root is that piece's hash.
  const root = pieces === 1 ? hashes[0]! : merkleRoot(hashes, pieceLength);
  const leaf = new Map<string, Encodable>([['', new Map<string, Encodable>([['length', size], ['pieces root', root]])]]);
  return { leaf, layer: pieces === 1 ? null : [root, Buffer.concat(hashes)] };
}

function torrentBytes(info: Map<string, Encodable>, layers: [Buffer, Buffer][]): Buffer {
  const root = new Map<string, Encodable>([
    ['announce', 'http://127.0.0.1:6969/announce'],
    ['info', info],
  ]);
  if (layers.length > 0) root.set('piece layers', new Map(layers.map(([k, v]) => [k.toString('latin1'), v])));
  return encode(root);
}

/**
 * FILE_HEAVY_FILES files making exactly FILE_HEAVY_PIECES pieces. v1: sizes scattered around
 * FILE_HEAVY_PIECES_PER_FILE pieces, the last file taking up the difference, so the total fills the
 * pieces. Hybrid: each file a little short of FILE_HEAVY_PIECES_PER_FILE pieces and padded to the
 * piece boundary (BEP 47), as v2 requires of every file.
 */
function fileHeavy(hybrid: boolean): Input {
  const pieceLength = FILE_HEAVY_PIECE_LENGTH;
  const files: Encodable[] = [];
  const tree = new Map<string, Encodable>();
  const layers: [Buffer, Buffer][] = [];
  const fileSpan = FILE_HEAVY_PIECES_PER_FILE * pieceLength;
  let total = 0;
  for (let i = 0; i < FILE_HEAVY_FILES; i++) {
    const scatter = (i * 7919) % FILE_HEAVY_SIZE_SPREAD;
    const last = i === FILE_HEAVY_FILES - 1;
    const size = hybrid ? fileSpan - scatter : last ? FILE_HEAVY_PIECES * pieceLength - total : fileSpan + scatter - (FILE_HEAVY_SIZE_SPREAD >> 1);
    const path = [`season-${Math.floor(i / 1000)}`, `disc-${Math.floor(i / 100) % 10}`, `track-${String(i).padStart(5, '0')}.flac`];
    files.push(new Map<string, Encodable>([['length', size], ['path', path]]));
    total += size;
    if (!hybrid) continue;
    const pad = fileSpan - size;
    if (!last && pad > 0) {
      files.push(new Map<string, Encodable>([['attr', 'p'], ['length', pad], ['path', ['.pad', String(pad)]]]));
      total += pad;
    }
    let dir = tree;
    for (const element of path.slice(0, -1)) {
      let sub = dir.get(element) as Map<string, Encodable> | undefined;
      if (sub === undefined) {
        sub = new Map();
        dir.set(element, sub);
      }
      dir = sub;
    }
    const { leaf, layer } = v2File(size, pieceLength);
    dir.set(path.at(-1)!, leaf);
    if (layer !== null) layers.push(layer);
  }
  const info = new Map<string, Encodable>([
    ['files', files],
    ['name', 'a large collection'],
    ['piece length', pieceLength],
    ['pieces', randomBytes(Math.ceil(total / pieceLength) * SHA1_LENGTH)],
  ]);
  if (hybrid) {
    info.set('file tree', tree);
    info.set('meta version', 2);
  }
  return withInfo(hybrid ? 'file-heavy hybrid' : 'file-heavy v1', torrentBytes(info, layers), GENERATED, 'file-heavy');
}

function pieceHeavy(hybrid: boolean): Input {
  const pieceLength = PIECE_HEAVY_PIECE_LENGTH;
  const name = 'one very large file.mkv';
  const size = PIECE_HEAVY_PIECES * pieceLength - PIECE_HEAVY_SHORTFALL;
  const info = new Map<string, Encodable>([
    ['length', size],
    ['name', name],
    ['piece length', pieceLength],
    ['pieces', randomBytes(PIECE_HEAVY_PIECES * SHA1_LENGTH)],
  ]);
  const layers: [Buffer, Buffer][] = [];
  if (hybrid) {
    const { leaf, layer } = v2File(size, pieceLength);
    info.set('file tree', new Map([[name, leaf]]));
    info.set('meta version', 2);
    layers.push(layer!);
  }
  return withInfo(hybrid ? 'piece-heavy hybrid' : 'piece-heavy v1', torrentBytes(info, layers), GENERATED, 'piece-heavy');
}

/** The generated inputs must be valid torrents of the stated shape, or the figures mean nothing. */
function checkShape(input: Input, torrent: Torrent, files: number, pieces: number): void {
  const problems: string[] = [];
  if (torrent.files.length !== files) problems.push(`${torrent.files.length} files, not ${files}`);
  if (torrent.pieceCount !== pieces) problems.push(`${torrent.pieceCount} pieces, not ${pieces}`);
  if (torrent.version !== (input.hybrid ? 'hybrid' : 'v1')) problems.push(`version ${torrent.version}`);
  // Valid piece layers, consistent sizes: a generated torrent carries no warning at all.
  if (torrent.warnings.length > 0) problems.push(`warnings: ${torrent.warnings.map((w) => w.message).join('; ')}`);
  if (problems.length > 0) throw new Error(`generated input ${input.name} is not what it should be: ${problems.join(', ')}`);
}

function generated(): Input[] {
  const inputs = [fileHeavy(false), fileHeavy(true), pieceHeavy(false), pieceHeavy(true)];
  for (const input of inputs) {
    const torrent = parseTorrent(input.bytes);
    if (input.shape === 'file-heavy') checkShape(input, torrent, FILE_HEAVY_FILES, FILE_HEAVY_PIECES);
    else checkShape(input, torrent, 1, PIECE_HEAVY_PIECES);
  }
  return inputs;
}

function fixtures(root: string): Input[] {
  const out: Input[] = [];
  for (const dir of FIXTURE_DIRS) {
    for (const file of readdirSync(join(root, dir)).sort()) {
      if (file.endsWith('.torrent')) out.push(withInfo(`${dir.split('/').pop()}/${file}`, readFileSync(join(root, dir, file)), FIXTURES));
    }
  }
  for (const name of WEBTORRENT_FIXTURES) {
    const fixture = webtorrentFixtures[name];
    if (fixture !== undefined && 'torrent' in fixture) {
      out.push(withInfo(`webtorrent-fixtures/${name}`, Buffer.from(fixture.torrent), FIXTURES));
    }
  }
  return out;
}

// ---------------------------------------------------------------- measurement

interface Batch {
  wallMs: number;
  cpuMs: number;
}

async function batch(op: Op, input: Input, minMs: number): Promise<Batch> {
  let n = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  let elapsed = 0;
  do {
    const result = op(input);
    if (result instanceof Promise) await result;
    n++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  const used = process.cpuUsage(cpu);
  return { wallMs: elapsed / n, cpuMs: (used.user + used.system) / 1000 / n };
}

/** Messages from the main thread to a contender's worker, and its answers. */
type Request =
  | { kind: 'load'; id: number; input: Input }
  | { kind: 'probe'; id: number }
  | { kind: 'batch'; id: number; minMs: number }
  | { kind: 'drop'; id: number };
type Reply = { ok: true; batch?: Batch } | { ok: false; error: string };

/** Worker side: one contender, the inputs it was sent, a batch when asked. */
function serveContender(name: string): void {
  const contender = contenders.find((c) => c.name === name)!;
  const inputs = new Map<number, Input>();
  parentPort!.on('message', async (request: Request) => {
    let reply: Reply;
    try {
      if (request.kind === 'load') {
        const input = request.input;
        // Structured cloning gives back Uint8Arrays: the parsers are given Buffers, as in real use.
        inputs.set(request.id, { ...input, bytes: Buffer.from(input.bytes), info: Buffer.from(input.info) });
        reply = { ok: true };
      } else if (request.kind === 'probe') {
        await contender.op(inputs.get(request.id)!);
        reply = { ok: true };
      } else if (request.kind === 'batch') {
        reply = { ok: true, batch: await batch(contender.op, inputs.get(request.id)!, request.minMs) };
      } else {
        inputs.delete(request.id);
        reply = { ok: true };
      }
    } catch (error) {
      reply = { ok: false, error: (error as Error).message };
    }
    parentPort!.postMessage(reply);
  });
}

/** Main side: a contender in its own worker thread, asked one thing at a time. */
class ContenderThread {
  private readonly worker: Worker;
  private pending: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | null = null;

  constructor(readonly contender: Contender) {
    // On Node 20 a worker does not inherit tsx's module hooks: it registers them, then loads this file.
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    this.worker = new Worker(boot, { eval: true, workerData: { contender: contender.name } });
    this.worker.on('message', (reply: Reply) => this.settle()?.resolve(reply));
    this.worker.on('error', (error: Error) => this.settle()?.reject(error));
  }

  private settle() {
    const pending = this.pending;
    this.pending = null;
    return pending;
  }

  ask(request: Request): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(request);
    });
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Result {
  /** Median wall milliseconds per operation. */
  wallMs: number;
  /** Median of the per-round ratios to the floor, by wall time and by CPU time. */
  wallRatio: number;
  cpuRatio: number;
}

/** Every contender on one input, interleaved round by round; a string is why one cannot read it. */
async function measure(threads: ContenderThread[], id: number, input: Input): Promise<Map<string, Result | string>> {
  const out = new Map<string, Result | string>();
  const runnable: ContenderThread[] = [];
  for (const thread of threads) {
    if (thread.contender.hybridOnly && !input.hybrid) continue;
    await thread.ask({ kind: 'load', id, input });
    const probe = await thread.ask({ kind: 'probe', id });
    if (probe.ok) runnable.push(thread);
    else out.set(thread.contender.name, probe.error);
  }
  const { rounds, batchMs } = input.protocol;
  const samples = new Map<string, Batch[]>(runnable.map((t) => [t.contender.name, []]));
  for (let round = -1; round < rounds; round++) {
    for (let k = 0; k < runnable.length; k++) {
      const thread = runnable[(k + Math.max(round, 0)) % runnable.length]!;
      const reply = await thread.ask({ kind: 'batch', id, minMs: batchMs });
      if (!reply.ok) throw new Error(`${thread.contender.name} failed on ${input.name}: ${reply.error}`);
      if (round >= 0) samples.get(thread.contender.name)!.push(reply.batch!);
      await pause(SETTLE_MS);
    }
  }
  for (const thread of threads) await thread.ask({ kind: 'drop', id });
  const floor = samples.get(FLOOR)!;
  for (const thread of runnable) {
    const own = samples.get(thread.contender.name)!;
    out.set(thread.contender.name, {
      wallMs: median(own.map((s) => s.wallMs)),
      wallRatio: median(own.map((s, r) => s.wallMs / floor[r]!.wallMs)),
      cpuRatio: median(own.map((s, r) => s.cpuMs / floor[r]!.cpuMs)),
    });
  }
  // Keep the table in the contenders' order, failures included.
  return new Map(contenders.filter((c) => out.has(c.name)).map((c) => [c.name, out.get(c.name)!]));
}

/** For a hybrid: what its two hashes alone cost, the least any parser can do. */
function bothHashesNote(results: Map<string, Result | string>): string {
  const both = results.get(BOTH_HASHES);
  if (both === undefined || typeof both === 'string') return '';
  return `; the two hashes alone cost ${both.cpuRatio.toFixed(2)}×`;
}

function formatOps(msPerOp: number): string {
  const ops = 1000 / msPerOp;
  return ops >= 1000 ? `${(ops / 1000).toFixed(1)}k/s` : `${ops.toFixed(ops >= 10 ? 0 : 1)}/s`;
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const inputs = [...generated(), ...fixtures(root)];
  console.log(
    `node ${process.version}; each contender in its own worker thread (own heap), one at a time. Per input: 1 warm-up ` +
      `round, then ${GENERATED.rounds} rounds of ≥ ${GENERATED.batchMs} ms batches (fixtures: ${FIXTURES.rounds} × ` +
      `${FIXTURES.batchMs} ms), contenders interleaved, order rotated each round, ${SETTLE_MS} ms pause after each batch.\n` +
      'ms/op: median wall time. × SHA-1: median of the per-round ratios to the SHA-1 floor of the same round, ' +
      'by CPU time (process.cpuUsage) and by wall time. Targets are judged on the CPU ratio.\n',
  );
  const threads = contenders.map((c) => new ContenderThread(c));
  const verdicts: string[] = [];
  let missed = false;
  try {
    for (const [id, input] of inputs.entries()) {
      const results = await measure(threads, id, input);
      console.log(`${input.name}: ${(input.bytes.length / 1024).toFixed(1)} KiB file, ${(input.info.length / 1024).toFixed(1)} KiB info`);
      console.log(`  ${'contender'.padEnd(20)} ${'ms/op'.padStart(9)}  ${'ops/s'.padStart(9)}  ${'× SHA-1 CPU'.padStart(11)}  ${'× SHA-1 wall'.padStart(12)}`);
      for (const [name, result] of results) {
        if (typeof result === 'string') {
          console.log(`  ${name.padEnd(20)} cannot read it: ${result}`);
          continue;
        }
        console.log(
          `  ${name.padEnd(20)} ${result.wallMs.toFixed(3).padStart(9)}  ${formatOps(result.wallMs).padStart(9)}  ` +
            `${`${result.cpuRatio.toFixed(2)}×`.padStart(11)}  ${`${result.wallRatio.toFixed(2)}×`.padStart(12)}`,
        );
      }
      const target = input.shape === undefined ? undefined : TARGETS[input.shape];
      const ours = results.get('parseTorrent');
      if (target !== undefined && ours !== undefined) {
        const verdict =
          typeof ours === 'string'
            ? `target MISSED (parseTorrent failed: ${ours})`
            : `${ours.cpuRatio <= target ? 'target met' : 'target MISSED'}: ${ours.cpuRatio.toFixed(2)}× SHA-1 by CPU time (wall ${ours.wallRatio.toFixed(2)}×), target ≤ ${target}×${bothHashesNote(results)}`;
        if (typeof ours === 'string' || ours.cpuRatio > target) missed = true;
        console.log(`  → parseTorrent ${verdict}`);
        verdicts.push(`  ${input.name.padEnd(20)} ${verdict}`);
      }
      console.log('');
    }
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
  console.log(`Targets (parseTorrent, full model incl. file list and both hashes):\n${verdicts.join('\n')}`);
  if (missed && process.argv.includes('--check')) process.exitCode = 1;
}

if (isMainThread) await main();
else serveContender((workerData as { contender: string }).contender);
