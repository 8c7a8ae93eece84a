import type { ScrapeCounts } from './types.js';

/**
 * In-memory cache of scrape answers per (scrape endpoint, info-hash), so a refresh storm on the
 * web page never turns into a storm of requests at a tracker:
 * - answers live `ttlMs`, or the tracker's `min_request_interval` when that is longer (capped, so a
 *   hostile tracker cannot pin stale numbers for days);
 * - failures (errors, timeouts) are kept too, for the shorter `errorTtlMs`, so a dead tracker is
 *   not asked again by every refresh;
 * - concurrent requests for the same key share one network request (in-flight de-duplication);
 * - entries are bounded; the oldest is evicted first;
 * - every answer keeps the time it was received (this cache's clock), so an answer served again
 *   says how old it is, and callers joined to one request all report that request's time.
 *
 * One cache serves one OutboundPolicy: an answer fetched while private addresses were allowed is
 * served to any caller of the same cache.
 */

/** How long a tracker's answer is reused when it asks for no longer interval. */
export const DEFAULT_SCRAPE_TTL_MS = 60_000;
/** How long a failure (error or timeout) is reused: short, so a recovered tracker shows up soon. */
export const DEFAULT_ERROR_TTL_MS = 15_000;
/** Entries kept at most (each is one tracker × one info-hash, a few hundred bytes). */
export const DEFAULT_MAX_CACHE_ENTRIES = 10_000;
/** Longest `min_request_interval` honoured; a tracker asking for more gets this. */
export const DEFAULT_MAX_HONOURED_INTERVAL_MS = 30 * 60_000;

/** What one tracker said about one info-hash (or why it said nothing). */
export type ScrapeOutcome =
  | {
      status: 'ok';
      counts: ScrapeCounts;
      warning: string | null;
      family: 4 | 6 | null;
      /** The tracker's `flags.min_request_interval`, in milliseconds, when it sent one. */
      minRequestIntervalMs: number | null;
    }
  | {
      status: 'error' | 'timeout' | 'blocked';
      error: string;
      family: 4 | 6 | null;
      /** Not the tracker's doing (the caller cancelled): deliver to whoever waits, never store. */
      transient?: boolean;
    };

/** Where an answer came from: the cache, a request another caller had already started, or ours. */
export type OutcomeSource = 'cache' | 'shared' | 'network';

/** An outcome with the time (epoch ms, the cache's clock) it came back from the tracker. */
export interface ReceivedOutcome {
  outcome: ScrapeOutcome;
  receivedAt: number;
}

export interface ResolvedOutcome extends ReceivedOutcome {
  /** Where it came from; `receivedAt` is the original time in every case, never the time it was read back. */
  source: OutcomeSource;
}

/** Fetches the answers for the hashes the cache could not serve, in one request. */
export type FetchMissing = (missingHashes: string[]) => Promise<Map<string, ScrapeOutcome>>;

export interface ScrapeCacheOptions {
  ttlMs?: number;
  errorTtlMs?: number;
  maxEntries?: number;
  maxHonouredIntervalMs?: number;
  /**
   * Wall clock in epoch milliseconds: it times the TTLs and stamps each answer's `receivedAt`, which
   * callers show to people. Injectable for tests.
   */
  now?: () => number;
}

interface Entry extends ReceivedOutcome {
  expiresAt: number;
}

export class ScrapeCache {
  readonly ttlMs: number;
  readonly errorTtlMs: number;
  readonly maxEntries: number;
  readonly maxHonouredIntervalMs: number;
  private readonly now: () => number;
  /** Insertion order is age order: the first key is the oldest. */
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<ReceivedOutcome>>();

  constructor(options: ScrapeCacheOptions = {}) {
    this.ttlMs = nonNegative(options.ttlMs ?? DEFAULT_SCRAPE_TTL_MS, 'ttlMs');
    this.errorTtlMs = nonNegative(options.errorTtlMs ?? DEFAULT_ERROR_TTL_MS, 'errorTtlMs');
    this.maxEntries = nonNegative(options.maxEntries ?? DEFAULT_MAX_CACHE_ENTRIES, 'maxEntries');
    this.maxHonouredIntervalMs = nonNegative(
      options.maxHonouredIntervalMs ?? DEFAULT_MAX_HONOURED_INTERVAL_MS,
      'maxHonouredIntervalMs',
    );
    this.now = options.now ?? Date.now;
  }

