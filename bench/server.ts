/**
 * The web server under load, loopback only. Run: `npx tsx bench/server.ts`.
 *
 * autocannon POSTs a real .torrent (multipart, field `torrent`) to:
 *   - a bare express + multer (memory storage) route that does no work: the floor;
 *   - a "floor": express + multer + the middleware the issue requires (pino-http, helmet, the rate
 *     limit) + parseTorrent + scrapeAll through a warm cache, answering a bare count — the cost any
 *     implementation pays before it formats anything;
 *   - trackerscope's POST /scrape, cache warm (every tracker answer served from the ScrapeCache):
 *     the server's own cost — upload parsing, rate limit, torrent parsing, rendering, logging;
 *   - trackerscope's POST /scrape, cache cold (CACHE_TTL_MS=0): every request asks the loopback
 *     bittorrent-tracker (concurrent identical scrapes still share one tracker request).
 * Each server and the tracker run in their own child process so autocannon does not share their
 * event loop. Prints requests/s, p50/p99 latency and our overhead as a ratio to the bare route
 * (target: ≤ 2×).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import multer from 'multer';
import { pino } from 'pino';
import { DEFAULT_CONFIG } from '../src/config.js';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { GuardedAgent, ScrapeCache, scrapeAll } from '../src/scrape/index.js';
import { parseTorrent } from '../src/torrent/index.js';
import { createApp } from '../src/web/app.js';
import { announcePeers, startBtTracker } from '../test/support/trackers.js';
import { makeTorrent } from '../test/web/support.js';

const LOOPBACK = '127.0.0.1';
/** Seconds each scenario runs (BENCH_DURATION_S overrides). */
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
/** Concurrent connections autocannon keeps open. */
const CONNECTIONS = 10;
/** Requests before measuring, so JIT and the cache are warm. */
const WARMUP_S = 2;
const TARGET_OVERHEAD_RATIO = 2;
const MULTIPART_BOUNDARY = '----trackerscope-bench-boundary';
const SWARM = { seeders: 25, leechers: 7, completed: 0 };
/** A realistic torrent: a few dozen files, 64 KiB of piece hashes. */
const BENCH_FILES = 40;
const BENCH_FILE_BYTES = 8 * 1024 * 1024;
const BENCH_PIECE_LENGTH = 256 * 1024;
const CHILD_START_TIMEOUT_MS = 20_000;

type Role = 'tracker' | 'bare' | 'floor' | 'warm' | 'cold';

interface Ready {
  port: number;
}

/** What a server child reports on SIGUSR2: CPU time it has used so far (microseconds). */
interface CpuReport {
  cpuMicros: number;
}

// ---------------------------------------------------------------------------------------------
// Children

function benchTorrent(announce: string) {
  return makeTorrent({
    name: 'bench-dataset',
    pieceLength: BENCH_PIECE_LENGTH,
    files: Array.from({ length: BENCH_FILES }, (_, i) => ({ path: ['data', `part-${String(i).padStart(3, '0')}.bin`], length: BENCH_FILE_BYTES })),
    announce,
  });
}

