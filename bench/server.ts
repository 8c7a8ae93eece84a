/**
 * The web server under load, loopback only. Run: `npx tsx bench/server.ts`.
 *
 * autocannon POSTs the same real .torrent (multipart, field `torrent`), with the same settings, to:
 *   - bare: a default `express()` app with one `multer` (memory storage) `.single('torrent')` route
 *     that parses the upload and answers `{"ok":true}`: the cost of receiving the request at all;
 *   - trackerscope's POST /scrape, cache warm (every tracker answer served from the ScrapeCache):
 *     the server's own cost — rate limit, upload parsing, torrent parsing, answering, logging,
 *     security headers — as JSON and as the HTML page;
 *   - trackerscope's POST /scrape, cache cold (cache TTL 0): every request also asks the loopback
 *     bittorrent-tracker (identical scrapes in flight at once still share one tracker request).
 * Each server and the tracker run in their own child processes, so autocannon does not share their
 * event loop; each server runs as BENCH_PROCESSES (3) processes, and rounds rotate over them,
 * because one process of our app can settle 10–15 % faster or slower than another. The measure is the server process's CPU time per request (user + system): on a small,
 * shared machine autocannon and other processes compete for the cores, so requests/s alone mostly
 * measures the neighbours. Every scenario is warmed up first, then measured BENCH_ROUNDS times; in
 * each round every run of ours sits between two runs of the bare route and is compared with them,
 * so drift in the machine's load cancels out. The tables show medians. Two regimes:
 *   - full load: autocannon sends as fast as each server answers (requests/s and p99 at capacity);
 *   - with BENCH_RATE=<req/s>, also the same fixed rate for every server: the client then costs
 *     the machine the same for each server, at the price of every request also paying the event
 *     loop's wake-up from idle — the bare route too, which flatters the ratio somewhat.
 * Target (issue #4): warm cache ≤ 2× the bare route.
 *
 * BENCH_BREAKDOWN=1 adds cumulative stages built from the app's own parts — bare, + request log,
 * + security headers, + rate limit, + parseTorrent, + scrapeAll (warm), + JSON answer — and prints
 * what each adds per request in microseconds (see `breakdown`).
 * BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every server child there.
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
import { GuardedAgent, ScrapeCache, scrapeAll } from '../src/scrape/index.js';
import { parseTorrent } from '../src/torrent/index.js';
import { createApp } from '../src/web/app.js';
import { scrapeRateLimiter } from '../src/web/rate-limit.js';
import { requestLog } from '../src/web/request-log.js';
import { securityHeaders } from '../src/web/security-headers.js';
import { jsonResult } from '../src/web/view-model.js';
import { announcePeers, startBtTracker } from '../test/support/trackers.js';
import { makeTorrent } from '../test/web/support.js';

const LOOPBACK = '127.0.0.1';
/** Seconds of each measured run (BENCH_DURATION_S overrides). */
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 3);
/** Measured runs per scenario; the table shows their median (BENCH_ROUNDS overrides). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
/** Seconds of load before anything is measured, so JIT and the cache are warm (BENCH_WARMUP_S). */
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const BREAKDOWN = process.env.BENCH_BREAKDOWN === '1';
/** Seconds of unmeasured load right before every measured run (BENCH_RESUME_S). */
const RESUME_S = Number(process.env.BENCH_RESUME_S ?? 1);
/** Processes per server (BENCH_PROCESSES); rounds rotate over them. */
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 3);
/** Breakdown: runs per stage (BENCH_BREAKDOWN_BATCHES) and requests per run (BENCH_BREAKDOWN_REQUESTS). */
const BREAKDOWN_BATCHES = Number(process.env.BENCH_BREAKDOWN_BATCHES ?? 12);
const BREAKDOWN_REQUESTS = Number(process.env.BENCH_BREAKDOWN_REQUESTS ?? 5000);
/**
 * BENCH_RATE=<req/s> adds a second measurement at this fixed rate, the same for every server (500
 * is below what the slowest scenario, cold cache HTML, answers on a small machine). Off by default:
 * it doubles the bench's running time.
 */
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 0);
/** A run at a fixed rate that achieved less than this share of it was limited by the server. */
const RATE_KEPT_UP = 0.95;
/** BENCH_CPU_PROF=<dir>: write a V8 CPU profile of each server child there (see where time goes). */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;
/** Concurrent connections autocannon keeps open. */
const CONNECTIONS = 10;
const TARGET_OVERHEAD_RATIO = 2;
const MULTIPART_BOUNDARY = '----trackerscope-bench-boundary';
const SWARM = { seeders: 25, leechers: 7, completed: 0 };
/** A realistic torrent: a few dozen files, 64 KiB of piece hashes. */
const BENCH_FILES = 40;
const BENCH_FILE_BYTES = 8 * 1024 * 1024;
const BENCH_PIECE_LENGTH = 256 * 1024;
const CHILD_START_TIMEOUT_MS = 20_000;
/** Warm cache: answers outlive the bench. */
const WARM_CACHE_TTL_MS = 3_600_000;
/** The rate limiter runs on every request; with this budget it never says no during the bench. */
const BENCH_RATE_LIMIT = 1_000_000;

