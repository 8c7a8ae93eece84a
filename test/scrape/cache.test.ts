import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_ERROR_TTL_MS,
  DEFAULT_SCRAPE_TTL_MS,
  type ResolvedOutcome,
  ScrapeCache,
  type ScrapeOutcome,
} from '../../src/scrape/cache.js';
import { RequestLimiter } from '../../src/scrape/limiter.js';
import { scrapeAll } from '../../src/scrape/scraper.js';
import { parseMagnet } from '../../src/torrent/index.js';
import { type Handler, replyWith, scrapeReplyBytes, startHttpServer, type TestHttpServer } from '../support/http-trackers.js';
import { announcePeers, awkwardInfoHash, startBtTracker, toHex } from '../support/trackers.js';

const URL_A = 'http://127.0.0.1:1/scrape';
const H1 = 'aa'.repeat(20);
const H2 = 'bb'.repeat(20);

function ok(seeders: number, minRequestIntervalMs: number | null = null): ScrapeOutcome {
  return {
    status: 'ok',
    counts: { seeders, leechers: 1, completed: 2, downloaders: null, unknown: false },
    warning: null,
    family: 4,
    minRequestIntervalMs,
  };
}

/** A fetcher that counts its calls and answers each hash with the given outcome factory. */
function counting(answer: (hash: string) => ScrapeOutcome) {
  const calls: string[][] = [];
  const fetch = async (missing: string[]) => {
    calls.push(missing);
    return new Map(missing.map((hash) => [hash, answer(hash)]));
  };
  return { calls, fetch };
}

async function all(map: Map<string, Promise<ResolvedOutcome>>) {
  const out: Record<string, ResolvedOutcome> = {};
  for (const [hash, promise] of map) out[hash] = await promise;
  return out;
}

