/**
 * The web server under load, loopback only. Run: `npx tsx bench/server.ts` (about 2½ minutes).
 *
 * autocannon POSTs the same real .torrent (multipart, field `torrent`), with the same settings, to:
 *   - bare: a default `express()` app with one `multer` (memory storage) `.single('torrent')` route
 *     that parses the upload and answers `{"ok":true}`: the cost of receiving the request at all;
 *   - trackerscope's POST /scrape, cache warm (every tracker answer served from the ScrapeCache):
 *     the server's own cost — rate limit, upload parsing, torrent parsing, answering, logging,
 *     security headers — as JSON and as the HTML page;
 *   - trackerscope's POST /scrape, cache cold (a cache that keeps nothing): requests also ask the
 *     loopback bittorrent-tracker (identical scrapes in flight at once still share one tracker
 *     request; the tracker counts what it receives, and the bench says how many per request).
 * Before anything is measured, every server answers one request and must show the tracker's figures.
 *
 * Each server and the tracker run in their own child processes, so autocannon does not share their
 * event loop; each of ours has its own process and its own bare partner process. The measure is
 * the server process's CPU time per request (user + system), from the process's own counters: on
 * a small, shared machine autocannon and other processes compete for the cores, so requests/s
 * alone mostly measures the neighbours. Every process is warmed up first, then measured
 * BENCH_ROUNDS times; in each round every one of ours runs in a bare-ours-ours-bare block with its
 * bare partner and is compared within it (see measureRegime). Each run loads for RESUME_S
 * unmeasured seconds first. The tables show medians, and the machine's load average is printed:
 * other work on the machine inflates every figure, ours (the larger working set) a little more.
 * Two regimes:
 *   - full load: autocannon sends as fast as each server answers (requests/s and p99 at capacity);
 *   - with BENCH_RATE=<req/s>, also the same fixed rate for every server: the client then costs
 *     the machine the same for each server, at the price of every request also paying the event
 *     loop's wake-up from idle — the bare route too, which flatters the ratio somewhat.
 * Target (issue #4): warm cache ≤ 2× the bare route.
 *
 * BENCH_ONLY=<text> measures only the scenarios whose label contains it (`warm`, `HTML`, …).
 * BENCH_BREAKDOWN=1 adds cumulative stages built from the app's own parts — bare, + request log,
 * + security headers, + rate limit, + parseTorrent, + scrapeAll (warm), + JSON answer — and prints
 * what each adds per request in microseconds (see `breakdown`; several more minutes).
 * BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every server child there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
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
/**
 * Seconds of each measured run (BENCH_DURATION_S overrides). Short runs, many blocks: the load
 * that other processes put on a small shared machine comes and goes over seconds, so more, shorter
 * bare-ours-ours-bare blocks pin the ratio down better than a few long ones in the same time.
 */
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 1.5);
/** Blocks per scenario; the table shows the median (BENCH_ROUNDS overrides). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
/** Seconds of load before anything is measured, so JIT and the cache are warm (BENCH_WARMUP_S). */
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 1.5);
const BREAKDOWN = process.env.BENCH_BREAKDOWN === '1';
/** BENCH_ONLY=<text>: only the scenarios whose label contains it (e.g. `warm`, `HTML`). */
const ONLY = process.env.BENCH_ONLY ?? '';
/** Seconds of unmeasured load at the start of every run, before its measured part (BENCH_RESUME_S). */
const RESUME_S = Number(process.env.BENCH_RESUME_S ?? 0.5);
/** Children started at once: one per core is what a 2-core machine compiles TypeScript for without timing out. */
const STARTING_AT_ONCE = 2;
/** Breakdown: runs per stage (BENCH_BREAKDOWN_BATCHES) and measured seconds per run. */
const BREAKDOWN_BATCHES = Number(process.env.BENCH_BREAKDOWN_BATCHES ?? 9);
const BREAKDOWN_SECONDS = 1.5;
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
const MS_PER_SECOND = 1000;
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

