import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Socket } from 'node:net';
import { ScrapeError } from '../../src/scrape/errors.js';
import { GuardedAgent, scrapeHttp } from '../../src/scrape/http.js';
import {
  AddressLimiter,
  DEFAULT_MAX_IN_FLIGHT_OVERALL,
  DEFAULT_MAX_IN_FLIGHT_PER_HOST,
  DEFAULT_MAX_PER_ADDRESS,
  LimiterQueueFullError,
  RequestLimiter,
  sharedAddressLimiter,
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
    const refused = limiter.run('h', () => g.opened);
    await expect(refused).rejects.toBeInstanceOf(LimiterQueueFullError);
    // A ScrapeError like every scrape failure, so its code is one the type system knows.
    await expect(refused).rejects.toBeInstanceOf(ScrapeError);
    await expect(refused).rejects.toMatchObject({ code: 'SCRAPE_QUEUE_FULL', message: 'too many tracker requests waiting (limit 2)' });
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

// ---------------------------------------------------------------------------------------------
// Per resolved address

describe('AddressLimiter', () => {
  it('has a named default of 4 per address, shared by the process', () => {
    expect(DEFAULT_MAX_PER_ADDRESS).toBe(4);
    expect(new AddressLimiter().maxPerAddress).toBe(DEFAULT_MAX_PER_ADDRESS);
    expect(sharedAddressLimiter.maxPerAddress).toBe(DEFAULT_MAX_PER_ADDRESS);
    expect(new GuardedAgent({ policy: { allowPrivate: true } }).addressLimiter).toBe(sharedAddressLimiter);
  });

  it('counts every spelling of one address together', () => {
    const limiter = new AddressLimiter({ maxPerAddress: 3 });
    expect(limiter.tryAcquire('127.0.0.1')).toBe(true);
    expect(limiter.tryAcquire('::ffff:127.0.0.1')).toBe(true);
    expect(limiter.tryAcquire('[::ffff:7f00:1]')).toBe(true);
    expect(limiter.tryAcquire('127.0.0.1')).toBe(false);
    expect(limiter.activeFor('::ffff:127.0.0.1')).toBe(3);
    expect(limiter.tryAcquire('::1')).toBe(true);
    expect(limiter.tryAcquire('0:0::1')).toBe(true);
    expect(limiter.activeFor('::1')).toBe(2);
  });

  it('hands a released slot to the oldest waiter of that address only', async () => {
    const limiter = new AddressLimiter({ maxPerAddress: 1 });
    const first = await limiter.acquire('192.0.2.1');
    const order: string[] = [];
    const second = limiter.acquire('192.0.2.1').then((release) => {
      order.push('second');
      return release;
    });
    const third = limiter.acquire('::ffff:192.0.2.1').then((release) => {
      order.push('third');
      return release;
    });
    const other = await limiter.acquire('192.0.2.2');
    await tick();
    expect(order).toEqual([]);
    expect(limiter.waiting).toBe(2);
    first();
    first(); // a second call gives nothing back twice
    (await second)();
    (await third)();
    other();
    expect(order).toEqual(['second', 'third']);
    expect(limiter.activeFor('192.0.2.1')).toBe(0);
    expect(limiter.peakPerAddress).toBe(1);
  });

  it('a waiter whose signal fires leaves the queue and takes nothing', async () => {
    const limiter = new AddressLimiter({ maxPerAddress: 1 });
    const held = await limiter.acquire('192.0.2.9');
    const controller = new AbortController();
    const waiting = limiter.acquire('192.0.2.9', controller.signal);
    controller.abort(new Error('deadline'));
    await expect(waiting).rejects.toThrow('deadline');
    expect(limiter.waiting).toBe(0);
    held();
    expect(limiter.activeFor('192.0.2.9')).toBe(0);
  });

  it('refuses new waiters when the queue is full', async () => {
    const limiter = new AddressLimiter({ maxPerAddress: 1, maxQueued: 1 });
    await limiter.acquire('192.0.2.3');
    void limiter.acquire('192.0.2.3');
    await expect(limiter.acquire('192.0.2.3')).rejects.toBeInstanceOf(LimiterQueueFullError);
  });
});

describe('the per-address bound on the wire (HTTP, GuardedAgent connector)', () => {
  const hash = awkwardInfoHash(5100);
  const policy = { allowPrivate: true };

  /** A tracker on 127.0.0.1 that holds each request `delayMs` and records the most connections it ever had open. */
  async function countingTracker(delayMs: number) {
    const reply = scrapeReplyBytes([{ hash, complete: 2, incomplete: 1, downloaded: 0 }]);
    const stats = { open: 0, peak: 0 };
    const server = await startHttpServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': String(reply.length) });
        res.end(reply);
      }, delayMs);
    });
    server.server.on('connection', (socket: Socket) => {
      stats.open++;
      stats.peak = Math.max(stats.peak, stats.open);
      socket.on('close', () => stats.open--);
    });
    return { server, stats };
  }

  /** Scrape `perName` times through each spelling of 127.0.0.1, all at once, plus a redirect hop from each. */
  async function scrapeThroughEveryName(maxPerAddress: number) {
    const { server, stats } = await countingTracker(120);
    const redirector = await startHttpServer((_req, res) => {
      res.writeHead(302, { location: `http://localhost:${server.port}/scrape` });
      res.end();
    });
    const addressLimiter = new AddressLimiter({ maxPerAddress });
    const agent = new GuardedAgent({ policy, addressLimiter, keepAliveIdleMs: 100 });
    const names = ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]'];
    const urls = [...names.flatMap((name) => [1, 2, 3].map(() => `http://${name}:${server.port}/scrape`)), `${redirector.origin}/scrape`];
    try {
      const results = await Promise.all(
        urls.map((url) => scrapeHttp(url, [hash], { signal: AbortSignal.timeout(4000), policy, dispatcher: agent })),
      );
      return { results, stats, requests: server.requests.length, addressLimiter };
    } finally {
      await agent.destroy();
      await server.close();
      await redirector.close();
    }
  }

  it('holds whatever the names (127.0.0.1, localhost, [::ffff:127.0.0.1], a redirect hop): every scrape still answers', async () => {
    const { results, stats, requests, addressLimiter } = await scrapeThroughEveryName(2);
    expect(results.map((r) => r.counts[0]?.seeders)).toEqual(results.map(() => 2));
    expect(requests).toBe(10);
    // The tracker's own count, and the limiter's: two connections to 127.0.0.1 at most, however named.
    expect(stats.peak).toBe(2);
    expect(addressLimiter.peakPerAddress).toBe(2);
  });

  it('with a higher bound the same scrapes do open more connections at once (the test can tell)', async () => {
    const { stats } = await scrapeThroughEveryName(10);
    expect(stats.peak).toBeGreaterThan(2);
  });

  it('a connection waiting for a slot gives up by the connect timeout (SCRAPE_TIMEOUT), nothing sent', async () => {
    const held = new AddressLimiter({ maxPerAddress: 1 });
    const release = await held.acquire('127.0.0.1');
    const received: Socket[] = [];
    const listener = createServer((socket) => {
      received.push(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as { port: number };
    const agent = new GuardedAgent({ policy, addressLimiter: held, connectTimeoutMs: 300 });
    try {
      const started = performance.now();
      const err = await scrapeHttp(`http://localhost:${port}/scrape`, [hash], { signal: AbortSignal.timeout(3000), policy, dispatcher: agent }).catch(
        (e: { code?: string }) => e,
      );
      expect((err as { code?: string }).code).toBe('SCRAPE_TIMEOUT');
      // In words a tracker row can show: no host name, no address.
      expect((err as Error).message).toBe("the connections allowed to the tracker's address (1) were all in use and none closed within 300 ms");
      expect(performance.now() - started).toBeLessThan(1500);
      expect(received).toHaveLength(0);
      expect(held.waiting).toBe(0);
    } finally {
      release();
      await agent.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });
});
