/**
 * Fan-out and per-tracker throughput, loopback only. Run: `npx tsx bench/fanout.ts`.
 *
 * 1. FANOUT_TRACKERS node:http trackers on 127.0.0.1, some answering after 200–800 ms, scraped
 *    with scrapeAll: the total must be about the slowest tracker, not the sum of the delays
 *    (target: total ≤ FANOUT_TARGET_FACTOR × slowest).
 * 2. Scrape requests/s against one bittorrent-tracker (its own process, HTTP and UDP): our
 *    scrapeHttp/scrapeUdp (no ScrapeCache) vs bittorrent-tracker's own `Client.scrape()` in the same
 *    run, at the same concurrency, with the ratio (target ≥ 2×). Fair by construction: every variant
 *    is warmed up before it is measured, windows are interleaved (the order rotates every round so
 *    no variant always follows the same one), each answer is checked, and the medians of the
 *    per-round ratios are printed with their spread. A "tracker ceiling" reference (a bare client with
 *    no checks and no parsing) shows how fast the tracker itself can answer on this machine.
 *
 * Every target gets a "target met" / "MISSED" verdict, repeated in a summary at the end. The bench is
 * informational: it exits 0 either way (a loaded machine must not fail a build), so read the summary.
 * It should finish within BENCH_BUDGET_MS on 2 cores, and says whether it did.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, get, globalAgent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client } from 'bittorrent-tracker';
import { Agent, request } from 'undici';
import { encode } from '../src/bencode/index.js';
import { GuardedAgent, scrapeHttp } from '../src/scrape/http.js';
import { AddressLimiter, RequestLimiter } from '../src/scrape/limiter.js';
import { scrapeAll } from '../src/scrape/scraper.js';
import { ConnectionIdCache, scrapeUdp } from '../src/scrape/udp.js';
import { encodeConnectRequest, encodeScrapeRequest } from '../src/scrape/udp-packets.js';
import type { Torrent } from '../src/torrent/types.js';

const LOOPBACK = '127.0.0.1';
const POLICY = { allowPrivate: true };

// Part 1 parameters
const FANOUT_TRACKERS = 50;
/** Every SLOW_EVERY-th tracker is slow; the others answer at once. */
const SLOW_EVERY = 2;
const MIN_DELAY_MS = 200;
const MAX_DELAY_MS = 800;
const FANOUT_ROUNDS = 3;
const FANOUT_DEADLINE_MS = 5000;
/** Target: the whole fan-out takes at most this many times the slowest tracker's delay. */
const FANOUT_TARGET_FACTOR = 1.2;
/** The whole bench (both parts, tracker start-up included) should finish within this. */
const BENCH_BUDGET_MS = 60_000;

// Part 2 parameters (duration ≈ 2 concurrencies × 8 variants × (warm-up + rounds × window))
/** Unmeasured run of every variant before its measurements, at the concurrency measured (JIT, sockets, caches). */
const WARMUP_MS = 500;
/** One measurement stops at whichever comes first. */
const WINDOW_MS = 500;
const WINDOW_MAX_REQUESTS = 20_000;
/** Windows per variant; interleaved with the other variants, the median kept. */
const ROUNDS = 5;
/** Requests kept in flight by each variant: one at a time (latency-bound), and many (as a busy server). */
const CONCURRENCIES = [1, 16];
/** Longest a single request may take before the bench stops as broken (theirs and ours alike). */
const PER_REQUEST_TIMEOUT_MS = 3000;
/** Target: ours / theirs requests per second, for each "ours" row at each concurrency. */
const TARGET_RATIO = 2;
const SWARM = { seeders: 3, leechers: 2 };

const INFO_HASH = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');

function torrentWith(trackers: string[]): Torrent {
  return {
    source: 'hash',
    hasMetadata: false,
    name: null,
    infoHashV1: INFO_HASH.toString('hex'),
    infoHashV2: null,
    version: 'v1',
    totalSize: null,
    pieceLength: null,
    pieceCount: null,
    files: [],
    paddingFiles: 0,
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
    webSeeds: [],
    trackers: trackers.map((t) => [t]),
    warnings: [],
  };
}

