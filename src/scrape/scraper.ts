import { defaultMaxListeners, setMaxListeners } from 'node:events';
import { TrackerscopeError } from '../errors.js';
import type { Torrent } from '../torrent/types.js';
import { NO_ANSWER_FOR_HASH, type ResolvedOutcome, type ScrapeCache, type ScrapeOutcome } from './cache.js';
import { familyOfFailure, ScrapeError, type ScrapeErrorCode } from './errors.js';
import type { OutboundPolicy } from './guard.js';
import { GuardedAgent, MAX_HASHES_PER_HTTP_SCRAPE, scrapeHttp } from './http.js';
import { type RequestLimiter, sharedLimiter } from './limiter.js';
import { redactText, redactUrl, secretsOfUrls } from './log.js';
import type { HashKind, ScrapeCounts, TrackerProtocol, TrackerStat } from './types.js';
import { scrapeUdp } from './udp.js';
import { type ScrapeTarget, scrapeUrlFor } from './url.js';
import { scrapeWebSocket } from './ws.js';

/**
 * The fan-out: every tracker of every tier asked at once, one row per (tracker, swarm), and the
 * whole call back by a deadline however the trackers misbehave. Failures become rows; this
 * function does not throw for anything a tracker does.
 */

/** How long a person waits for the table, every tracker included. */
export const DEFAULT_SCRAPE_DEADLINE_MS = 5000;
/**
 * Distinct scrape endpoints contacted per torrent; further trackers are listed as `skipped`, so one
 * uploaded torrent cannot make this server send requests to hundreds of hosts.
 */
export const DEFAULT_MAX_TRACKERS = 20;
/** BEP 52: trackers take a v2 (SHA-256) info-hash truncated to 20 bytes = 40 hex digits. */
export const TRACKER_HASH_HEX_LENGTH = 40;

export interface ScrapeLogger {
  debug(details: Record<string, unknown>, message: string): void;
}

export interface ScrapeAllOptions {
  /**
   * The caller's cancellation (e.g. the browser went away); combined with the deadline. It may be
   * given as a function that returns it: that is called only when a tracker has to be asked. A call
   * served entirely from the cache needs no signal, and building an AbortSignal costs more than
   * that whole call.
   */
  signal?: AbortSignal | (() => AbortSignal);
  deadlineMs?: number;
  policy: OutboundPolicy;
  /** Reuse answers across calls; without one every call asks the trackers. */
  cache?: ScrapeCache;
  /** Bound on requests in flight; by default one limiter shared by the whole process. */
  limiter?: RequestLimiter;
  maxTrackers?: number;
  /** A guarded HTTP agent to reuse (keep-alive across calls); by default one per call. */
  dispatcher?: GuardedAgent;
  /** Where to say what happened; URLs are redacted before they reach it (passkeys). */
  logger?: ScrapeLogger;
}

/** One swarm of the torrent as trackers know it. */
export interface SwarmHash {
  /** 40 lowercase hex: the 20 bytes sent to trackers. */
  hex: string;
  bytes: Uint8Array;
  kind: HashKind;
}

/** The hashes to scrape: v1, and for v2/hybrid the SHA-256 truncated to 20 bytes (BEP 52). */
export function swarmHashesOf(torrent: Pick<Torrent, 'infoHashV1' | 'infoHashV2'>): SwarmHash[] {
  const hashes: SwarmHash[] = [];
  if (torrent.infoHashV1) hashes.push(swarmHash(torrent.infoHashV1, 'v1'));
  if (torrent.infoHashV2) hashes.push(swarmHash(torrent.infoHashV2.slice(0, TRACKER_HASH_HEX_LENGTH), 'v2'));
  return hashes;
}

function swarmHash(hex: string, kind: HashKind): SwarmHash {
  const lower = hex.toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(lower)) {
    throw new ScrapeError('SCRAPE_BAD_HASH', `the ${kind} info-hash is not ${TRACKER_HASH_HEX_LENGTH} hex digits`);
  }
  return { hex: lower, bytes: Buffer.from(lower, 'hex'), kind };
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

