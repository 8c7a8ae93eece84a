import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_IN_FLIGHT_OVERALL,
  DEFAULT_MAX_IN_FLIGHT_PER_HOST,
  LimiterQueueFullError,
  RequestLimiter,
} from '../../src/scrape/limiter.js';
import { scrapeAll } from '../../src/scrape/scraper.js';
import { parseMagnet } from '../../src/torrent/index.js';
import { scrapeReplyBytes, startHttpServer, type TestHttpServer } from '../support/http-trackers.js';
import { awkwardInfoHash, toHex } from '../support/trackers.js';

/** A task that stays in flight until released by the test. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('RequestLimiter', () => {
  it('has named defaults of 4 per host and 64 overall', () => {
    const limiter = new RequestLimiter();
    expect(limiter.maxPerHost).toBe(DEFAULT_MAX_IN_FLIGHT_PER_HOST);
    expect(limiter.maxOverall).toBe(DEFAULT_MAX_IN_FLIGHT_OVERALL);
    expect(DEFAULT_MAX_IN_FLIGHT_PER_HOST).toBe(4);
    expect(DEFAULT_MAX_IN_FLIGHT_OVERALL).toBe(64);
  });

  it('never has more than maxPerHost requests in flight to one host', async () => {
    const limiter = new RequestLimiter({ maxPerHost: 2, maxOverall: 10 });
    const g = gate();
    let running = 0;
    let peak = 0;
    const tasks = Array.from({ length: 7 }, () =>
      limiter.run('Tracker.Example', async () => {
        running += 1;
        peak = Math.max(peak, running);
        await g.opened;
        running -= 1;
      }),
    );
    await tick();
    expect(running).toBe(2);
    expect(limiter.activeFor('tracker.example')).toBe(2);
    expect(limiter.waiting).toBe(5);
    g.open();
    await Promise.all(tasks);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
    expect(limiter.waiting).toBe(0);
  });

  it('a busy host does not hold up requests to other hosts', async () => {
    const limiter = new RequestLimiter({ maxPerHost: 1, maxOverall: 10 });
    const g = gate();
    const busy = [limiter.run('a', () => g.opened), limiter.run('a', () => g.opened)];
    let otherRan = false;
    await limiter.run('b', async () => {
      otherRan = true;
    });
    expect(otherRan).toBe(true);
    expect(limiter.activeFor('a')).toBe(1);
    g.open();
    await Promise.all(busy);
  });

  it('bounds the overall number in flight across hosts, and runs queued tasks in order', async () => {
    const limiter = new RequestLimiter({ maxPerHost: 5, maxOverall: 3 });
    const gates = Array.from({ length: 6 }, () => gate());
    const started: number[] = [];
    const tasks = gates.map((g, i) =>
      limiter.run(`host${i}`, async () => {
        started.push(i);
        await g.opened;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[1]!.open();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const g of gates) g.open();
    await Promise.all(tasks);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(limiter.peakInFlight).toBe(3);
  });

  it('a queued request gives up when its signal aborts, and never starts', async () => {
    const limiter = new RequestLimiter({ maxPerHost: 1, maxOverall: 1 });
    const g = gate();
    const first = limiter.run('h', () => g.opened);
    let queuedStarted = false;
    const startedAt = Date.now();
    const queued = limiter.run(
      'h',
      async () => {
        queuedStarted = true;
      },
      AbortSignal.timeout(50),
    );
    await expect(queued).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect(limiter.waiting).toBe(0);
    g.open();
    await first;
    await tick();
    expect(queuedStarted).toBe(false);
    expect(limiter.active).toBe(0);
  });

  it('rejects at once with an already-aborted signal', async () => {
    const limiter = new RequestLimiter();
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(limiter.run('h', async () => 1, controller.signal)).rejects.toThrow('gone');
    expect(limiter.active).toBe(0);
  });

  it('releases the slot when the task throws', async () => {
    const limiter = new RequestLimiter({ maxPerHost: 1, maxOverall: 1 });
    await expect(
      limiter.run('h', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await limiter.run('h', async () => 7)).toBe(7);
  });

  it('refuses new requests when the queue is full', async () => {
    const limiter = new RequestLimiter({ maxPerHost: 1, maxOverall: 1, maxQueued: 2 });
    const g = gate();
    const tasks = [limiter.run('h', () => g.opened), limiter.run('h', () => g.opened), limiter.run('h', () => g.opened)];
    await expect(limiter.run('h', () => g.opened)).rejects.toBeInstanceOf(LimiterQueueFullError);
    g.open();
    await Promise.all(tasks);
  });

  it('rejects nonsensical limits', () => {
    expect(() => new RequestLimiter({ maxPerHost: 0 })).toThrow(RangeError);
    expect(() => new RequestLimiter({ maxOverall: 1.5 })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// The limiter inside scrapeAll, against trackers on loopback

describe('scrapeAll with a limiter', () => {
  const hash = awkwardInfoHash(5000);
  const policy = { allowPrivate: true };
  const torrentWith = (trackers: string[]) => ({ ...parseMagnet(`magnet:?xt=urn:btih:${toHex(hash)}`), trackers: trackers.map((t) => [t]) });
  const servers: TestHttpServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  /** A tracker that answers after `delayMs` and records the most requests it ever had at once. */
  async function slowTracker(delayMs: number, stats = { inFlight: 0, peak: 0 }) {
    const reply = scrapeReplyBytes([{ hash, complete: 3, incomplete: 1, downloaded: 9 }]);
    const server = await startHttpServer((_req, res) => {
      stats.inFlight++;
      stats.peak = Math.max(stats.peak, stats.inFlight);
      setTimeout(() => {
        stats.inFlight--;
        res.writeHead(200, { 'content-length': String(reply.length) });
        res.end(reply);
      }, delayMs);
    });
    servers.push(server);
    return { server, stats };
  }

  it('never has more than maxPerHost requests at one host, and still answers every tracker', async () => {
    const { server, stats } = await slowTracker(100);
    const trackers = Array.from({ length: 6 }, (_, i) => `${server.origin}/t${i}/announce`);
    const limiter = new RequestLimiter({ maxPerHost: 2 });
    const rows = await scrapeAll(torrentWith(trackers), { policy, limiter });
    expect(rows.map((r) => [r.status, r.seeders])).toEqual(trackers.map(() => ['ok', 3]));
    expect(server.requests).toHaveLength(6);
    expect(stats.peak).toBe(2);
    expect(limiter.peakInFlight).toBe(2);
    expect(limiter.active).toBe(0);
  });

  it('the overall bound holds across concurrent calls sharing the limiter', async () => {
    const shared = { inFlight: 0, peak: 0 };
    const a = await slowTracker(100, shared);
    const b = await slowTracker(100, shared);
    const limiter = new RequestLimiter({ maxPerHost: 10, maxOverall: 3 });
    const results = await Promise.all(
      [a.server, b.server].map((server) =>
        scrapeAll(torrentWith(Array.from({ length: 4 }, (_, i) => `${server.origin}/c${i}/announce`)), { policy, limiter }),
      ),
    );
    expect(results.flat().map((r) => r.status)).toEqual(Array(8).fill('ok'));
    expect(a.server.requests.length + b.server.requests.length).toBe(8);
    expect(shared.peak).toBe(3);
    expect(limiter.peakInFlight).toBe(3);
  });

  it('a request queued behind a tracker that never answers gives up at the deadline, never sent', async () => {
    const silent = await startHttpServer(() => undefined);
    servers.push(silent);
    const { server: fast } = await slowTracker(0);
    const limiter = new RequestLimiter({ maxPerHost: 1 });
    const deadlineMs = 500;
    const started = performance.now();
    const rows = await scrapeAll(torrentWith([`${silent.origin}/announce`, `${fast.origin}/announce`]), { policy, limiter, deadlineMs });
    expect(performance.now() - started).toBeLessThan(deadlineMs + 400);
    expect(rows.map((r) => r.status)).toEqual(['timeout', 'timeout']);
    expect(fast.requests).toHaveLength(0);
    expect(limiter.waiting).toBe(0);
  });
});