async function listen(server: Server): Promise<number> {
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------------
// Part 1: 50 trackers, some slow

async function fanout(): Promise<void> {
  const reply = encode(
    new Map([['files', new Map([[INFO_HASH.toString('latin1'), new Map([['complete', 1], ['incomplete', 2], ['downloaded', 3]])]])]]),
  );
  const slowCount = Math.ceil(FANOUT_TRACKERS / SLOW_EVERY);
  const delays = Array.from({ length: FANOUT_TRACKERS }, (_, i) =>
    i % SLOW_EVERY === 0 ? Math.round(MIN_DELAY_MS + ((MAX_DELAY_MS - MIN_DELAY_MS) * (i / SLOW_EVERY)) / Math.max(1, slowCount - 1)) : 0,
  );
  const servers = delays.map((delay) =>
    createServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': String(reply.length) });
        res.end(reply);
      }, delay);
    }),
  );
  const ports = await Promise.all(servers.map(listen));
  const trackers = ports.map((port) => `http://${LOOPBACK}:${port}/announce`);
  const slowest = Math.max(...delays);
  const sum = delays.reduce((a, b) => a + b, 0);
  // Every tracker here is 127.0.0.1, which the default per-host bound (4) and per-address bound (4)
  // would serialise; on the internet they are 50 different hosts at 50 addresses. Lift both so the
  // bench measures the fan-out, not the bounds (their own tests show they hold).
  const limiter = new RequestLimiter({ maxPerHost: FANOUT_TRACKERS });
  console.log(`\n## Fan-out: ${FANOUT_TRACKERS} HTTP trackers on loopback, ${delays.filter((d) => d > 0).length} slow (${MIN_DELAY_MS}–${MAX_DELAY_MS} ms)`);
  try {
    for (let round = 1; round <= FANOUT_ROUNDS; round++) {
      // A fresh agent per round, as scrapeAll makes one per call when given none: kept-alive
      // connections of the previous round would otherwise still hold their address slots.
      const dispatcher = new GuardedAgent({ policy: POLICY, addressLimiter: new AddressLimiter({ maxPerAddress: FANOUT_TRACKERS }) });
      const started = performance.now();
      const rows = await scrapeAll(torrentWith(trackers), { policy: POLICY, limiter, dispatcher, maxTrackers: FANOUT_TRACKERS, deadlineMs: FANOUT_DEADLINE_MS });
      const total = performance.now() - started;
      await dispatcher.destroy();
      const ok = rows.filter((r) => r.status === 'ok' && r.seeders === 1).length;
      const slowestRow = Math.max(...rows.map((r) => r.ms));
      const factor = total / slowest;
      const met = ok === FANOUT_TRACKERS && factor <= FANOUT_TARGET_FACTOR;
      console.log(
        `round ${round}: total ${total.toFixed(0)} ms | slowest tracker delay ${slowest} ms (its row: ${slowestRow} ms) | sum of delays ${sum} ms | ok ${ok}/${rows.length} | total/slowest ${factor.toFixed(2)} — ${verdict(met)} (≤ ${FANOUT_TARGET_FACTOR}×, every tracker ok)`,
      );
      verdicts.push({ met, line: `fan-out round ${round}: total/slowest ${factor.toFixed(2)} (target ≤ ${FANOUT_TARGET_FACTOR}×), ok ${ok}/${FANOUT_TRACKERS}` });
    }
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** Every verdict of the run, repeated together at the end. */
const verdicts: { met: boolean; line: string }[] = [];

function verdict(met: boolean): string {
  return met ? 'target met' : 'MISSED';
}

// ---------------------------------------------------------------------------------------------
// Part 2: requests/s against one bittorrent-tracker

/**
 * The tracker runs in its own process (the second core), so its work is not charged to whichever
 * client is being measured; it binds loopback only and exits when our pipe to it closes.
 */
const TRACKER_PROCESS_SCRIPT = `
import { Server } from 'bittorrent-tracker';
const server = new Server({ http: true, udp: true, ws: false, stats: false });
server.on('warning', () => {});
server.udp6.close();
server.udp6 = null;
let ready = 0;
const onReady = () => {
  if (++ready === 2) console.log(JSON.stringify({ http: server.http.address().port, udp: server.udp4.address().port }));
};
server.http.once('listening', onReady);
server.udp4.once('listening', onReady);
server.listen(0, { http: '${LOOPBACK}', udp: '${LOOPBACK}', udp6: '::1' });
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;
const TRACKER_START_TIMEOUT_MS = 10_000;

async function startTrackerProcess(): Promise<{ http: number; udp: number; stop: () => Promise<void> }> {
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e', TRACKER_PROCESS_SCRIPT], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.stdin?.end();
    const kill = setTimeout(() => child.kill('SIGKILL'), PER_REQUEST_TIMEOUT_MS);
    await exited;
    clearTimeout(kill);
  };
  try {
    const [line] = (await Promise.race([
      once(child.stdout!, 'data'),
      once(child, 'exit').then(() => Promise.reject(new Error('the tracker process exited'))),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the tracker process did not start')), TRACKER_START_TIMEOUT_MS).unref()),
    ])) as [Buffer];
    const ports = JSON.parse(line.toString()) as { http: number; udp: number };
    return { ...ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function httpGet(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, signal: AbortSignal.timeout(PER_REQUEST_TIMEOUT_MS) }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

function percentEncode(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

async function announceSwarm(httpPort: number): Promise<void> {
  const peers = [...Array(SWARM.seeders).fill(0), ...Array(SWARM.leechers).fill(1000)] as number[];
  for (const [i, left] of peers.entries()) {
    const peerId = Buffer.from(`-TS0001-${String(900_000_000_000 + i)}`, 'latin1');
    await httpGet(
      `http://${LOOPBACK}:${httpPort}/announce?info_hash=${percentEncode(INFO_HASH)}&peer_id=${percentEncode(peerId)}&port=${20_000 + i}&uploaded=0&downloaded=0&left=${left}&event=started&compact=1&numwant=0`,
    );
  }
}