/**
 * Trackers with the same key are one endpoint, asked once: scheme, host and port (default ports
 * spelled out), plus for HTTP/WebSocket the raw path and query exactly as written (never
 * normalised, since the tracker sees those bytes). A UDP tracker is its host and port (BEP 15
 * scrapes carry no path).
 */
export function endpointKeyOf(scrapeUrl: string, protocol: Exclude<TrackerProtocol, 'other'>): string {
  return endpointKeyOfParsed(scrapeUrl, new URL(scrapeUrl), protocol);
}

function endpointKeyOfParsed(scrapeUrl: string, url: URL, protocol: Exclude<TrackerProtocol, 'other'>): string {
  const authority = `${url.protocol}//${url.hostname.toLowerCase()}:${url.port || DEFAULT_PORTS[url.protocol] || ''}`;
  if (protocol === 'udp') return authority;
  const afterScheme = scrapeUrl.indexOf('//') + 2;
  const pathStart = scrapeUrl.slice(afterScheme).search(/[/?]/);
  return authority + (pathStart === -1 ? '' : scrapeUrl.slice(afterScheme + pathStart));
}

/** A tracker of the torrent with what we decided about it before any traffic. */
interface TrackerPlan {
  announce: string;
  tier: number;
  /** Shared with other calls (see RememberedTrackers): read, never written. */
  target: Readonly<ScrapeTarget>;
  /** null when the tracker is not contacted (unsupported or skipped). Shared, like `target`. */
  endpoint: Readonly<Endpoint> | null;
  skipped: boolean;
}

/** One scrape endpoint: every tracker that maps to it shares its one request. */
export interface Endpoint {
  key: string;
  protocol: Exclude<TrackerProtocol, 'other'>;
  /** The first tracker's scrape URL (what is actually requested). */
  scrapeUrl: string;
  host: string;
  port: number;
}

/** What a protocol client answered, in request order of the hashes. */
interface ClientAnswer {
  counts: ScrapeCounts[];
  warning: string | null;
  minRequestIntervalMs: number | null;
  family: 4 | 6 | null;
}

interface CallContext {
  signal: AbortSignal;
  callerSignal: AbortSignal | undefined;
  policy: OutboundPolicy;
  limiter: RequestLimiter;
  dispatcher: GuardedAgent | undefined;
  deadlineMs: number;
}

const MS_PER_SECOND = 1000;
/** Abort listeners one endpoint may add to the call's signal (limiter wait, request, UDP attempts). */
const ABORT_LISTENERS_PER_ENDPOINT = 8;

/** Scrape every tracker of the torrent for each of its swarms, in parallel, by the deadline. */
export async function scrapeAll(torrent: Torrent, opts: ScrapeAllOptions): Promise<TrackerStat[]> {
  const [rows] = await scrapeMany([torrent], opts);
  return rows ?? [];
}

/**
 * Scrape several torrents in one call: one list of rows per torrent, each as `scrapeAll` gives it.
 * Every distinct endpoint is asked once for all the hashes the torrents want from it (the clients
 * split that into requests of as many hashes as the protocol allows), and `maxTrackers` bounds the
 * distinct endpoints of the whole call: many torrents cost no more trackers than one.
 */