/** What each breakdown stage adds to the one before it. */
const STAGES = ['bare', '+ request log', '+ security headers', '+ rate limit', '+ parseTorrent', '+ scrapeAll (warm)', '+ JSON answer'] as const;

type Role = 'tracker' | 'bare' | 'warm' | 'cold' | `stage${number}`;

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

/**
 * One info line per request, as in production (createLogger: pino's default destination, a
 * synchronous write per line), written to /dev/null instead of stdout.
 */
function benchLogger() {
  return pino({ level: 'info', base: { app: 'trackerscope' } }, pino.destination({ dest: '/dev/null', sync: true }));
}

/** The bare route: express and multer as anyone would set them up, doing nothing with the upload. */
function bareApp(): express.Express {
  const app = express();
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: DEFAULT_CONFIG.maxUploadBytes } }).single('torrent');
  app.post('/scrape', upload, (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}

/**
 * Breakdown stage `level` (index into STAGES): the bare route plus the first `level` parts of the
 * app, each exactly as createApp builds it.
 */
function stageApp(level: number): express.Express {
  if (level === 0) return bareApp();
  const logger = benchLogger();
  const cache = new ScrapeCache({ ttlMs: WARM_CACHE_TTL_MS });
  const dispatcher = new GuardedAgent({ policy: { allowPrivate: true } });
  const context = { maxUploadBytes: DEFAULT_CONFIG.maxUploadBytes, maxMagnetBytes: DEFAULT_CONFIG.maxUploadBytes };
  const app = express();
  if (level >= 1) app.use(requestLog(logger));
  if (level >= 2) app.use(securityHeaders());
  const handlers: express.RequestHandler[] = [];
  if (level >= 3) handlers.push(scrapeRateLimiter({ max: BENCH_RATE_LIMIT, windowMs: DEFAULT_CONFIG.rateLimitWindowMs }, logger, context));
  handlers.push(multer({ storage: multer.memoryStorage(), limits: { fileSize: DEFAULT_CONFIG.maxUploadBytes } }).single('torrent'));
  app.post('/scrape', ...handlers, async (req, res) => {
    if (level < 4) {
      res.json({ ok: true });
      return;
    }
    const torrent = parseTorrent(req.file?.buffer ?? new Uint8Array());
    if (level < 5) {
      res.json({ ok: true });
      return;
    }
    const stats = await scrapeAll(torrent, { deadlineMs: DEFAULT_CONFIG.scrapeTimeoutMs, policy: { allowPrivate: true }, cache, dispatcher });
    if (level < 6) {
      res.json({ ok: stats.length > 0 });
      return;
    }
    res.json(jsonResult(torrent, stats));
  });
  return app;
}

async function serve(role: Role, announce: string | undefined): Promise<void> {
  const report = (ready: Ready) => process.stdout.write(`${JSON.stringify(ready)}\n`);
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
    report({ port: await listen(createServer(bareApp())) });
    return;
  }
  if (role.startsWith('stage')) {
    report({ port: await listen(createServer(stageApp(Number(role.slice('stage'.length))))) });
    return;
  }
  if (!announce) throw new Error('the app needs the tracker');
  const config = {
    ...DEFAULT_CONFIG,
    allowPrivateTrackers: true,
    rateLimitMax: BENCH_RATE_LIMIT,
    cacheTtlMs: role === 'warm' ? WARM_CACHE_TTL_MS : 0,
  };
  const dispatcher = new GuardedAgent({ policy: { allowPrivate: true } });
  const app = createApp(config, { logger: benchLogger(), dispatcher });
  report({ port: await listen(createServer(app)) });
}

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