/** One scrape; resolves with the swarm's numbers, or null for a reference variant that only times the exchange. */
type ScrapeOnce = () => Promise<{ seeders: number | null; leechers: number | null } | null>;

/** Requests per second with `concurrency` loops for the window (or up to the cap); every answer is checked. */
async function measure(run: ScrapeOnce, concurrency: number, windowMs: number): Promise<number> {
  const started = performance.now();
  let requests = 0;
  const loop = async () => {
    while (requests < WINDOW_MAX_REQUESTS && performance.now() - started < windowMs) {
      const counts = await run();
      if (counts !== null && (counts.seeders !== SWARM.seeders || counts.leechers !== SWARM.leechers)) {
        throw new Error(`wrong numbers: ${JSON.stringify(counts)} (expected ${JSON.stringify(SWARM)})`);
      }
      requests++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return requests / ((performance.now() - started) / 1000);
}

/** Reject when `promise` has not settled in time, so a hung client cannot stall the bench. */
function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${PER_REQUEST_TIMEOUT_MS} ms`)), PER_REQUEST_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * bittorrent-tracker's client wants the info-hash as hex for HTTP but as bytes for UDP: its UDP
 * scrape puts `opts.infoHash` into the packet as it is, so hex text would ask for the wrong hashes.
 */
function theirs(announce: string): ScrapeOnce {
  const infoHash = announce.startsWith('udp:') ? INFO_HASH : INFO_HASH.toString('hex');
  const once = () =>
    new Promise<{ seeders: number; leechers: number }>((resolve, reject) => {
      Client.scrape({ announce, infoHash }, (err, data) => {
        if (err) reject(err);
        else resolve({ seeders: data.complete, leechers: data.incomplete });
      });
    });
  return () => withTimeout(once(), 'Client.scrape()');
}

/** The tracker's ceiling over HTTP: a bare keep-alive undici request, no guard, body discarded unparsed. */
function bareHttp(url: string, dispatcher: Agent): ScrapeOnce {
  return async () => {
    const response = await request(url, { dispatcher, signal: AbortSignal.timeout(PER_REQUEST_TIMEOUT_MS) });
    await response.body.dump();
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
    return null;
  };
}

/**
 * The tracker's ceiling over UDP: one open socket, one BEP 15 connect at the start, then a scrape
 * packet out and its reply back per request (what our scrape does with a cached connection id),
 * with no checks and no decoding.
 */
async function bareUdp(port: number): Promise<{ run: ScrapeOnce; close: () => void }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  const waiting = new Map<number, (reply: Buffer) => void>();
  socket.on('message', (msg) => {
    if (msg.length >= 8) waiting.get(msg.readUInt32BE(4))?.(msg);
  });
  let nextTxId = 1;
  const exchange = (packetFor: (txId: number) => Uint8Array): Promise<Buffer> => {
    const txId = nextTxId++;
    const answered = new Promise<Buffer>((resolve) => {
      waiting.set(txId, (reply) => {
        waiting.delete(txId);
        resolve(reply);
      });
    });
    socket.send(packetFor(txId), port, LOOPBACK);
    return withTimeout(answered, 'bare UDP round trip');
  };
  const connectReply = await exchange(encodeConnectRequest);
  const connectionId = connectReply.readBigUInt64BE(8);
  const run: ScrapeOnce = async () => {
    await exchange((txId) => encodeScrapeRequest(connectionId, txId, [INFO_HASH]));
    return null;
  };
  return { run, close: () => socket.close() };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function spread(values: readonly number[], digits: number): string {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}

type Role = 'ours' | 'theirs' | 'ours, like for like' | 'ours, informational' | 'tracker ceiling';

interface Variant {
  protocol: 'HTTP' | 'UDP';
  role: Role;
  label: string;
  run: ScrapeOnce;
}

async function throughput(): Promise<void> {
  const tracker = await startTrackerProcess();
  // Every variant talks to 127.0.0.1, and the per-address bound is process-wide by default: one
  // variant's kept-alive connections would hold the slots the next variant's window needs. Each
  // variant gets its own AddressLimiter with the default bound (4), i.e. runs as it would alone in the app.
  const ownLimiter = () => new AddressLimiter();
  const agent = new GuardedAgent({ policy: POLICY, addressLimiter: ownLimiter() });
  const perRequestLimiter = ownLimiter();
  const udpLimiter = ownLimiter();
  const udpLikeForLikeLimiter = ownLimiter();
  const bareAgent = new Agent();
  const bare = await bareUdp(tracker.udp);
  try {
    await announceSwarm(tracker.http);
    const scrapeUrl = `http://${LOOPBACK}:${tracker.http}/scrape`;
    const connectionCache = new ConnectionIdCache();
    const signal = () => AbortSignal.timeout(PER_REQUEST_TIMEOUT_MS);
    const variants: Variant[] = [
      {
        protocol: 'HTTP',
        role: 'ours',
        label: 'scrapeHttp, shared GuardedAgent (keep-alive, as the app)',
        run: async () => (await scrapeHttp(scrapeUrl, [INFO_HASH], { signal: signal(), policy: POLICY, dispatcher: agent })).counts[0]!,
      },
      {
        protocol: 'HTTP',
        role: 'ours, informational',
        label: 'scrapeHttp, new agent (connection) per request',
        run: async () => {
          // What scrapeHttp does without a dispatcher (an agent made and destroyed per call), with this variant's limiter.
          const dispatcher = new GuardedAgent({ policy: POLICY, addressLimiter: perRequestLimiter });
          try {
            return (await scrapeHttp(scrapeUrl, [INFO_HASH], { signal: signal(), policy: POLICY, dispatcher })).counts[0]!;
          } finally {
            await dispatcher.destroy();
          }
        },
      },
      { protocol: 'HTTP', role: 'theirs', label: `Client.scrape() (simple-get, http.globalAgent keepAlive: ${(globalAgent as { keepAlive?: boolean }).keepAlive})`, run: theirs(`http://${LOOPBACK}:${tracker.http}/announce`) },
      { protocol: 'HTTP', role: 'tracker ceiling', label: 'bare undici request, no guard, no parsing', run: bareHttp(`${scrapeUrl}?info_hash=${percentEncode(INFO_HASH)}`, bareAgent) },
      {
        protocol: 'UDP',
        role: 'ours',
        label: 'scrapeUdp, connection id reused (BEP 15: 1 min, as the app)',
        run: async () =>
          (await scrapeUdp(LOOPBACK, tracker.udp, [INFO_HASH], { signal: signal(), policy: POLICY, connectionCache, addressLimiter: udpLimiter })).counts[0]!,
      },
      {
        protocol: 'UDP',
        role: 'ours, like for like',
        label: 'scrapeUdp, connect every time (as Client.scrape)',
        run: async () =>
          (
            await scrapeUdp(LOOPBACK, tracker.udp, [INFO_HASH], {
              signal: signal(),
              policy: POLICY,
              connectionCache: new ConnectionIdCache(),
              addressLimiter: udpLikeForLikeLimiter,
            })
          )
            .counts[0]!,
      },
      { protocol: 'UDP', role: 'theirs', label: 'Client.scrape() (socket per scrape)', run: theirs(`udp://${LOOPBACK}:${tracker.udp}`) },
      { protocol: 'UDP', role: 'tracker ceiling', label: 'bare scrape round trip on one socket, no checks', run: bare.run },
    ];
    const windows = CONCURRENCIES.length * variants.length * (ROUNDS + 1);
    console.log(
      `\n## Scrape requests/s, one bittorrent-tracker (own process) on loopback, no ScrapeCache` +
        `\n${WARMUP_MS} ms warm-up per variant, then ${ROUNDS} interleaved ${WINDOW_MS} ms windows each (rotating order); ≈ ${((windows * WINDOW_MS) / 1000).toFixed(0)} s` +
        `\nload average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${availableParallelism()} cores; other processes skew single windows, hence medians of paired rounds)`,
    );
    const summary: string[] = [];
    for (const concurrency of CONCURRENCIES) {
      for (const variant of variants) await measure(variant.run, concurrency, WARMUP_MS);
      const samples = variants.map(() => [] as number[]);
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < variants.length; k++) {
          const i = (round + k) % variants.length;
          samples[i]!.push(await measure(variants[i]!.run, concurrency, WINDOW_MS));
        }
      }
      console.log(`\nconcurrency ${concurrency} (same for every variant):`);
      for (const [i, variant] of variants.entries()) {
        const values = samples[i]!;
        console.log(
          `  ${variant.protocol.padEnd(4)} ${variant.role.padEnd(20)} ${variant.label.padEnd(60)} ${median(values).toFixed(0).padStart(6)} req/s  (range ${spread(values, 0)})`,
        );
      }
      for (const protocol of ['HTTP', 'UDP'] as const) {
        const theirsAt = variants.findIndex((v) => v.protocol === protocol && v.role === 'theirs');
        for (const role of ['ours', 'ours, like for like', 'tracker ceiling'] as const) {
          const at = variants.findIndex((v) => v.protocol === protocol && v.role === role);
          if (at === -1) continue;
          // Per-round ratios pair windows measured moments apart, so machine load drifts cancel out.
          const ratios = samples[at]!.map((value, round) => value / samples[theirsAt]![round]!);
          const ratio = median(ratios);
          const line = `${protocol} ×${concurrency} ${role} / theirs: ${ratio.toFixed(2)}× (rounds ${spread(ratios, 2)})`;
          if (role === 'tracker ceiling') {
            console.log(`  ${line} — reference, no target`);
            summary.push(`${line} — reference, no target`);
            continue;
          }
          const met = ratio >= TARGET_RATIO;
          console.log(`  ${line} — ${verdict(met)} (≥ ${TARGET_RATIO}×)`);
          summary.push(`${line} — ${verdict(met)}`);
          verdicts.push({ met, line: `${line}, target ≥ ${TARGET_RATIO}×` });
        }
      }
    }
    console.log(`\nload average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`\nratios vs bittorrent-tracker Client.scrape() (target ≥ ${TARGET_RATIO}× for "ours"):\n  ${summary.join('\n  ')}`);
  } finally {
    bare.close();
    await bareAgent.close();
    await agent.close();
    await tracker.stop();
  }
}

const benchStarted = performance.now();
await fanout();
await throughput();
const benchMs = performance.now() - benchStarted;
verdicts.push({ met: benchMs <= BENCH_BUDGET_MS, line: `bench duration ${(benchMs / 1000).toFixed(1)} s (budget ≤ ${BENCH_BUDGET_MS / 1000} s)` });

const missed = verdicts.filter((v) => !v.met);
const rule = '='.repeat(100);
console.log(`\n${rule}\nVERDICT: ${missed.length === 0 ? `every target met (${verdicts.length})` : `${missed.length} of ${verdicts.length} targets MISSED`}`);
for (const v of verdicts) console.log(`  [${v.met ? 'target met' : '  MISSED  '}] ${v.line}`);
console.log(`(informational: this bench exits 0 whatever the verdict)\n${rule}`);