export async function scrapeMany(torrents: readonly Torrent[], opts: ScrapeAllOptions): Promise<TrackerStat[][]> {
  const started = performance.now();
  const deadlineMs = opts.deadlineMs ?? DEFAULT_SCRAPE_DEADLINE_MS;
  const maxTrackers = opts.maxTrackers ?? DEFAULT_MAX_TRACKERS;
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) throw new RangeError(`deadlineMs must be positive, got ${deadlineMs}`);
  if (!Number.isInteger(maxTrackers) || maxTrackers < 0) throw new RangeError(`maxTrackers must be a non-negative integer, got ${maxTrackers}`);

  const chosen = new Map<string, Endpoint>();
  const groupsByKey = new Map<string, EndpointGroup>();
  /** rows[torrent][plan][hash], in the order they are returned. */
  const rows = torrents.map((torrent) => {
    const hashes = swarmHashesOf(torrent);
    const plans = planTrackers(torrent.trackers, maxTrackers, chosen);
    const torrentRows = plans.map((plan) => hashes.map((hash) => initialRow(plan, hash)));
    addToGroups(groupsByKey, plans, hashes, torrentRows);
    return torrentRows;
  });
  const groups = [...groupsByKey.values()];
  const result = () => rows.map((torrentRows) => torrentRows.flat());

  // A refreshed page usually finds every answer in the cache. Then there is nothing to wait for:
  // no deadline timer, combined signal or agent is built (each costs on every call, and the timer
  // would outlive the call by the whole deadline).
  // A signal given as a function is not built for this: rows from the cache are right even for a
  // caller that has just cancelled, who then ignores them.
  const alreadyCancelled = typeof opts.signal === 'object' && opts.signal.aborted;
  if (opts.cache && !alreadyCancelled && fillFromCache(groups, opts.cache, opts.logger)) {
    return result();
  }

  const callerSignal = typeof opts.signal === 'function' ? opts.signal() : opts.signal;
  const call = callSignal(deadlineMs, callerSignal);
  const { signal } = call;
  // With a cache, requests are shared with other callers who join them: one caller going away
  // (a closed tab) must not cancel the answer the others wait for, so the network work obeys the
  // deadline only, and its answer is cached. This call still returns as soon as its caller cancels.
  const network = opts.cache && callerSignal ? callSignal(deadlineMs, undefined) : call;
  // Every endpoint's requests, queue slot and retries listen to this one signal: that is expected,
  // not a leak, so raise Node's warning threshold to what this call can legitimately reach.
  const requests = groups.reduce((n, g) => n + Math.ceil(g.hashes.length / MAX_HASHES_PER_HTTP_SCRAPE), 0);
  setMaxListeners(Math.max(defaultMaxListeners, requests * ABORT_LISTENERS_PER_ENDPOINT), network.signal);
  // One agent for every HTTP and WebSocket tracker of this call (UDP needs none).
  const ownDispatcher =
    opts.dispatcher === undefined && groups.some((g) => g.endpoint.protocol !== 'udp') ? new GuardedAgent({ policy: opts.policy }) : undefined;
  const ctx: CallContext = {
    signal: network.signal,
    callerSignal: network === call ? callerSignal : undefined,
    policy: opts.policy,
    limiter: opts.limiter ?? sharedLimiter,
    dispatcher: opts.dispatcher ?? ownDispatcher,
    deadlineMs,
  };

  const work: Promise<void>[] = [];
  for (const group of groups) {
    // A torrent with no swarm hash leaves its trackers' endpoint with nothing to ask.
    if (group.hashes.length === 0) continue;
    const answers = askEndpoint(group.endpoint, group.hashes, ctx, opts.cache);
    for (const hash of group.hashes) {
      const answer = answers.get(hash.hex);
      if (!answer) continue;
      work.push(
        answer.then((resolved) => {
          if (signal.aborted) return;
          const ms = resolved.source === 'cache' ? 0 : Math.round(performance.now() - started);
          fillGroup(group, hash, resolved, ms, opts.logger);
        }),
      );
    }
  }

  await untilSettledOrAborted(work, signal);
  call.release();
  const finishNetwork = () => {
    if (network !== call) network.release();
    if (ownDispatcher) void ownDispatcher.destroy().catch(() => undefined);
  };
  // Shared network work may outlive a cancelled call; it still ends by the deadline.
  if (network !== call && !network.signal.aborted) void Promise.allSettled(work).then(finishNetwork);
  else finishNetwork();

  const elapsed = Math.round(performance.now() - started);
  const cancelled = callerSignal?.aborted === true;
  const out = result();
  for (const row of out.flat()) {
    if (row.status === 'timeout' && row.error === null) {
      row.error = cancelled ? 'cancelled before the tracker answered' : `no answer within ${deadlineMs} ms`;
      row.ms = elapsed;
    }
  }
  return out;
}