interface Run {
  requestsPerSecond: number;
  /** Server CPU time per request, milliseconds. */
  cpuMsPerRequest: number;
  p50: number;
  p99: number;
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

interface Scenario {
  label: string;
  /**
   * Several processes of the same server: one process's figures can sit 10–15 % off another's
   * (JIT and heap happen to settle differently), so runs rotate over them.
   */
  servers: readonly ServerChild[];
  accept: string;
}

/** How autocannon loads a server: as fast as it answers, or at a fixed rate. */
interface Regime {
  title: string;
  /** Requests per second over all connections; null: as many as the server answers. */
  rate: number | null;
}

/** How long one run lasts: seconds, or a number of requests. */
type RunLength = { seconds: number } | { requests: number };

/** Load one scenario (its `run`-th process, in rotation); every answer must be a success, or the bench measures nothing. */
async function load(scenario: Scenario, run: number, body: Buffer, length: RunLength, rate: number | null): Promise<Run> {
  const { default: autocannon } = (await import(AUTOCANNON_MODULE)) as { default: Autocannon };
  const server = scenario.servers[run % scenario.servers.length];
  if (!server) throw new Error(`${scenario.label}: no server process`);
  // A process that sat idle while the others were measured has had V8 shrink its heap; the first
  // second back under load regrows it. Unmeasured, so no scenario pays for its place in the order.
  if (RESUME_S > 0) {
    await autocannon({
      url: `http://${LOOPBACK}:${server.port}/scrape`,
      method: 'POST',
      connections: CONNECTIONS,
      duration: RESUME_S,
      ...(rate === null ? {} : { overallRate: rate }),
      headers: { 'content-type': `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`, accept: scenario.accept },
      body,
    });
  }
  const cpuBefore = await server.cpu();
  const result = await autocannon({
    url: `http://${LOOPBACK}:${server.port}/scrape`,
    method: 'POST',
    connections: CONNECTIONS,
    ...('seconds' in length ? { duration: length.seconds } : { amount: length.requests }),
    ...(rate === null ? {} : { overallRate: rate }),
    headers: { 'content-type': `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`, accept: scenario.accept },
    body,
  });
  const cpuAfter = await server.cpu();
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${scenario.label}: ${result.non2xx} non-2xx answers and ${result.errors} errors — the bench is not measuring success`);
  }
  return {
    requestsPerSecond: result.requests.average,
    cpuMsPerRequest: (cpuAfter - cpuBefore) / 1000 / Math.max(1, result.requests.total),
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** One scenario's runs in one regime. */
class Measured {
  readonly runs: Run[] = [];
  /** Per round: our CPU per request over the mean of the bare runs just before and just after. */
  readonly ratios: number[] = [];

  constructor(readonly scenario: Scenario) {}

  get requestsPerSecond(): number {
    return median(this.runs.map((r) => r.requestsPerSecond));
  }
  get cpuMsPerRequest(): number {
    return median(this.runs.map((r) => r.cpuMsPerRequest));
  }
  get p50(): number {
    return median(this.runs.map((r) => r.p50));
  }
  get p99(): number {
    return median(this.runs.map((r) => r.p99));
  }
  /** Median of the per-round ratios to the neighbouring bare runs: drift in the machine's load cancels out. */
  get ratio(): number {
    return median(this.ratios);
  }
}

/**
 * BENCH_ROUNDS rounds of: bare, A, bare, B, bare, …, so every run of ours has a bare run right
 * before and right after it and is compared with their mean.
 */
async function measureRegime(regime: Regime, bare: Scenario, ours: readonly Scenario[], body: Buffer): Promise<{ bare: Measured; ours: Measured[] }> {
  const bareRuns = new Measured(bare);
  const oursRuns = ours.map((s) => new Measured(s));
  for (let round = 0; round < ROUNDS; round++) {
    let before = await load(bare, round, body, { seconds: DURATION_S }, regime.rate);
    bareRuns.runs.push(before);
    for (const m of oursRuns) {
      const run = await load(m.scenario, round, body, { seconds: DURATION_S }, regime.rate);
      const after = await load(bare, round, body, { seconds: DURATION_S }, regime.rate);
      m.runs.push(run);
      m.ratios.push(run.cpuMsPerRequest / ((before.cpuMsPerRequest + after.cpuMsPerRequest) / 2));
      bareRuns.runs.push(after);
      before = after;
    }
  }
  return { bare: bareRuns, ours: oursRuns };
}

function printRegime(regime: Regime, bare: Measured, ours: readonly Measured[]): void {
  console.log(`\n${regime.title}`);
  console.log(
    `${'scenario'.padEnd(42)}${'req/s'.padStart(8)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'CPU ms/req'.padStart(12)}${'× bare'.padStart(8)}  rounds`,
  );
  for (const m of [bare, ...ours]) {
    const spread = m === bare ? '' : `  ${Math.min(...m.ratios).toFixed(2)}–${Math.max(...m.ratios).toFixed(2)}`;
    console.log(
      `${m.scenario.label.padEnd(42)}${m.requestsPerSecond.toFixed(0).padStart(8)}${m.p50.toFixed(1).padStart(8)}${m.p99.toFixed(1).padStart(8)}` +
        `${m.cpuMsPerRequest.toFixed(3).padStart(12)}${(m === bare ? 1 : m.ratio).toFixed(2).padStart(8)}${spread}`,
    );
  }
  if (regime.rate !== null) {
    const behind = [bare, ...ours].filter((m) => m.requestsPerSecond < regime.rate! * RATE_KEPT_UP);
    for (const m of behind) console.log(`  (${m.scenario.label} did not keep up with ${regime.rate} req/s: its figures are at full load)`);
  }
}

/**
 * What each part costs: the stages (bare, + request log, + security headers, …) and the app, each
 * run BREAKDOWN_BATCHES times for BREAKDOWN_REQUESTS requests at full load, interleaved and
 * rotating over each stage's processes; each line shows the median CPU per request and what the
 * stage adds to the one before. The differences are small next to the noise of a shared machine:
 * read them as ±20 µs.
 */
async function breakdown(steps: readonly Scenario[], body: Buffer): Promise<void> {
  const runs: number[][] = steps.map(() => []);
  for (let batch = 0; batch < BREAKDOWN_BATCHES; batch++) {
    for (const [i, step] of steps.entries()) {
      runs[i]?.push((await load(step, batch, body, { requests: BREAKDOWN_REQUESTS }, null)).cpuMsPerRequest);
    }
  }
  const cpu = runs.map(median);
  console.log(`\nBreakdown: server CPU per request, median of ${BREAKDOWN_BATCHES} runs of ${BREAKDOWN_REQUESTS} requests each (µs)`);
  const micros = (ms: number | undefined) => ((ms ?? Number.NaN) * 1000).toFixed(0).padStart(6);
  steps.forEach((step, i) => {
    const added = i === 0 || i === steps.length - 1 ? '' : ` ${micros((cpu[i] ?? 0) - (cpu[i - 1] ?? 0))} added`;
    console.log(`  ${step.label.padEnd(44)}${micros(cpu[i])}${added}`);
  });
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  try {
    const tracker = await startChild('tracker');
    children.push(tracker.child);
    const announce = `http://${LOOPBACK}:${tracker.port}/announce`;
    const torrent = benchTorrent(announce);
    const body = multipartBody(torrent.bytes);
    const processes = async (role: Role): Promise<ServerChild[]> => {
      const started: ServerChild[] = [];
      // One at a time: a dozen children compiling TypeScript at once would time out on 2 cores.
      for (let i = 0; i < PROCESSES; i++) {
        const child = await startChild(role, announce);
        children.push(child.child);
        started.push(child);
      }
      return started;
    };
    const bareServers = await processes('bare');
    const warmServers = await processes('warm');
    const coldServers = await processes('cold');
    const stageServers: ServerChild[][] = [];
    if (BREAKDOWN) for (let level = 1; level < STAGES.length; level++) stageServers.push(await processes(`stage${level}`));

    const json = 'application/json';
    const bare: Scenario = { label: 'bare express + multer (no work)', servers: bareServers, accept: json };
    const ours: Scenario[] = [
      { label: 'trackerscope, cache warm, JSON', servers: warmServers, accept: json },
      { label: 'trackerscope, cache warm, HTML page', servers: warmServers, accept: 'text/html' },
      { label: 'trackerscope, cache cold, JSON', servers: coldServers, accept: json },
      { label: 'trackerscope, cache cold, HTML page', servers: coldServers, accept: 'text/html' },
    ];
    const stages: Scenario[] = stageServers.map((servers, i) => ({ label: STAGES[i + 1] ?? '', servers, accept: json }));

    console.log(
      `POST /scrape, the same multipart upload to every server: torrent ${torrent.bytes.length} bytes, ${BENCH_FILES} files, 1 HTTP tracker on loopback; ` +
        `autocannon ${CONNECTIONS} connections; ${PROCESSES} processes per server, each warmed up ${WARMUP_S} s per scenario; then ${ROUNDS} rounds ` +
        `of ${DURATION_S} s, each run of ours between two runs of the bare route (figures: medians; rounds: spread of the per-round ratios)`,
    );
    for (const s of [bare, ...ours, ...stages]) {
      for (let i = 0; i < s.servers.length; i++) await load(s, i, body, { seconds: WARMUP_S }, null);
    }

    const regimes: Regime[] = [
      { title: 'Full load: autocannon sends as fast as each server answers.', rate: null },
      ...(FIXED_RATE > 0
        ? [
            {
              title:
                `Same load for every server: ${FIXED_RATE} req/s. autocannon then costs the machine the same for each, and every ` +
                'server idles between requests, so each request also pays the event-loop wake-up (the bare route too).',
              rate: FIXED_RATE,
            },
          ]
        : []),
    ];
    // BENCH_ROUNDS=0: only the breakdown.
    for (const regime of ROUNDS > 0 ? regimes : []) {
      const measured = await measureRegime(regime, bare, ours, body);
      printRegime(regime, measured.bare, measured.ours);
      const [warmJson, warmHtml, coldJson, coldHtml] = measured.ours;
      for (const m of [warmJson, warmHtml]) {
        if (!m) continue;
        console.log(
          `overhead, ${m.scenario.label.replace('trackerscope, ', '')}: ${m.ratio.toFixed(2)}× the bare route's server CPU per request — ` +
            `target ≤ ${TARGET_OVERHEAD_RATIO}×: ${m.ratio <= TARGET_OVERHEAD_RATIO ? 'met' : 'NOT met'}`,
        );
      }
      for (const m of [coldJson, coldHtml]) {
        if (m) console.log(`${m.scenario.label.replace('trackerscope, ', '')}: ${m.ratio.toFixed(2)}× the bare route (also asks the tracker every time)`);
      }
    }
    const [warmJson, warmHtml] = ours;
    if (BREAKDOWN && warmJson && warmHtml) {
      const app = { ...warmJson, label: 'the app, warm, JSON (rest: routing, checks)' };
      await breakdown([bare, ...stages, app, { ...warmHtml, label: 'the app, warm, HTML page' }], body);
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