/** What a server child reports on SIGUSR2: CPU time it has used so far, and requests received. */
interface Sample {
  cpuMicros: number;
  requests: number;
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

/** Requests this server process has received (counted the same way in every kind of server). */
let requestsReceived = 0;

async function listenCounting(app: express.Express): Promise<number> {
  const server = createServer(app);
  server.on('request', () => {
    requestsReceived++;
  });
  return listen(server);
}

async function serve(role: Role, announce: string | undefined): Promise<void> {
  const report = (ready: Ready) => process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.on('SIGUSR2', () => {
    const { user, system } = process.cpuUsage();
    const sample: Sample = { cpuMicros: user + system, requests: requestsReceived };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  });
  if (role === 'tracker') {
    // bittorrent-tracker makes its own HTTP server: count the scrapes it answers through Node's
    // diagnostics channel, so the bench can say how often a cold-cache request reached it.
    subscribe('http.server.request.start', () => {
      requestsReceived++;
    });
    const tracker = await startBtTracker();
    await announcePeers(tracker.httpAnnounce, benchTorrent(tracker.httpAnnounce).infoHashBytes, SWARM);
    process.stdout.write(`${JSON.stringify({ port: tracker.httpPort })}\n`);
    return;
  }
  if (role === 'bare') {
    report({ port: await listenCounting(bareApp()) });
    return;
  }
  if (role.startsWith('stage')) {
    report({ port: await listenCounting(stageApp(Number(role.slice('stage'.length)))) });
    return;
  }
  if (!announce) throw new Error('the app needs the tracker');
  const config = { ...DEFAULT_CONFIG, allowPrivateTrackers: true, rateLimitMax: BENCH_RATE_LIMIT, cacheTtlMs: WARM_CACHE_TTL_MS };
  const dispatcher = new GuardedAgent({ policy: { allowPrivate: true } });
  // Cold: a cache that stores nothing. A TTL of 0 is not enough: the cache keeps an answer as long
  // as the tracker's min_request_interval asks, and bittorrent-tracker sends one.
  const cache = role === 'cold' ? new ScrapeCache({ maxEntries: 0 }) : new ScrapeCache({ ttlMs: WARM_CACHE_TTL_MS });
  report({ port: await listenCounting(createApp(config, { logger: benchLogger(), dispatcher, cache })) });
}

interface ServerChild {
  child: ChildProcess;
  port: number;
  /** CPU microseconds the child has used so far, and requests it has received. */
  sample(): Promise<Sample>;
}

function startChild(role: Role, announce?: string): Promise<ServerChild> {
  const self = fileURLToPath(import.meta.url);
  const profile = CPU_PROFILE_DIR && role !== 'tracker' ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', self, '--serve', role, ...(announce ? [announce] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const sampleWaiters: ((sample: Sample) => void)[] = [];
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
        const message = JSON.parse(line) as Partial<Ready & Sample>;
        if (message.cpuMicros !== undefined && message.requests !== undefined) {
          sampleWaiters.shift()?.({ cpuMicros: message.cpuMicros, requests: message.requests });
        }
        else if (message.port !== undefined && !started) {
          started = true;
          clearTimeout(timer);
          resolve({
            child,
            port: message.port,
            sample: () =>
              new Promise<Sample>((done) => {
                sampleWaiters.push(done);
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
  /** Requests the tracker received per request to the server; null where the tracker is not watched. */
  trackerPerRequest: number | null;
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
  server: ServerChild;
  accept: string;
  /** The loopback tracker, watched during the runs (cold cache: how often it is really asked). */
  tracker?: ServerChild;
}

/** One of ours and the bare route's process it is compared with. */
interface Pair {
  bare: Scenario;
  ours: Scenario;
}

/** How autocannon loads a server: as fast as it answers, or at a fixed rate. */
interface Regime {
  title: string;
  /** Requests per second over all connections; null: as many as the server answers. */
  rate: number | null;
}

/**
 * How long autocannon loads for a run measuring `seconds`: it stops on its one-second tick, so a
 * run lasts whole seconds, and what is measured is all but the first RESUME_S of it.
 */
function runSeconds(seconds: number): number {
  return Math.ceil(RESUME_S + seconds);
}

/**
 * Load one scenario for runSeconds(`seconds`), and measure the
 * last `seconds` only, from the server's own counters: a process that sat idle while the others
 * were measured has had V8 shrink its heap, and the first second back under load regrows it, so no
 * scenario pays for its place in the order. Every answer must be a success, or the bench measures
 * nothing. Latency figures are autocannon's, over the whole run.
 */
async function load(scenario: Scenario, body: Buffer, seconds: number, rate: number | null): Promise<Run> {
  const { default: autocannon } = (await import(AUTOCANNON_MODULE)) as { default: Autocannon };
  const { server } = scenario;
  const running = autocannon({
    url: `http://${LOOPBACK}:${server.port}/scrape`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: runSeconds(seconds),
    ...(rate === null ? {} : { overallRate: rate }),
    headers: { 'content-type': `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`, accept: scenario.accept },
    body,
  });
  await new Promise((resolve) => setTimeout(resolve, RESUME_S * MS_PER_SECOND));
  const first = await server.sample();
  const trackerFirst = await scenario.tracker?.sample();
  const startedAt = performance.now();
  const result = await running;
  const last = await server.sample();
  const trackerLast = await scenario.tracker?.sample();
  const elapsedS = (performance.now() - startedAt) / MS_PER_SECOND;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${scenario.label}: ${result.non2xx} non-2xx answers and ${result.errors} errors — the bench is not measuring success`);
  }
  const requests = Math.max(1, last.requests - first.requests);
  return {
    requestsPerSecond: requests / elapsedS,
    cpuMsPerRequest: (last.cpuMicros - first.cpuMicros) / 1000 / requests,
    p50: result.latency.p50,
    p99: result.latency.p99,
    trackerPerRequest: trackerFirst && trackerLast ? (trackerLast.requests - trackerFirst.requests) / requests : null,
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
  get trackerPerRequest(): number | null {
    const watched = this.runs.flatMap((r) => (r.trackerPerRequest === null ? [] : [r.trackerPerRequest]));
    return watched.length > 0 ? median(watched) : null;
  }
  /** Median of the per-round ratios to the neighbouring bare runs: drift in the machine's load cancels out. */
  get ratio(): number {
    return median(this.ratios);
  }
}

/**
 * BENCH_ROUNDS rounds of, for each of ours, bare-ours-ours-bare with its own bare partner (an ABBA
 * block): the pair are compared within the block (mean of ours' two runs over the mean of the bare
 * route's two), so a linear drift in the machine's load cancels out; and both processes run and sit
 * idle exactly as much. That matters: a process kept busy settles faster per request than one that
 * waits its turn (measured here: about a quarter less CPU per request for the same bare route), so
 * a bare route kept warmer than ours would flatter it.
 */
async function measureRegime(regime: Regime, pairs: readonly Pair[], body: Buffer): Promise<{ bare: Measured; ours: Measured[] }> {
  const first = pairs[0];
  if (!first) throw new Error('nothing to measure');
  const bareRuns = new Measured(first.bare);
  const oursRuns = pairs.map((pair) => new Measured(pair.ours));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, pair] of pairs.entries()) {
      const bareA = await load(pair.bare, body, DURATION_S, regime.rate);
      const oursA = await load(pair.ours, body, DURATION_S, regime.rate);
      const oursB = await load(pair.ours, body, DURATION_S, regime.rate);
      const bareB = await load(pair.bare, body, DURATION_S, regime.rate);
      bareRuns.runs.push(bareA, bareB);
      oursRuns[i]?.runs.push(oursA, oursB);
      const mean = (a: Run, b: Run) => (a.cpuMsPerRequest + b.cpuMsPerRequest) / 2;
      oursRuns[i]?.ratios.push(mean(oursA, oursB) / mean(bareA, bareB));
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
 * run BREAKDOWN_BATCHES times for BREAKDOWN_SECONDS at full load, interleaved (so all sit idle
 * alike between turns); each line shows the median CPU per request and what the
 * stage adds to the one before. The differences are small next to the noise of a shared machine:
 * read them as ±20 µs.
 */
async function breakdown(steps: readonly Scenario[], body: Buffer): Promise<void> {
  const runs: number[][] = steps.map(() => []);
  for (let batch = 0; batch < BREAKDOWN_BATCHES; batch++) {
    for (const [i, step] of steps.entries()) {
      runs[i]?.push((await load(step, body, BREAKDOWN_SECONDS, null)).cpuMsPerRequest);
    }
  }
  const cpu = runs.map(median);
  console.log(`\nBreakdown: server CPU per request, median of ${BREAKDOWN_BATCHES} runs of ${BREAKDOWN_SECONDS} s each (µs)`);
  const micros = (ms: number | undefined) => ((ms ?? Number.NaN) * 1000).toFixed(0).padStart(6);
  steps.forEach((step, i) => {
    const added = i === 0 || i === steps.length - 1 ? '' : ` ${micros((cpu[i] ?? 0) - (cpu[i - 1] ?? 0))} added`;
    console.log(`  ${step.label.padEnd(44)}${micros(cpu[i])}${added}`);
  });
}

/** How our answer shows the loopback tracker's figures, as JSON and as the page. */
const ANSWERS_THE_SWARM: Readonly<Record<string, RegExp>> = {
  'application/json': new RegExp(`"totals":\\{"seeders":${SWARM.seeders},"leechers":${SWARM.leechers}\\b`),
  'text/html': new RegExp(`id="total-seeders">${SWARM.seeders}<`),
};
/** What the bare route and the breakdown stages answer (the last stage answers the full JSON). */
const ANSWERS_OK = /^\{"ok":true\}$|"totals":\{"seeders"/;

/**
 * One request to every server before anything is measured: a server that answers quickly with an
 * error page, or with a page that lacks the tracker's figures, would make the bench measure nothing.
 */
async function checkAnswers(checks: readonly (readonly [Scenario, RegExp])[], body: Buffer): Promise<void> {
  for (const [scenario, pattern] of checks) {
    const answer = await fetch(`http://${LOOPBACK}:${scenario.server.port}/scrape`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`, accept: scenario.accept },
      body,
    });
    const text = await answer.text();
    if (answer.status !== 200 || !pattern.test(text)) {
      throw new Error(`${scenario.label}: answered ${answer.status} without the tracker's figures: ${text.slice(0, 300)}`);
    }
  }
}

/** The 1-minute load average against the core count: other work on the machine inflates every figure. */
function loadAverage(): string {
  return `${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores`;
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const startedAt = performance.now();
  const elapsed = () => `${((performance.now() - startedAt) / MS_PER_SECOND).toFixed(0)} s`;
  try {
    const tracker = await startChild('tracker');
    children.push(tracker.child);
    const announce = `http://${LOOPBACK}:${tracker.port}/announce`;
    const torrent = benchTorrent(announce);
    const body = multipartBody(torrent.bytes);
    // A few at a time: a dozen children compiling TypeScript at once would time out on 2 cores.
    const startAll = async (roles: readonly Role[]): Promise<ServerChild[]> => {
      const started: ServerChild[] = [];
      for (let i = 0; i < roles.length; i += STARTING_AT_ONCE) {
        for (const child of await Promise.all(roles.slice(i, i + STARTING_AT_ONCE).map((role) => startChild(role, announce)))) {
          children.push(child.child);
          started.push(child);
        }
      }
      return started;
    };
    const json = 'application/json';
    const html = 'text/html';
    const bareLabel = 'bare express + multer (no work)';
    // Every one of ours gets its own process and its own bare partner process.
    const scenarios = (
      [
        { label: 'trackerscope, cache warm, JSON', role: 'warm', accept: json },
        { label: 'trackerscope, cache warm, HTML page', role: 'warm', accept: html },
        { label: 'trackerscope, cache cold, JSON', role: 'cold', accept: json },
        { label: 'trackerscope, cache cold, HTML page', role: 'cold', accept: html },
      ] as const
    ).filter(({ label }) => label.includes(ONLY));
    const stageLevels = BREAKDOWN ? STAGES.map((_, level) => level).slice(1) : [];
    const servers = await startAll([...scenarios.flatMap(({ role }): Role[] => ['bare', role]), ...stageLevels.map((level): Role => `stage${level}`)]);
    const serverAt = (i: number): ServerChild => {
      const server = servers[i];
      if (!server) throw new Error(`server ${i} did not start`);
      return server;
    };
    const pairs: Pair[] = scenarios.map(({ label, role, accept }, i) => ({
      bare: { label: bareLabel, server: serverAt(2 * i), accept: json },
      ours: { label, server: serverAt(2 * i + 1), accept, ...(role === 'cold' ? { tracker } : {}) },
    }));
    const stages: Scenario[] = stageLevels.map((level, i) => ({ label: STAGES[level] ?? '', server: serverAt(2 * scenarios.length + i), accept: json }));
    await checkAnswers(
      [
        ...pairs.flatMap((pair) => [[pair.bare, ANSWERS_OK] as const, [pair.ours, ANSWERS_THE_SWARM[pair.ours.accept] ?? /^$/] as const]),
        ...stages.map((stage) => [stage, ANSWERS_OK] as const),
      ],
      body,
    );

    console.log(
      `POST /scrape, the same multipart upload to every server: torrent ${torrent.bytes.length} bytes, ${BENCH_FILES} files, 1 HTTP tracker on loopback; ` +
        `autocannon ${CONNECTIONS} connections; every process warmed up ${WARMUP_S} s; then ${ROUNDS} rounds of bare-ours-ours-bare blocks, ` +
        `each of ours with its own bare partner, runs of ${RESUME_S} s + ${runSeconds(DURATION_S) - RESUME_S} s measured (figures: medians; rounds: spread of the per-block ratios)`,
    );
    console.log(`(${servers.length} servers started and checked at ${elapsed()}; machine load average ${loadAverage()})`);
    for (const s of [...pairs.flatMap((pair) => [pair.bare, pair.ours]), ...stages]) await load(s, body, WARMUP_S, null);
    console.log(`(warmed up at ${elapsed()})`);

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
      const measured = await measureRegime(regime, pairs, body);
      printRegime(regime, measured.bare, measured.ours);
      for (const m of measured.ours.filter((m) => m.scenario.tracker === undefined)) {
        console.log(
          `overhead, ${m.scenario.label.replace('trackerscope, ', '')}: ${m.ratio.toFixed(2)}× the bare route's server CPU per request — ` +
            `target ≤ ${TARGET_OVERHEAD_RATIO}×: ${m.ratio <= TARGET_OVERHEAD_RATIO ? 'met' : 'NOT met'}`,
        );
      }
      for (const m of measured.ours.filter((m) => m.scenario.tracker !== undefined)) {
        const asked = m.trackerPerRequest;
        console.log(
          `${m.scenario.label.replace('trackerscope, ', '')}: ${m.ratio.toFixed(2)}× the bare route; nothing is cached, and the tracker ` +
            `received ${asked === null ? '?' : asked.toFixed(2)} requests per request (identical scrapes in flight at once share one)`,
        );
      }
    }
    console.log(`(measured at ${elapsed()}; machine load average ${loadAverage()})`);
    const [warmJson, warmHtml] = pairs;
    if (BREAKDOWN && ONLY === '' && warmJson && warmHtml) {
      await breakdown(
        [
          warmJson.bare,
          ...stages,
          { ...warmJson.ours, label: 'the app, warm, JSON (rest: routing, checks)' },
          { ...warmHtml.ours, label: 'the app, warm, HTML page' },
        ],
        body,
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