/**
 * The call's one signal: the caller's cancellation and the deadline together. Made of one
 * AbortController and a timer that `release()` clears as soon as the call is over, rather than
 * AbortSignal.timeout/any, which keep a timer and weak references alive for the whole deadline
 * after the call has returned (thousands of them on a busy server). The timer is unref'd, as
 * AbortSignal.timeout's is.
 */
function callSignal(deadlineMs: number, callerSignal: AbortSignal | undefined): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${deadlineMs} ms`, 'TimeoutError')), deadlineMs);
  timer.unref();
  const onCallerAbort = () => controller.abort(callerSignal?.reason);
  if (callerSignal?.aborted) controller.abort(callerSignal.reason);
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}

/** One endpoint, the hashes every torrent of the call wants from it, and the rows its answers fill. */
interface EndpointGroup {
  endpoint: Endpoint;
  /** Distinct by hex, in the order the torrents first ask for them. */
  hashes: SwarmHash[];
  /** Per hash hex: every row (any torrent, any tracker sharing the endpoint) its answer fills. */
  rowsByHex: Map<string, TrackerStat[]>;
  /** Every URL whose secrets may come back in this endpoint's messages. */
  urls: string[];
  /** `secretsOfUrls(urls)`, worked out the first time a message needs it. */
  secrets: readonly string[] | null;
}

/** Add one torrent's contacted trackers to the call's endpoint groups. */
function addToGroups(
  byKey: Map<string, EndpointGroup>,
  plans: readonly TrackerPlan[],
  hashes: readonly SwarmHash[],
  torrentRows: readonly TrackerStat[][],
): void {
  plans.forEach((plan, planIndex) => {
    if (!plan.endpoint) return;
    let group = byKey.get(plan.endpoint.key);
    if (group) {
      group.urls.push(plan.announce);
      group.secrets = null;
    } else {
      group = { endpoint: plan.endpoint, hashes: [], rowsByHex: new Map(), urls: [plan.endpoint.scrapeUrl, plan.announce], secrets: null };
      byKey.set(plan.endpoint.key, group);
    }
    hashes.forEach((hash, hashIndex) => {
      const row = torrentRows[planIndex]?.[hashIndex];
      if (!row || !group) return;
      const rowsOfHash = group.rowsByHex.get(hash.hex);
      if (rowsOfHash) rowsOfHash.push(row);
      else {
        group.rowsByHex.set(hash.hex, [row]);
        group.hashes.push(hash);
      }
    });
  });
}

function secretsOfGroup(group: EndpointGroup): readonly string[] {
  group.secrets ??= secretsOfUrls(group.urls);
  return group.secrets;
}

/**
 * When the cache holds a fresh answer for every (endpoint, swarm), fill every row from it and say
 * true; otherwise touch nothing and say false.
 */
function fillFromCache(groups: readonly EndpointGroup[], cache: ScrapeCache, logger: ScrapeLogger | undefined): boolean {
  const found: ResolvedOutcome[] = [];
  for (const group of groups) {
    for (const hash of group.hashes) {
      const fresh = cache.peek(group.endpoint.key, hash.hex);
      if (!fresh) return false;
      found.push({ ...fresh, source: 'cache' });
    }
  }
  let next = 0;
  for (const group of groups) {
    for (const hash of group.hashes) {
      const resolved = found[next++];
      if (resolved) fillGroup(group, hash, resolved, 0, logger);
    }
  }
  return true;
}

/** Give one endpoint's answer for one swarm to every row waiting on it, and log it once. */
function fillGroup(group: EndpointGroup, hash: SwarmHash, resolved: ResolvedOutcome, ms: number, logger: ScrapeLogger | undefined): void {
  const { outcome, source } = resolved;
  // Trackers echo our request (path passkeys, query) in their errors: those never reach a row.
  const error = outcome.status === 'ok' ? null : redactText(outcome.error, secretsOfGroup(group));
  const warning = outcome.status === 'ok' && outcome.warning !== null ? redactText(outcome.warning, secretsOfGroup(group)) : null;
  for (const row of group.rowsByHex.get(hash.hex) ?? []) fillRow(row, resolved, error, warning, ms);
  logger?.debug(
    {
      tracker: redactUrl(group.endpoint.scrapeUrl),
      hashKind: hash.kind,
      status: outcome.status,
      source,
      ms,
      ...(error === null ? {} : { error }),
    },
    'tracker scraped',
  );
}

/**
 * Tier order, duplicates dropped; the first `maxTrackers` distinct endpoints of the call (`chosen`,
 * shared by every torrent of it) are contacted.
 */
function planTrackers(tiers: readonly (readonly string[])[], maxTrackers: number, chosen: Map<string, Endpoint>): TrackerPlan[] {
  const seen = new Set<string>();
  const plans: TrackerPlan[] = [];
  tiers.forEach((tier, tierIndex) => {
    for (const announce of tier) {
      if (seen.has(announce)) continue;
      seen.add(announce);
      const { target, endpoint } = rememberedTrackers.lookup(announce);
      if (!target.supported || endpoint === null) {
        plans.push({ announce, tier: tierIndex, target, endpoint: null, skipped: false });
        continue;
      }
      const existing = chosen.get(endpoint.key);
      if (existing) {
        plans.push({ announce, tier: tierIndex, target, endpoint: existing, skipped: false });
      } else if (chosen.size < maxTrackers) {
        chosen.set(endpoint.key, endpoint);
        plans.push({ announce, tier: tierIndex, target, endpoint, skipped: false });
      } else {
        plans.push({ announce, tier: tierIndex, target, endpoint: null, skipped: true });
      }
    }
  });
  return plans;
}

function endpointOf(scrapeUrl: string, protocol: Exclude<TrackerProtocol, 'other'>): Endpoint {
  const url = new URL(scrapeUrl);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    key: endpointKeyOfParsed(scrapeUrl, url, protocol),
    protocol,
    scrapeUrl,
    host,
    port: Number(url.port || DEFAULT_PORTS[url.protocol] || 0),
  };
}

/** What an announce URL says before any traffic: its scrape target and, when scrapable, its endpoint. */
export interface AnnouncedTracker {
  readonly target: Readonly<ScrapeTarget>;
  readonly endpoint: Readonly<Endpoint> | null;
}

/** The scrape target and endpoint of an announce URL, derived afresh (two URL parses). */
export function announcedTrackerOf(announce: string): AnnouncedTracker {
  const target = scrapeUrlFor(announce);
  return { target, endpoint: target.supported ? endpointOf(target.scrape, target.protocol) : null };
}

/**
 * Announce URLs whose target and endpoint are remembered between calls. A busy server sees the
 * same few hundred trackers in torrent after torrent, and parsing their URLs twice each is a
 * quarter of a call answered from the cache.
 */
export const MAX_REMEMBERED_ANNOUNCE_URLS = 4096;
/**
 * Longer announce URLs are derived each time, never remembered: a hostile torrent's megabyte-long
 * URLs must not be held for good (4096 × 2 KiB bounds the memo at ~16 MiB of UTF-16 keys).
 */
export const MAX_REMEMBERED_ANNOUNCE_URL_CHARS = 2048;

/**
 * `announcedTrackerOf`, remembered per announce URL. Entries are frozen (every field is a
 * primitive) and shared between calls, so no caller can change what the next one gets. When
 * full, the entry remembered first is forgotten: no bookkeeping on the hit path, and a tracker
 * still in use is simply derived again and remembered anew.
 */
export class RememberedTrackers {
  private readonly entries = new Map<string, AnnouncedTracker>();

  constructor(
    readonly maxEntries: number = MAX_REMEMBERED_ANNOUNCE_URLS,
    readonly maxUrlChars: number = MAX_REMEMBERED_ANNOUNCE_URL_CHARS,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError(`maxEntries must be a non-negative integer, got ${maxEntries}`);
    if (!Number.isInteger(maxUrlChars) || maxUrlChars < 0) throw new RangeError(`maxUrlChars must be a non-negative integer, got ${maxUrlChars}`);
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(announce: string): AnnouncedTracker {
    const known = this.entries.get(announce);
    if (known) return known;
    const { target, endpoint } = announcedTrackerOf(announce);
    const tracker: AnnouncedTracker = Object.freeze({
      target: Object.freeze(target),
      endpoint: endpoint === null ? null : Object.freeze(endpoint),
    });
    if (announce.length > this.maxUrlChars || this.maxEntries === 0) return tracker;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(announce, tracker);
    return tracker;
  }
}

const rememberedTrackers = new RememberedTrackers();

/**
 * A contacted tracker's row starts as `timeout` with no error text: whatever has not been filled by
 * an answer when the deadline fires stays so, and gets its text and time at the end.
 */
function initialRow(plan: TrackerPlan, hash: SwarmHash): TrackerStat {
  const { target } = plan;
  let status: TrackerStat['status'] = 'timeout';
  let error: string | null = null;
  if (!target.supported) {
    status = 'unsupported';
    error = target.reason;
  } else if (plan.skipped) {
    status = 'skipped';
    error = 'not contacted: more distinct trackers than are scraped at once (per torrent, or per API call)';
  }
  return {
    announce: plan.announce,
    scrape: target.scrape,
    tier: plan.tier,
    protocol: target.protocol,
    infoHash: hash.hex,
    hashKind: hash.kind,
    status,
    seeders: null,
    leechers: null,
    completed: null,
    downloaders: null,
    error,
    warning: null,
    ms: 0,
    family: null,
    cached: false,
    answeredAt: null,
  };
}

/** What a row says when the tracker answered but does not track the info-hash (numbers stay null). */
export const UNKNOWN_TORRENT_WARNING = 'the tracker does not know this torrent';

/** `error` and `warning`: the outcome's texts, already redacted. */
function fillRow(row: TrackerStat, resolved: ResolvedOutcome, error: string | null, warning: string | null, ms: number): void {
  const { outcome } = resolved;
  row.status = outcome.status;
  row.family = outcome.family;
  row.cached = resolved.source === 'cache';
  row.answeredAt = answeredAtOf(outcome, resolved.receivedAt);
  row.ms = ms;
  if (outcome.status === 'ok') {
    const { counts } = outcome;
    row.seeders = counts.seeders;
    row.leechers = counts.leechers;
    row.completed = counts.completed;
    row.downloaders = counts.downloaders;
    row.error = null;
    const warnings = [warning, counts.unknown ? UNKNOWN_TORRENT_WARNING : null].filter((w) => w !== null);
    row.warning = warnings.length > 0 ? warnings.join('; ') : null;
  } else {
    row.error = error;
  }
}

/**
 * When the information a row shows was obtained (`TrackerStat.answeredAt`). For `ok`, when the
 * tracker's answer arrived. For `error`, when the failure was established: the tracker's refusal or
 * unreadable reply, or the network's own answer (connection refused or reset, name does not exist,
 * certificate rejected). Each is a fact about the tracker that the cache serves again for a while,
 * so its age matters as much as an answer's. A timeout is the absence of any answer, and a blocked
 * or transient outcome (the caller's policy, the caller leaving) says nothing about the tracker: null.
 * `receivedAt` is the original time also for an answer served from the cache or shared with another caller.
 */
function answeredAtOf(outcome: ScrapeOutcome, receivedAt: number): number | null {
  if (outcome.status === 'ok') return receivedAt;
  if (outcome.status === 'error' && outcome.transient !== true) return receivedAt;
  return null;
}

/** Ask one endpoint for every hash (one request), through the cache when there is one. */
function askEndpoint(endpoint: Endpoint, hashes: SwarmHash[], ctx: CallContext, cache: ScrapeCache | undefined): Map<string, Promise<ResolvedOutcome>> {
  const byHex = new Map(hashes.map((hash) => [hash.hex, hash]));
  const fetchMissing = (missing: string[]) =>
    fetchEndpoint(
      endpoint,
      missing.map((hex) => byHex.get(hex)!),
      ctx,
    );
  if (cache) {
    return cache.resolve(
      endpoint.key,
      hashes.map((hash) => hash.hex),
      fetchMissing,
    );
  }
  // Without a cache the wall clock stamps the answer, at the moment the one request settles.
  const batch = fetchMissing(hashes.map((hash) => hash.hex)).then((answers) => ({ answers, receivedAt: Date.now() }));
  return new Map(
    hashes.map((hash) => [
      hash.hex,
      batch.then(
        ({ answers, receivedAt }): ResolvedOutcome => ({
          outcome: answers.get(hash.hex) ?? NO_ANSWER_FOR_HASH,
          receivedAt,
          source: 'network',
        }),
      ),
    ]),
  );
}

/** One request to the endpoint, inside the limiter; every failure becomes an outcome per hash. */
async function fetchEndpoint(endpoint: Endpoint, hashes: SwarmHash[], ctx: CallContext): Promise<Map<string, ScrapeOutcome>> {
  try {
    const answer = await ctx.limiter.run(endpoint.host, () => callClient(endpoint, hashes, ctx), ctx.signal);
    return new Map(
      hashes.map((hash, i) => {
        const counts = answer.counts[i];
        const outcome: ScrapeOutcome = counts
          ? { status: 'ok', counts, warning: answer.warning, family: answer.family, minRequestIntervalMs: answer.minRequestIntervalMs }
          : { ...NO_ANSWER_FOR_HASH, family: answer.family };
        return [hash.hex, outcome];
      }),
    );
  } catch (err) {
    const outcome = failureOutcome(err, ctx);
    return new Map(hashes.map((hash) => [hash.hex, outcome]));
  }
}

/**
 * The clients that speak to a tracker by URL over the guarded agent: same options, same answer
 * shape (`minRequestInterval` in seconds, a tracker warning), so one code path serves them all.
 */
const URL_CLIENTS = { http: scrapeHttp, https: scrapeHttp, ws: scrapeWebSocket, wss: scrapeWebSocket } as const;

async function callClient(endpoint: Endpoint, hashes: SwarmHash[], ctx: CallContext): Promise<ClientAnswer> {
  const bytes = hashes.map((hash) => hash.bytes);
  if (endpoint.protocol === 'udp') {
    // BEP 15 has no warning and no min_request_interval in a scrape reply.
    const result = await scrapeUdp(endpoint.host, endpoint.port, bytes, { signal: ctx.signal, policy: ctx.policy });
    return { counts: result.counts, warning: null, minRequestIntervalMs: null, family: result.family };
  }
  const scrape = URL_CLIENTS[endpoint.protocol];
  const result = await scrape(endpoint.scrapeUrl, bytes, { signal: ctx.signal, policy: ctx.policy, dispatcher: ctx.dispatcher });
  return {
    counts: result.counts,
    warning: result.warning,
    minRequestIntervalMs: result.minRequestInterval === null ? null : result.minRequestInterval * MS_PER_SECOND,
    family: result.family,
  };
}

/** Map whatever a client threw to a row status; the deadline firing means `timeout`. */
function failureOutcome(err: unknown, ctx: CallContext): ScrapeOutcome {
  if (hasCode(err, 'SCRAPE_BLOCKED')) return { status: 'blocked', error: messageOf(err), family: null };
  if (ctx.callerSignal?.aborted) return { status: 'timeout', error: 'cancelled before the tracker answered', family: null, transient: true };
  if (ctx.signal.aborted) return { status: 'timeout', error: `no answer within ${ctx.deadlineMs} ms`, family: null };
  // The client's own, shorter limit (connect or header timeout) fired first.
  if (hasCode(err, 'SCRAPE_TIMEOUT')) return { status: 'timeout', error: messageOf(err), family: null };
  // A tracker that answered (its failure reason, an HTML page, a bad reply) did so over a family.
  return { status: 'error', error: messageOf(err), family: familyOfFailure(err) };
}

/** The error or anything in its `cause` chain carries this code. */
function hasCode(err: unknown, code: ScrapeErrorCode): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

function messageOf(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TrackerscopeError) return e.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Resolves when all work settled or the signal fired, whichever is first; never rejects. */
function untilSettledOrAborted(work: Promise<unknown>[], signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void Promise.allSettled(work).then(done);
  });
}