async function listen(server: Server): Promise<number> {
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function serve(role: Role, announce: string | undefined): Promise<void> {
  const report = (ready: Ready) => process.stdout.write(`${JSON.stringify(ready)}\n`);
  // CPU time is the honest per-request cost here: on a small machine autocannon competes with the
  // server for cores, so requests/s alone understates the cheaper server.
  process.on('SIGUSR2', () => {
    const { user, system } = process.cpuUsage();
    const cpu: CpuReport = { cpuMicros: user + system };
    process.stdout.write(`${JSON.stringify(cpu)}\n`);
  });
  if (role === 'tracker') {
    const tracker = await startBtTracker();
    await announcePeers(tracker.httpAnnounce, benchTorrent(tracker.httpAnnounce).infoHashBytes, SWARM);
    process.stdout.write(`${JSON.stringify({ port: tracker.httpPort })}\n`);
    return;
  }
  if (role === 'bare') {
    const app = express();
    const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: DEFAULT_CONFIG.maxUploadBytes } }).single('torrent');
    app.post('/scrape', upload, (_req, res) => {
      res.json({ ok: true });
    });
    report({ port: await listen(createServer(app)) });
    return;
  }
  if (role === 'floor') {
    // What any server meeting issue #4 must spend before drawing a page: the required middleware
    // (one log line per request, helmet, the rate limit) and the core work (parse, scrape through a
    // warm cache), answering a bare count.
    const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
    const cache = new ScrapeCache({ ttlMs: 3_600_000 });
    const dispatcher = new GuardedAgent({ policy: { allowPrivate: true } });
    const app = express();
    app.set('etag', false);
    app.use(pinoHttp({ logger, serializers: { req: (req: express.Request) => ({ method: req.method, url: req.path }) } }));
    app.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"] } } }));
    const limiter = rateLimit({ limit: 1_000_000_000, standardHeaders: 'draft-8', legacyHeaders: false });
    const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: DEFAULT_CONFIG.maxUploadBytes } }).single('torrent');
    app.post('/scrape', limiter, upload, async (req, res) => {
      const torrent = parseTorrent(req.file?.buffer ?? new Uint8Array());
      const stats = await scrapeAll(torrent, { deadlineMs: DEFAULT_CONFIG.scrapeTimeoutMs, policy: { allowPrivate: true }, cache, dispatcher });
      res.json({ rows: stats.length });
    });
    report({ port: await listen(createServer(app)) });
    return;
  }
  if (!announce) throw new Error('the app needs the tracker');
  const config = {
    ...DEFAULT_CONFIG,
    allowPrivateTrackers: true,
    // The limiter still runs on every request; it just never says no during the bench.
    rateLimitMax: 1_000_000_000,
    cacheTtlMs: role === 'warm' ? 3_600_000 : 0,
  };
  // One info line per request, as in production, written to /dev/null.
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
  const dispatcher = new GuardedAgent({ policy: { allowPrivate: true } });
  const app = createApp(config, { logger, dispatcher });
  report({ port: await listen(createServer(app)) });
}

/** BENCH_CPU_PROF=<dir>: write a V8 CPU profile of each server child there (see where time goes). */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;

interface ServerChild {
  child: ChildProcess;
  port: number;
  /** CPU microseconds the child has used so far. */
  cpu(): Promise<number>;
}