  /** Number of stored (possibly expired, not yet purged) entries. */
  get size(): number {
    return this.entries.size;
  }

  /** Number of keys with a request in flight. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** A fresh stored answer with the time it was received, or undefined. */
  peek(scrapeKey: string, infoHash: string): ReceivedOutcome | undefined {
    const key = keyOf(scrapeKey, infoHash);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() >= entry.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return { outcome: entry.outcome, receivedAt: entry.receivedAt };
  }

  /**
   * One promise per requested hash: served from the cache when fresh, joined to a request already
   * in flight for the same key, or fetched — all still-missing hashes in ONE `fetchMissing` call
   * (one request to the tracker). The promises never reject.
   */
  resolve(scrapeKey: string, infoHashes: readonly string[], fetchMissing: FetchMissing): Map<string, Promise<ResolvedOutcome>> {
    const results = new Map<string, Promise<ResolvedOutcome>>();
    const missing: string[] = [];
    for (const hash of infoHashes) {
      if (results.has(hash)) continue;
      const fresh = this.peek(scrapeKey, hash);
      if (fresh) {
        results.set(hash, Promise.resolve({ ...fresh, source: 'cache' }));
        continue;
      }
      const shared = this.inFlight.get(keyOf(scrapeKey, hash));
      if (shared) {
        results.set(
          hash,
          shared.then((received) => ({ ...received, source: 'shared' as const })),
        );
        continue;
      }
      missing.push(hash);
    }
    if (missing.length === 0) return results;

    const batch = fetchMissing(missing)
      .catch(
        // A fetcher should turn every failure into outcomes; if one throws anyway, report it to the
        // waiters without storing it.
        (err: unknown) =>
          new Map<string, ScrapeOutcome>(
            missing.map((hash) => [
              hash,
              { status: 'error', error: err instanceof Error ? err.message : String(err), family: null, transient: true },
            ]),
          ),
      )
      // One request, one moment: every hash of the batch (and every caller sharing it) gets the same time.
      .then((answers) => ({ answers, receivedAt: this.now() }));
    for (const hash of missing) {
      const key = keyOf(scrapeKey, hash);
      const single = batch.then(
        ({ answers, receivedAt }): ReceivedOutcome => ({ outcome: answers.get(hash) ?? NO_ANSWER_FOR_HASH, receivedAt }),
      );
      this.inFlight.set(key, single);
      void single.then((received) => {
        if (this.inFlight.get(key) === single) this.inFlight.delete(key);
        this.store(key, received);
      });
      results.set(
        hash,
        single.then((received) => ({ ...received, source: 'network' as const })),
      );
    }
    return results;
  }

  /**
   * Store an answer directly (e.g. from another code path), received `receivedAt` (by default now);
   * refusals and transient failures are ignored. Its lifetime counts from `receivedAt`.
   */
  set(scrapeKey: string, infoHash: string, outcome: ScrapeOutcome, receivedAt: number = this.now()): void {
    this.store(keyOf(scrapeKey, infoHash), { outcome, receivedAt });
  }

  clear(): void {
    this.entries.clear();
  }

  private store(key: string, { outcome, receivedAt }: ReceivedOutcome): void {
    // A refusal depends on the caller's policy, not on the tracker: nothing to remember.
    if (outcome.status === 'blocked' || (outcome.status !== 'ok' && outcome.transient)) return;
    const ttl = this.ttlOf(outcome);
    this.entries.delete(key);
    if (ttl <= 0 || this.maxEntries === 0) return;
    // Freshness is the answer's age, not the entry's: the lifetime counts from when it was received.
    this.entries.set(key, { outcome, receivedAt, expiresAt: receivedAt + ttl });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  private ttlOf(outcome: ScrapeOutcome): number {
    if (outcome.status !== 'ok') return this.errorTtlMs;
    const asked = outcome.minRequestIntervalMs ?? 0;
    return Math.max(this.ttlMs, Math.min(asked, this.maxHonouredIntervalMs));
  }
}

/** What a hash the tracker's reply left out is recorded as. */
export const NO_ANSWER_FOR_HASH: ScrapeOutcome = Object.freeze({
  status: 'error',
  error: 'the tracker gave no answer for this info-hash',
  family: null,
});

/** A newline cannot occur in a URL we scrape, so it separates the two parts unambiguously. */
function keyOf(scrapeKey: string, infoHash: string): string {
  return `${scrapeKey}\n${infoHash.toLowerCase()}`;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return value;
}