describe('ScrapeCache', () => {
  it('has named defaults: 60 s for answers, shorter for failures', () => {
    const cache = new ScrapeCache();
    expect(cache.ttlMs).toBe(DEFAULT_SCRAPE_TTL_MS);
    expect(DEFAULT_SCRAPE_TTL_MS).toBe(60_000);
    expect(cache.errorTtlMs).toBe(DEFAULT_ERROR_TTL_MS);
    expect(DEFAULT_ERROR_TTL_MS).toBeLessThan(DEFAULT_SCRAPE_TTL_MS);
  });

  it('fetches every missing hash in one call, then serves them from the cache within the TTL', async () => {
    let now = 1_000;
    const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
    const f = counting(() => ok(5));
    const first = await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    expect(f.calls).toEqual([[H1, H2]]);
    expect(first[H1]!.source).toBe('network');
    now += 59_999;
    const second = await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    expect(f.calls).toHaveLength(1);
    expect(second[H1]!.source).toBe('cache');
    expect(second[H2]!.outcome).toEqual(ok(5));
    now += 1;
    await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    expect(f.calls).toHaveLength(2);
  });

  it('asks only for the hashes it does not have', async () => {
    const cache = new ScrapeCache();
    const f = counting(() => ok(1));
    await all(cache.resolve(URL_A, [H1], f.fetch));
    await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    expect(f.calls).toEqual([[H1], [H2]]);
    // Another endpoint is another key.
    await all(cache.resolve('udp://127.0.0.1:2', [H1], f.fetch));
    expect(f.calls).toHaveLength(3);
  });

  it("honours a tracker's min_request_interval when longer than the TTL, up to a cap", async () => {
    let now = 0;
    const cache = new ScrapeCache({ ttlMs: 1_000, maxHonouredIntervalMs: 10_000, now: () => now });
    const f = counting((hash) => (hash === H1 ? ok(1, 5_000) : ok(2, 1_000_000)));
    await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    now = 4_999;
    expect(cache.peek(URL_A, H1)).toBeDefined();
    now = 5_000;
    expect(cache.peek(URL_A, H1)).toBeUndefined();
    now = 9_999;
    expect(cache.peek(URL_A, H2)).toBeDefined();
    now = 10_000;
    expect(cache.peek(URL_A, H2)).toBeUndefined();
  });

  it('a shorter min_request_interval does not shorten the TTL', async () => {
    let now = 0;
    const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
    await all(cache.resolve(URL_A, [H1], counting(() => ok(1, 10)).fetch));
    now = 59_000;
    expect(cache.peek(URL_A, H1)).toBeDefined();
  });

  it('keeps failures for the shorter error TTL', async () => {
    let now = 0;
    const cache = new ScrapeCache({ ttlMs: 60_000, errorTtlMs: 5_000, now: () => now });
    const f = counting(() => ({ status: 'timeout', error: 'no answer', family: null }));
    await all(cache.resolve(URL_A, [H1], f.fetch));
    now = 4_999;
    const again = await all(cache.resolve(URL_A, [H1], f.fetch));
    expect(again[H1]!.source).toBe('cache');
    expect(again[H1]!.outcome.status).toBe('timeout');
    expect(f.calls).toHaveLength(1);
    now = 5_000;
    await all(cache.resolve(URL_A, [H1], f.fetch));
    expect(f.calls).toHaveLength(2);
  });

  it('never stores refusals or transient failures', async () => {
    const cache = new ScrapeCache();
    const f = counting((hash) =>
      hash === H1
        ? { status: 'blocked', error: 'refused', family: null }
        : { status: 'timeout', error: 'cancelled', family: null, transient: true },
    );
    await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    await all(cache.resolve(URL_A, [H1, H2], f.fetch));
    expect(f.calls).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it('concurrent requests for the same key share one fetch', async () => {
    const cache = new ScrapeCache();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls: string[][] = [];
    const fetch = async (missing: string[]) => {
      calls.push(missing);
      await released;
      return new Map(missing.map((hash) => [hash, ok(9)]));
    };
    const a = cache.resolve(URL_A, [H1], fetch);
    const b = cache.resolve(URL_A, [H1, H2], fetch);
    expect(cache.pending).toBe(2);
    release();
    const [ra, rb] = [await all(a), await all(b)];
    expect(calls).toEqual([[H1], [H2]]);
    expect(ra[H1]!.source).toBe('network');
    expect(rb[H1]!.source).toBe('shared');
    expect(rb[H1]!.outcome).toEqual(ok(9));
    expect(cache.pending).toBe(0);
  });

  it('evicts the oldest entries beyond the bound', async () => {
    const cache = new ScrapeCache({ maxEntries: 3 });
    const f = counting(() => ok(1));
    const hashes = ['01', '02', '03', '04', '05'].map((b) => b.repeat(20));
    for (const hash of hashes) await all(cache.resolve(URL_A, [hash], f.fetch));
    expect(cache.size).toBe(3);
    expect(cache.peek(URL_A, hashes[0]!)).toBeUndefined();
    expect(cache.peek(URL_A, hashes[1]!)).toBeUndefined();
    expect(cache.peek(URL_A, hashes[4]!)).toBeDefined();
  });

  it('a fetcher that throws or forgets a hash gives error outcomes, never a rejection', async () => {
    const cache = new ScrapeCache();
    const thrown = await all(
      cache.resolve(URL_A, [H1], async () => {
        throw new Error('bug');
      }),
    );
    expect(thrown[H1]!.outcome).toMatchObject({ status: 'error', error: 'bug' });
    expect(cache.size).toBe(0);
    const forgot = await all(cache.resolve(URL_A, [H2], async () => new Map()));
    expect(forgot[H2]!.outcome.status).toBe('error');
  });

  it('stamps an answer with the clock when it comes back, not when it was asked for', async () => {
    let now = 10_000;
    const cache = new ScrapeCache({ now: () => now });
    let reply!: () => void;
    const replied = new Promise<void>((resolve) => {
      reply = resolve;
    });
    const pending = cache.resolve(URL_A, [H1, H2], async (missing) => {
      await replied;
      return new Map(missing.map((hash) => [hash, ok(3)]));
    });
    now = 10_250;
    reply();
    const fresh = await all(pending);
    // One request, one moment, for every hash it carried.
    expect([fresh[H1]!.receivedAt, fresh[H2]!.receivedAt]).toEqual([10_250, 10_250]);
    expect(cache.peek(URL_A, H1)).toEqual({ outcome: ok(3), receivedAt: 10_250 });
  });

  it('an answer served again keeps its original time, from peek and from resolve alike', async () => {
    let now = 1_000;
    const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
    const f = counting(() => ok(4));
    await all(cache.resolve(URL_A, [H1], f.fetch));
    now = 31_000;
    const again = await all(cache.resolve(URL_A, [H1], f.fetch));
    expect(again[H1]).toMatchObject({ source: 'cache', receivedAt: 1_000 });
    expect(cache.peek(URL_A, H1)?.receivedAt).toBe(1_000);
    expect(f.calls).toHaveLength(1);
  });

  it('a failure is stamped and served with its time too', async () => {
    let now = 500;
    const cache = new ScrapeCache({ errorTtlMs: 5_000, now: () => now });
    const f = counting(() => ({ status: 'error', error: 'tracker says: overloaded', family: 4 }));
    expect((await all(cache.resolve(URL_A, [H1], f.fetch)))[H1]!.receivedAt).toBe(500);
    now = 4_000;
    expect((await all(cache.resolve(URL_A, [H1], f.fetch)))[H1]).toMatchObject({ source: 'cache', receivedAt: 500 });
  });

  it("callers joined to a request in flight get that request's time, whatever the clock says when they joined", async () => {
    let now = 0;
    const cache = new ScrapeCache({ now: () => now });
    let reply!: () => void;
    const replied = new Promise<void>((resolve) => {
      reply = resolve;
    });
    const fetch = async (missing: string[]) => {
      await replied;
      return new Map(missing.map((hash) => [hash, ok(1)]));
    };
    const first = cache.resolve(URL_A, [H1], fetch);
    now = 700;
    const joined = cache.resolve(URL_A, [H1], fetch);
    now = 900;
    reply();
    const [a, b] = [await all(first), await all(joined)];
    expect(a[H1]).toMatchObject({ source: 'network', receivedAt: 900 });
    expect(b[H1]).toMatchObject({ source: 'shared', receivedAt: 900 });
  });

  it("an entry's lifetime counts from when its answer was received", () => {
    let now = 100_000;
    const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
    cache.set(URL_A, H1, ok(2), 50_000);
    cache.set(URL_A, H2, ok(2));
    expect(cache.peek(URL_A, H1)).toEqual({ outcome: ok(2), receivedAt: 50_000 });
    expect(cache.peek(URL_A, H2)?.receivedAt).toBe(100_000);
    now = 110_000;
    expect(cache.peek(URL_A, H1)).toBeUndefined();
    expect(cache.peek(URL_A, H2)).toBeDefined();
  });

  it('treats hash case as the same key', async () => {
    const cache = new ScrapeCache();
    const f = counting(() => ok(1));
    await all(cache.resolve(URL_A, [H1], f.fetch));
    expect(cache.peek(URL_A, H1.toUpperCase())).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The cache inside scrapeAll, against trackers on loopback

describe('scrapeAll with a cache', () => {
  const swarm = { v1: awkwardInfoHash(4000), v2: awkwardInfoHash(4001) };
  const hybrid = parseMagnet(
    `magnet:?xt=urn:btih:${toHex(swarm.v1)}&xt=urn:btmh:1220${toHex(swarm.v2)}${'00'.repeat(12)}`,
  );
  const withTrackers = (trackers: string[]) => ({ ...hybrid, trackers: trackers.map((t) => [t]) });
  const policy = { allowPrivate: true };
  const servers: TestHttpServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });
  async function serve(handler: Handler): Promise<TestHttpServer> {
    const server = await startHttpServer(handler);
    servers.push(server);
    return server;
  }
  const entries = [
    { hash: swarm.v1, complete: 4, incomplete: 5, downloaded: 6 },
    { hash: swarm.v2, complete: 1, incomplete: 0, downloaded: 2 },
  ];

  it('a second call within the TTL makes no request and serves the same numbers', async () => {
    let now = 0;
    const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
    const server = await serve(replyWith(scrapeReplyBytes(entries)));
    const torrent = withTrackers([`${server.origin}/announce`]);
    const first = await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    expect(server.requests).toHaveLength(1);
    expect(first.map((r) => [r.hashKind, r.status, r.seeders, r.cached])).toEqual([
      ['v1', 'ok', 4, false],
      ['v2', 'ok', 1, false],
    ]);
    now = 59_000;
    const second = await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    expect(server.requests).toHaveLength(1);
    expect(second.map((r) => [r.hashKind, r.status, r.seeders, r.leechers, r.completed, r.cached, r.ms])).toEqual([
      ['v1', 'ok', 4, 5, 6, true, 0],
      ['v2', 'ok', 1, 0, 2, true, 0],
    ]);
    now = 60_000;
    await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    expect(server.requests).toHaveLength(2);
  });

  it("honours the tracker's min_request_interval when it is longer than the TTL", async () => {
    let now = 0;
    const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
    const flags = new Map([['min_request_interval', 120]]);
    const server = await serve(replyWith(scrapeReplyBytes(entries, { flags })));
    const torrent = withTrackers([`${server.origin}/announce`]);
    await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    now = 119_000;
    const held = await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    expect(held.every((r) => r.cached)).toBe(true);
    expect(server.requests).toHaveLength(1);
    now = 120_000;
    await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    expect(server.requests).toHaveLength(2);
  });

  it('concurrent calls for the same torrent share one request', async () => {
    const cache = new ScrapeCache();
    const reply = scrapeReplyBytes(entries);
    const server = await serve((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': String(reply.length) });
        res.end(reply);
      }, 200);
    });
    const torrent = withTrackers([`${server.origin}/announce`]);
    const calls = await Promise.all(
      Array.from({ length: 5 }, () => scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() })),
    );
    expect(server.requests).toHaveLength(1);
    for (const rows of calls) expect(rows.map((r) => [r.status, r.seeders])).toEqual([['ok', 4], ['ok', 1]]);
  });

  it('keeps a failure briefly, so a refresh storm does not hammer a failing tracker', async () => {
    let now = 0;
    const cache = new ScrapeCache({ errorTtlMs: 10_000, now: () => now });
    const server = await serve(replyWith('d14:failure reason10:overloadede'));
    const torrent = withTrackers([`${server.origin}/announce`]);
    for (let i = 0; i < 10; i++) {
      const rows = await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
      expect(rows.map((r) => r.status)).toEqual(['error', 'error']);
      expect(rows[0]!.error).toContain('overloaded');
      now += 500;
    }
    expect(server.requests).toHaveLength(1);
    now = 10_000;
    await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
    expect(server.requests).toHaveLength(2);
  });

  it('a tracker that timed out is not asked again within the error TTL', async () => {
    const cache = new ScrapeCache();
    const server = await serve(() => undefined);
    const torrent = withTrackers([`${server.origin}/announce`]);
    const first = await scrapeAll(torrent, { policy, cache, deadlineMs: 300, limiter: new RequestLimiter() });
    expect(first.map((r) => r.status)).toEqual(['timeout', 'timeout']);
    // The aborted request settles (into the cache) just after the call returned.
    for (let i = 0; i < 50 && cache.size < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(cache.size).toBe(2);
    const started = performance.now();
    const second = await scrapeAll(torrent, { policy, cache, deadlineMs: 300, limiter: new RequestLimiter() });
    expect(performance.now() - started).toBeLessThan(250);
    expect(second.map((r) => [r.status, r.cached])).toEqual([
      ['timeout', true],
      ['timeout', true],
    ]);
    expect(server.requests).toHaveLength(1);
  });

  it('a call the caller cancelled leaves nothing in the cache', async () => {
    const cache = new ScrapeCache();
    const server = await serve(() => undefined);
    const torrent = withTrackers([`${server.origin}/announce`]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await scrapeAll(torrent, { policy, cache, signal: controller.signal, limiter: new RequestLimiter() });
    // Give the aborted request a moment to settle into the cache, if it (wrongly) would.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cache.size).toBe(0);
  });

  it('a real bittorrent-tracker: HTTP and UDP answers are cached per endpoint', async () => {
    const bt = await startBtTracker();
    try {
      await announcePeers(bt.httpAnnounce, swarm.v1, { seeders: 2, leechers: 1, completed: 2 });
      const cache = new ScrapeCache();
      const torrent = withTrackers([bt.httpAnnounce, bt.udpAnnounce]);
      const first = await scrapeAll(torrent, { policy, cache, limiter: new RequestLimiter() });
      expect(first.filter((r) => r.hashKind === 'v1').map((r) => [r.status, r.seeders, r.leechers])).toEqual([
        ['ok', 2, 1],
        ['ok', 2, 1],
      ]);
      expect(cache.size).toBe(4);
      await bt.stop();
      // The tracker is gone; the numbers are still there within the TTL.
      const second = await scrapeAll(torrent, { policy, cache, deadlineMs: 500, limiter: new RequestLimiter() });
      expect(second.map((r) => [r.status, r.seeders, r.cached])).toEqual(first.map((r) => [r.status, r.seeders, true]));
    } finally {
      await bt.stop().catch(() => undefined);
    }
  });
});