function startChild(role: Role, announce?: string): Promise<ServerChild> {
  const self = fileURLToPath(import.meta.url);
  const profile = CPU_PROFILE_DIR && role !== 'tracker' ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', self, '--serve', role, ...(announce ? [announce] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const cpuWaiters: ((micros: number) => void)[] = [];
  return new Promise((resolve, reject) => {
    let buffered = '';
    let started = false;
    const timer = setTimeout(() => reject(new Error(`${role} did not start`)), CHILD_START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const message = JSON.parse(line) as Partial<Ready & CpuReport>;
        if (message.cpuMicros !== undefined) cpuWaiters.shift()?.(message.cpuMicros);
        else if (message.port !== undefined && !started) {
          started = true;
          clearTimeout(timer);
          resolve({
            child,
            port: message.port,
            cpu: () =>
              new Promise<number>((done) => {
                cpuWaiters.push(done);
                child.kill('SIGUSR2');
              }),
          });
        }
      }
    });
    child.on('exit', (code) => {
      if (!started) reject(new Error(`${role} exited with ${code}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Load

interface Result {
  label: string;
  requestsPerSecond: number;
  /** Server CPU time per request, milliseconds. */
  cpuMsPerRequest: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

function multipartBody(bytes: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="torrent"; filename="bench.torrent"\r\n` +
        'Content-Type: application/x-bittorrent\r\n\r\n',
    ),
    bytes,
    Buffer.from(`\r\n--${MULTIPART_BOUNDARY}--\r\n`),
  ]);
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** A string specifier: autocannon ships no types. */
const AUTOCANNON_MODULE: string = 'autocannon';

async function load(label: string, server: ServerChild, body: Buffer, accept: string, seconds: number): Promise<Result> {
  const { default: autocannon } = (await import(AUTOCANNON_MODULE)) as { default: Autocannon };
  const cpuBefore = await server.cpu();
  const result = await autocannon({
    url: `http://${LOOPBACK}:${server.port}/scrape`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`, accept },
    body,
  });
  const cpuAfter = await server.cpu();
  return {
    label,
    requestsPerSecond: result.requests.average,
    cpuMsPerRequest: (cpuAfter - cpuBefore) / 1000 / Math.max(1, result.requests.total),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

interface Scenario {
  label: string;
  server: ServerChild;
  accept: string;
}

async function measure({ label, server, accept }: Scenario, body: Buffer): Promise<Result> {
  const result = await load(label, server, body, accept, DURATION_S);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${label}: ${result.non2xx} non-2xx answers and ${result.errors} errors — the bench is not measuring success`);
  }
  return result;
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  try {
    const tracker = await startChild('tracker');
    children.push(tracker.child);
    const announce = `http://${LOOPBACK}:${tracker.port}/announce`;
    const torrent = benchTorrent(announce);
    const body = multipartBody(torrent.bytes);
    const [bare, floor, warm, cold] = await Promise.all([
      startChild('bare'),
      startChild('floor'),
      startChild('warm', announce),
      startChild('cold', announce),
    ]);
    children.push(bare.child, floor.child, warm.child, cold.child);

    console.log(
      `POST /scrape, ${CONNECTIONS} connections, ${DURATION_S} s each; torrent ${torrent.bytes.length} bytes, ${BENCH_FILES} files, 1 HTTP tracker on loopback`,
    );
    const scenarios: Scenario[] = [
      { label: 'bare express + multer (no work)', server: bare, accept: 'application/json' },
      { label: 'floor: required middleware + core', server: floor, accept: 'application/json' },
      { label: 'trackerscope, cache warm, JSON', server: warm, accept: 'application/json' },
      { label: 'trackerscope, cache warm, HTML page', server: warm, accept: 'text/html' },
      { label: 'trackerscope, cache cold, JSON', server: cold, accept: 'application/json' },
      { label: 'trackerscope, cache cold, HTML page', server: cold, accept: 'text/html' },
    ];
    // Every code path of every server is warmed (JIT, caches) before anything is measured.
    for (const s of scenarios) await load(s.label, s.server, body, s.accept, WARMUP_S);
    const results: Result[] = [];
    for (const s of scenarios) results.push(await measure(s, body));
    console.log(
      `${'scenario'.padEnd(38)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'CPU ms/req'.padStart(12)}`,
    );
    for (const r of results) {
      console.log(
        `${r.label.padEnd(38)}${r.requestsPerSecond.toFixed(0).padStart(9)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(9)}${r.cpuMsPerRequest.toFixed(3).padStart(12)}`,
      );
    }
    const [bareResult, floorResult, warmJson, warmHtml] = results;
    if (!bareResult || !floorResult || !warmJson || !warmHtml) throw new Error('missing results');
    const floorRatio = floorResult.cpuMsPerRequest / bareResult.cpuMsPerRequest;
    console.log(
      `floor (log line, helmet, rate limit, parseTorrent, scrapeAll warm): ${floorRatio.toFixed(2)}× the bare route's server CPU per request`,
    );
    for (const ours of [warmJson, warmHtml]) {
      const cpuRatio = ours.cpuMsPerRequest / bareResult.cpuMsPerRequest;
      const rpsRatio = bareResult.requestsPerSecond / ours.requestsPerSecond;
      const overFloor = ours.cpuMsPerRequest / floorResult.cpuMsPerRequest;
      console.log(
        `overhead, ${ours.label.replace('trackerscope, ', '')}: ${cpuRatio.toFixed(2)}× the bare route's server CPU per request ` +
          `(${ours.cpuMsPerRequest.toFixed(3)} vs ${bareResult.cpuMsPerRequest.toFixed(3)} ms; by requests/s ${rpsRatio.toFixed(2)}×; ` +
          `${overFloor.toFixed(2)}× the floor) — ` +
          `target ≤ ${TARGET_OVERHEAD_RATIO}×: ${cpuRatio <= TARGET_OVERHEAD_RATIO ? 'met' : 'NOT met'}`,
      );
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) {
  // Exit cleanly when the bench is done, so `node --cpu-prof` can write its profile.
  process.on('SIGTERM', () => process.exit(0));
  void serve(process.argv[serveAt + 1] as Role, process.argv[serveAt + 2]);
} else {
  await main();
}
