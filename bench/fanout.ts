/**
 * Fan-out and per-tracker throughput, loopback only. Run: `npx tsx bench/fanout.ts`.
 *
 * 1. FANOUT_TRACKERS node:http trackers on 127.0.0.1, some answering after 200–800 ms, scraped
 *    with scrapeAll: the total must be about the slowest tracker, not the sum of the delays.
 * 2. Scrape requests/s against one bittorrent-tracker (HTTP and UDP): our scrapeHttp/scrapeUdp
 *    (no ScrapeCache) vs bittorrent-tracker's own `Client.scrape()`, in the same run, one request
 *    at a time and many at once, with the ratio (target ≥ 2×).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { encode } from '../src/bencode/index.js';
import { GuardedAgent, scrapeHttp } from '../src/scrape/http.js';
import { RequestLimiter } from '../src/scrape/limiter.js';
import { scrapeAll } from '../src/scrape/scraper.js';
import { ConnectionIdCache, scrapeUdp } from '../src/scrape/udp.js';
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

// Part 2 parameters
/** Each measurement stops at whichever comes first. */
const THROUGHPUT_WINDOW_MS = 600;
/** Each variant is measured this many times, interleaved with the others, and the median kept. */
const THROUGHPUT_ROUNDS = 3;
/** Requests kept in flight: one at a time (latency-bound), and many (CPU-bound, as a busy server). */
const THROUGHPUT_CONCURRENCY = [1, 16];
const THROUGHPUT_MAX_REQUESTS = 5000;
const PER_REQUEST_TIMEOUT_MS = 3000;
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
  // Every tracker here is 127.0.0.1, which the default per-host bound (4) would serialise; on the
  // internet they are 50 different hosts. Lift the per-host bound so the bench measures the fan-out.
  const limiter = new RequestLimiter({ maxPerHost: FANOUT_TRACKERS });
  console.log(`\n## Fan-out: ${FANOUT_TRACKERS} HTTP trackers on loopback, ${delays.filter((d) => d > 0).length} slow (${MIN_DELAY_MS}–${MAX_DELAY_MS} ms)`);
  try {
    for (let round = 1; round <= FANOUT_ROUNDS; round++) {
      const started = performance.now();
      const rows = await scrapeAll(torrentWith(trackers), { policy: POLICY, limiter, maxTrackers: FANOUT_TRACKERS, deadlineMs: FANOUT_DEADLINE_MS });
      const total = performance.now() - started;
      const ok = rows.filter((r) => r.status === 'ok' && r.seeders === 1).length;
      const slowestRow = Math.max(...rows.map((r) => r.ms));
      console.log(
        `round ${round}: total ${total.toFixed(0)} ms | slowest tracker delay ${slowest} ms (its row: ${slowestRow} ms) | sum of delays ${sum} ms | ok ${ok}/${rows.length} | total/slowest ${(total / slowest).toFixed(2)}`,
      );
      if (ok !== FANOUT_TRACKERS) throw new Error(`only ${ok} of ${FANOUT_TRACKERS} trackers answered`);
    }
  } finally {
    await Promise.all(servers.map(close));
  }
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

interface BtClientModule {
  default: {
    scrape(opts: { announce: string; infoHash: string | Uint8Array }, cb: (err: Error | null, data: { complete: number; incomplete: number }) => void): void;
  };
}
/** A string-typed specifier: the package ships no TypeScript declarations. */
const BT_TRACKER_MODULE: string = 'bittorrent-tracker';

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

type ScrapeOnce = () => Promise<{ seeders: number | null; leechers: number | null }>;

/** Requests per second with `concurrency` loops for the window (or up to the cap). */
async function measure(run: ScrapeOnce, concurrency: number): Promise<number> {
  const first = await run();
  if (first.seeders !== SWARM.seeders || first.leechers !== SWARM.leechers) {
    throw new Error(`wrong numbers: ${JSON.stringify(first)} (expected ${JSON.stringify(SWARM)})`);
  }
  const started = performance.now();
  let requests = 0;
  const loop = async () => {
    while (requests < THROUGHPUT_MAX_REQUESTS && performance.now() - started < THROUGHPUT_WINDOW_MS) {
      await run();
      requests++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return requests / ((performance.now() - started) / 1000);
}

/**
 * bittorrent-tracker's client wants the info-hash as hex for HTTP but as bytes for UDP: its UDP
 * scrape puts `opts.infoHash` into the packet as it is, so hex text would ask for the wrong hashes.
 */
function theirs(mod: BtClientModule, announce: string): ScrapeOnce {
  const infoHash = announce.startsWith('udp:') ? INFO_HASH : INFO_HASH.toString('hex');
  return () =>
    new Promise((resolve, reject) => {
      mod.default.scrape({ announce, infoHash }, (err, data) => {
        if (err) reject(err);
        else resolve({ seeders: data.complete, leechers: data.incomplete });
      });
    });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Variant {
  protocol: 'HTTP' | 'UDP';
  label: string;
  ours: boolean;
  /** The variant the ratio is computed for (ours as the app uses it, or theirs). */
  headline: boolean;
  run: ScrapeOnce;
}

async function throughput(): Promise<void> {
  const mod = (await import(BT_TRACKER_MODULE)) as BtClientModule;
  const tracker = await startTrackerProcess();
  const agent = new GuardedAgent({ policy: POLICY });
  try {
    await announceSwarm(tracker.http);
    const scrapeUrl = `http://${LOOPBACK}:${tracker.http}/scrape`;
    const connectionCache = new ConnectionIdCache();
    const signal = () => AbortSignal.timeout(PER_REQUEST_TIMEOUT_MS);
    const variants: Variant[] = [
      {
        protocol: 'HTTP',
        label: 'ours: scrapeHttp, shared GuardedAgent (keep-alive)',
        ours: true,
        headline: true,
        run: async () => (await scrapeHttp(scrapeUrl, [INFO_HASH], { signal: signal(), policy: POLICY, dispatcher: agent })).counts[0]!,
      },
      {
        protocol: 'HTTP',
        label: 'ours: scrapeHttp, new agent per request',
        ours: true,
        headline: false,
        run: async () => (await scrapeHttp(scrapeUrl, [INFO_HASH], { signal: signal(), policy: POLICY })).counts[0]!,
      },
      { protocol: 'HTTP', label: 'bittorrent-tracker Client.scrape()', ours: false, headline: true, run: theirs(mod, `http://${LOOPBACK}:${tracker.http}/announce`) },
      {
        protocol: 'UDP',
        label: 'ours: scrapeUdp, connection id reused (BEP 15: 1 min)',
        ours: true,
        headline: true,
        run: async () => (await scrapeUdp(LOOPBACK, tracker.udp, [INFO_HASH], { signal: signal(), policy: POLICY, connectionCache })).counts[0]!,
      },
      {
        protocol: 'UDP',
        label: 'ours: scrapeUdp, connect every time',
        ours: true,
        headline: false,
        run: async () =>
          (await scrapeUdp(LOOPBACK, tracker.udp, [INFO_HASH], { signal: signal(), policy: POLICY, connectionCache: new ConnectionIdCache() }))
            .counts[0]!,
      },
      { protocol: 'UDP', label: 'bittorrent-tracker Client.scrape()', ours: false, headline: true, run: theirs(mod, `udp://${LOOPBACK}:${tracker.udp}`) },
    ];
    console.log(
      `\n## Scrape requests/s, one bittorrent-tracker (own process) on loopback, no ScrapeCache; median of ${THROUGHPUT_ROUNDS} interleaved ${THROUGHPUT_WINDOW_MS} ms windows`,
    );
    const ratios: string[] = [];
    for (const concurrency of THROUGHPUT_CONCURRENCY) {
      const samples = variants.map(() => [] as number[]);
      for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
        for (const [i, variant] of variants.entries()) samples[i]!.push(await measure(variant.run, concurrency));
      }
      console.log(`\nconcurrency ${concurrency}:`);
      const medians = samples.map(median);
      for (const [i, variant] of variants.entries()) {
        const spread = `${Math.min(...samples[i]!).toFixed(0)}–${Math.max(...samples[i]!).toFixed(0)}`;
        console.log(`  ${variant.protocol.padEnd(4)} ${variant.label.padEnd(56)} ${medians[i]!.toFixed(0).padStart(6)} req/s  (range ${spread})`);
      }
      for (const protocol of ['HTTP', 'UDP'] as const) {
        const ours = variants.findIndex((v) => v.protocol === protocol && v.ours && v.headline);
        const theirsAt = variants.findIndex((v) => v.protocol === protocol && !v.ours);
        ratios.push(`${protocol} ×${concurrency}: ${(medians[ours]! / medians[theirsAt]!).toFixed(2)}×`);
      }
    }
    console.log(`\nratio ours / bittorrent-tracker Client.scrape() (target ≥ ${TARGET_RATIO}×): ${ratios.join(' | ')}`);
  } finally {
    await agent.close();
    await tracker.stop();
  }
}

await fanout();
await throughput();
