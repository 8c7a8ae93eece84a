import { createHash } from 'node:crypto';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerscopeError } from '../../src/errors.js';
import { ScrapeError } from '../../src/scrape/errors.js';
import {
  addressRange,
  BlockedAddressError,
  canonicalAddress,
  DNS_CACHE_TTL_MS,
  DnsResolver,
  isAddressAllowed,
  MAX_CONCURRENT_DNS_LOOKUPS,
  type OutboundPolicy,
  resolveAllowed,
  SECURE_POLICY,
  sharedResolver,
} from '../../src/scrape/guard.js';
import { GuardedAgent, guardedLookup, scrapeHttp } from '../../src/scrape/http.js';
import { scrapeWebSocket } from '../../src/scrape/ws.js';
import { replyWith, scrapeReplyBytes, startHttpServer } from '../support/http-trackers.js';

/**
 * The address rule is checked here as a pure function on every range the issue names: these
 * addresses are classified, never contacted. Network tests below talk to loopback only.
 */
describe('addressRange / isAddressAllowed (pure)', () => {
  const refused: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    // Documentation ranges (RFC 5737, RFC 3849): ipaddr.js files them under `reserved`.
    ['192.0.2.1', 'reserved'],
    ['198.51.100.2', 'reserved'],
    ['203.0.113.3', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    // IPv4-mapped and -compatible forms are judged by the IPv4 address they carry.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    // Odd spellings a resolver accepts.
    ['2130706433', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['017700000001', 'loopback'],
    ['127.1', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    // NAT64, 6to4 and Teredo carry an IPv4 address the network may route to.
    ['[64:ff9b::7f00:1]', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['2002:7f00:1::', 'loopback'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'],
    ['100::1', 'discard'],
  ];
  for (const [ip, range] of refused) {
    it(`${ip} is ${range}: refused by default, allowed with allowPrivate`, () => {
      expect(addressRange(ip)).toBe(range);
      expect(isAddressAllowed(ip, SECURE_POLICY)).toBe(false);
      expect(isAddressAllowed(ip, { allowPrivate: true })).toBe(true);
    });
  }

  const publicAddresses = ['8.8.8.8', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:0808:0808::'];
  for (const ip of publicAddresses) {
    it(`${ip} is public: allowed`, () => {
      expect(isAddressAllowed(ip, SECURE_POLICY)).toBe(true);
    });
  }

  for (const text of ['localhost', '', '1.2.3.4.5', 'not an ip', '[::1']) {
    it(`${JSON.stringify(text)} is not an address: refused under any policy`, () => {
      expect(addressRange(text)).toBe('invalid');
      expect(isAddressAllowed(text, { allowPrivate: true })).toBe(false);
    });
  }
});

/** A TCP listener on 127.0.0.1 that counts every connection it receives. */
async function countingListener(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

async function failureOf(promise: Promise<unknown>): Promise<TrackerscopeError> {
  try {
    await promise;
  } catch (err) {
    return err as TrackerscopeError;
  }
  throw new Error('expected the scrape to be refused');
}

const hash = createHash('sha1').update('guarded').digest();
const signal = () => AbortSignal.timeout(3000);

describe('the guard on the wire: a loopback listener receives nothing while it is on', () => {
  let listener: Awaited<ReturnType<typeof countingListener>>;
  beforeAll(async () => {
    listener = await countingListener();
  });
  afterAll(() => new Promise<void>((resolve) => listener.server.close(() => resolve())));

  const spellings = (port: number) => [
    `http://127.0.0.1:${port}/scrape`,
    `http://[::ffff:127.0.0.1]:${port}/scrape`,
    `http://2130706433:${port}/scrape`,
    `http://0x7f.1:${port}/scrape`,
    `http://127.000.000.001:${port}/scrape`,
    `http://localhost:${port}/scrape`,
    `https://127.0.0.1:${port}/scrape`,
    `http://[::1]:${port}/scrape`,
  ];

  it('refuses every spelling of loopback over HTTP(S) with SCRAPE_BLOCKED', async () => {
    for (const url of spellings(listener.port)) {
      const err = await failureOf(scrapeHttp(url, [hash], { signal: signal(), policy: SECURE_POLICY }));
      expect({ url, code: err.code }).toEqual({ url, code: 'SCRAPE_BLOCKED' });
    }
    expect(listener.connections()).toBe(0);
  });

  it('refuses them over WebSocket too', async () => {
    for (const url of spellings(listener.port).map((u) => u.replace(/^http/, 'ws'))) {
      const err = await failureOf(scrapeWebSocket(url, [hash], { signal: signal(), policy: SECURE_POLICY }));
      expect({ url, code: err.code }).toEqual({ url, code: 'SCRAPE_BLOCKED' });
    }
    expect(listener.connections()).toBe(0);
  });

  it('filters what a name resolves to before connecting (lookup)', async () => {
    const lookup = guardedLookup((ip) => isAddressAllowed(ip, SECURE_POLICY));
    const outcome = await new Promise<{ err: NodeJS.ErrnoException | null }>((resolve) =>
      lookup('localhost', { all: true }, (err) => resolve({ err })),
    );
    expect(outcome.err).toMatchObject({ code: 'SCRAPE_BLOCKED' });
  });
});

describe('the guard on redirects and on the connected peer', () => {
  const policy: OutboundPolicy = { allowPrivate: true };

  it('refuses a redirect from an allowed tracker to a forbidden address; the target sees nothing', async () => {
    let targetConnections = 0;
    const target = createServer((socket) => {
      targetConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => target.listen(0, '::1', resolve));
    const targetPort = (target.address() as AddressInfo).port;
    // The policy lets the test reach 127.0.0.1; ::1 stands in for an address the operator forbids.
    const agent = new GuardedAgent({ policy, refuseAddress: (ip) => ip === '::1' });
    const tracker = await startHttpServer(replyWith('', { location: `http://[::1]:${targetPort}/scrape` }, 302));
    try {
      const err = await failureOf(scrapeHttp(`${tracker.origin}/scrape`, [hash], { signal: signal(), policy, dispatcher: agent }));
      expect(err.code).toBe('SCRAPE_BLOCKED');
      expect(tracker.requests).toHaveLength(1);
      expect(targetConnections).toBe(0);
    } finally {
      await tracker.close();
      await agent.destroy();
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });

  it('judges the connected peer again and sends no request when it is refused (rebinding)', async () => {
    // Allowed before connecting, refused once connected: what a rebinding name would look like.
    let checks = 0;
    const agent = new GuardedAgent({ policy, refuseAddress: () => ++checks > 1 });
    const tracker = await startHttpServer(replyWith(scrapeReplyBytes([])));
    try {
      const err = await failureOf(scrapeHttp(`${tracker.origin}/scrape`, [hash], { signal: signal(), policy, dispatcher: agent }));
      expect(err.code).toBe('SCRAPE_BLOCKED');
      expect(checks).toBe(2);
      expect(tracker.requests).toEqual([]);
    } finally {
      await tracker.close();
      await agent.destroy();
    }
  });

  it('lets the same tracker through when nothing refuses it (the checks above can pass)', async () => {
    const tracker = await startHttpServer(replyWith(scrapeReplyBytes([{ hash, complete: 1, incomplete: 2, downloaded: 3 }])));
    try {
      const result = await scrapeHttp(`${tracker.origin}/scrape`, [hash], { signal: signal(), policy });
      expect(result.counts[0]).toMatchObject({ seeders: 1, leechers: 2, completed: 3 });
    } finally {
      await tracker.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Name resolution: bounded, shared, briefly cached (resolver injected: no real DNS traffic)

/** A lookup the test answers by hand, recording every name asked and how many run at once. */
function scriptedLookup() {
  const asked: string[] = [];
  const answers = new Map<string, { resolve: (a: { address: string; family: number }[]) => void; reject: (e: Error) => void }>();
  let running = 0;
  let peak = 0;
  const lookup = (name: string) =>
    new Promise<{ address: string; family: number }[]>((resolve, reject) => {
      asked.push(name);
      running++;
      peak = Math.max(peak, running);
      const done = () => running--;
      answers.set(name, {
        resolve: (a) => {
          done();
          resolve(a);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
    });
  const answer = (name: string, address = '192.0.2.1') => {
    const pending = answers.get(name);
    if (!pending) throw new Error(`${name} was not asked`);
    answers.delete(name);
    pending.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
  };
  const fail = (name: string) => {
    const pending = answers.get(name);
    if (!pending) throw new Error(`${name} was not asked`);
    answers.delete(name);
    pending.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
  };
  return { lookup, asked, answer, fail, peak: () => peak, running: () => running };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('DnsResolver: a bounded, signal-aware queue in front of dns.lookup', () => {
  it('runs fewer lookups at once than libuv has threads (4), by default', () => {
    expect(MAX_CONCURRENT_DNS_LOOKUPS).toBe(2);
    expect(new DnsResolver().maxConcurrent).toBeLessThan(4);
    expect(DNS_CACHE_TTL_MS).toBeLessThanOrEqual(60_000);
  });

  it('never runs more than maxConcurrent slow lookups; the others wait their turn, in order', async () => {
    const dns = scriptedLookup();
    const resolver = new DnsResolver({ lookup: dns.lookup, maxConcurrent: 2 });
    const names = ['a.test', 'b.test', 'c.test', 'd.test', 'e.test', 'f.test'];
    const results = names.map((name) => resolver.resolve(name));
    await turn();
    expect(dns.asked).toEqual(['a.test', 'b.test']);
    expect(resolver.waiting).toBe(4);
    dns.answer('b.test');
    await turn();
    expect(dns.asked).toEqual(['a.test', 'b.test', 'c.test']);
    for (const name of ['a.test', 'c.test', 'd.test', 'e.test', 'f.test']) {
      await turn();
      dns.answer(name);
    }
    expect((await Promise.all(results)).map((r) => r[0]?.address)).toEqual(names.map(() => '192.0.2.1'));
    expect(dns.peak()).toBe(2);
    expect(resolver.peakRunning).toBe(2);
  });

  it('a waiting caller whose signal fires gives up at once, and a lookup nobody waits for never starts', async () => {
    const dns = scriptedLookup();
    const resolver = new DnsResolver({ lookup: dns.lookup, maxConcurrent: 1 });
    const slow = resolver.resolve('slow.test');
    const controller = new AbortController();
    const queued = resolver.resolve('queued.test', controller.signal);
    await turn();
    controller.abort(new Error('deadline'));
    await expect(queued).rejects.toThrow('deadline');
    expect(resolver.waiting).toBe(0);
    dns.answer('slow.test');
    await slow;
    await turn();
    expect(dns.asked).toEqual(['slow.test']);
    expect(resolver.running).toBe(0);
  });

  it('a running lookup cannot be cancelled, so it keeps its slot until it returns; its caller stops waiting', async () => {
    const dns = scriptedLookup();
    const resolver = new DnsResolver({ lookup: dns.lookup, maxConcurrent: 1 });
    const controller = new AbortController();
    const first = resolver.resolve('stuck.test', controller.signal);
    const next = resolver.resolve('next.test');
    await turn();
    controller.abort(new Error('gone'));
    await expect(first).rejects.toThrow('gone');
    expect(dns.asked).toEqual(['stuck.test']);
    dns.answer('stuck.test');
    await turn();
    expect(dns.asked).toEqual(['stuck.test', 'next.test']);
    dns.answer('next.test');
    await next;
  });

  it('one lookup for concurrent callers of the same name; answers reused for the TTL, failures not kept', async () => {
    let now = 0;
    const dns = scriptedLookup();
    const resolver = new DnsResolver({ lookup: dns.lookup, ttlMs: 1000, now: () => now });
    const both = [resolver.resolve('Same.test'), resolver.resolve('same.test')];
    await turn();
    dns.answer('Same.test', '192.0.2.7');
    expect((await Promise.all(both)).map((r) => r[0]?.address)).toEqual(['192.0.2.7', '192.0.2.7']);
    now = 999;
    expect((await resolver.resolve('same.test'))[0]?.address).toBe('192.0.2.7');
    expect(dns.asked).toEqual(['Same.test']);
    now = 1000;
    const again = resolver.resolve('same.test');
    await turn();
    expect(dns.asked).toEqual(['Same.test', 'same.test']);
    dns.fail('same.test');
    await expect(again).rejects.toMatchObject({ code: 'SCRAPE_DNS' });
    const retry = resolver.resolve('same.test');
    await turn();
    expect(dns.asked).toHaveLength(3);
    dns.answer('same.test');
    await retry;
  });

  it("a failed lookup is SCRAPE_DNS in plain words, naming neither the host nor the resolver's message", async () => {
    const missing = new DnsResolver({
      lookup: async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND s3cr3t.tracker.test'), { code: 'ENOTFOUND', syscall: 'getaddrinfo' });
      },
    });
    const err = missing.resolve('s3cr3t.tracker.test');
    await expect(err).rejects.toBeInstanceOf(ScrapeError);
    await expect(err).rejects.toMatchObject({ code: 'SCRAPE_DNS', message: "the tracker's host name does not exist (ENOTFOUND)" });
    const later = new DnsResolver({
      lookup: async () => {
        throw Object.assign(new Error('getaddrinfo EAI_AGAIN s3cr3t.tracker.test'), { code: 'EAI_AGAIN' });
      },
    });
    await expect(later.resolve('s3cr3t.tracker.test')).rejects.toMatchObject({
      code: 'SCRAPE_DNS',
      message: "the tracker's host name could not be looked up right now (EAI_AGAIN)",
    });
    const empty = new DnsResolver({ lookup: async () => [] });
    await expect(empty.resolve('s3cr3t.tracker.test')).rejects.toMatchObject({ code: 'SCRAPE_DNS', message: "the tracker's host name has no address" });
    const broken = new DnsResolver({
      lookup: () => {
        throw new Error('resolver exploded for s3cr3t.tracker.test');
      },
    });
    await expect(broken.resolve('s3cr3t.tracker.test')).rejects.toMatchObject({ code: 'SCRAPE_DNS', message: "the tracker's host name could not be looked up" });
  });

  it('BlockedAddressError is a ScrapeError (SCRAPE_BLOCKED) that names the refused address and why', async () => {
    const resolver = new DnsResolver({ lookup: async () => [{ address: '10.1.2.3', family: 4 }] });
    const err = resolveAllowed('intranet.test', SECURE_POLICY, undefined, resolver);
    await expect(err).rejects.toBeInstanceOf(BlockedAddressError);
    await expect(err).rejects.toBeInstanceOf(ScrapeError);
    await expect(err).rejects.toMatchObject({
      name: 'BlockedAddressError',
      code: 'SCRAPE_BLOCKED',
      host: 'intranet.test',
      address: '10.1.2.3',
      range: 'private',
      message: 'refused to contact 10.1.2.3 (private address) for intranet.test',
    });
  });

  it('resolveAllowed judges what the resolver returns against the policy', async () => {
    const resolver = new DnsResolver({ lookup: async () => [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }] });
    await expect(resolveAllowed('rebind.test', SECURE_POLICY, undefined, resolver)).rejects.toMatchObject({ code: 'SCRAPE_BLOCKED' });
    expect(await resolveAllowed('rebind.test', { allowPrivate: true }, undefined, resolver)).toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
  });

  it('HTTP connections and UDP resolution (resolveAllowed) share one resolver and its cache', async () => {
    const tracker = await startHttpServer(replyWith(scrapeReplyBytes([{ hash, complete: 1, incomplete: 0, downloaded: 0 }])));
    const name = 'LOCALHOST';
    try {
      sharedResolver.clear();
      const before = sharedResolver.lookups;
      const result = await scrapeHttp(`http://${name}:${tracker.port}/scrape`, [hash], { signal: signal(), policy: { allowPrivate: true } });
      expect(result.counts[0]?.seeders).toBe(1);
      expect(sharedResolver.lookups).toBe(before + 1);
      // What udp.ts resolves with: the name is served from the same cache, no second lookup.
      expect(await resolveAllowed(name.toLowerCase(), { allowPrivate: true })).toEqual([{ address: '127.0.0.1', family: 4 }]);
      expect(sharedResolver.lookups).toBe(before + 1);
    } finally {
      await tracker.close();
    }
  });

  it('canonicalAddress: one key per address, however spelled', () => {
    expect(canonicalAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalAddress('[::ffff:7f00:1]')).toBe('127.0.0.1');
    expect(canonicalAddress('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalAddress('[::1]')).toBe('::1');
    expect(canonicalAddress('fe80::1%eth0')).toBe('fe80::1');
    expect(canonicalAddress('127.0.0.1')).toBe('127.0.0.1');
  });
});

// ---------------------------------------------------------------------------------------------
// Redirects to names and spellings of loopback, with the guard on

describe('the guard on redirects to names that resolve to loopback (SECURE_POLICY)', () => {
  /** Two listeners on one port, 127.0.0.1 and ::1, counting every connection (bounded attempts). */
  async function loopbackListeners(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const four = await countingListener();
      let count6 = 0;
      const six = createServer((socket) => {
        count6++;
        socket.destroy();
      });
      const bound = await new Promise<boolean>((resolve) => {
        six.once('error', () => resolve(false));
        six.listen(four.port, '::1', () => resolve(true));
      });
      const closeAll = async () => {
        await new Promise<void>((resolve) => four.server.close(() => resolve()));
        if (bound) await new Promise<void>((resolve) => six.close(() => resolve()));
      };
      if (bound) return { port: four.port, connections: () => four.connections() + count6, close: closeAll };
      await closeAll();
    }
    throw new Error('no port free on both 127.0.0.1 and ::1');
  }

  let victim: Awaited<ReturnType<typeof loopbackListeners>>;
  beforeAll(async () => {
    victim = await loopbackListeners();
  });
  afterAll(() => victim.close());

  /**
   * The guard is SECURE_POLICY; only the test tracker's own endpoint (127.0.0.1 and its port) is
   * exempt, so the first hop can be made at all. Every redirect target is another port.
   */
  async function redirectFromTracker(location: (victimPort: number, trackerPort: number) => string) {
    let trackerPort = 0;
    const agent = new GuardedAgent({ policy: SECURE_POLICY, exemptEndpoint: (ip, port) => ip === '127.0.0.1' && port === trackerPort });
    const tracker = await startHttpServer((req, res) => {
      if ((req.url ?? '').startsWith('/final')) replyWith(scrapeReplyBytes([{ hash, complete: 4, incomplete: 0, downloaded: 0 }]))(req, res);
      else replyWith('', { location: location(victim.port, trackerPort) }, 302)(req, res);
    });
    trackerPort = tracker.port;
    try {
      const outcome = await scrapeHttp(`${tracker.origin}/scrape`, [hash], { signal: signal(), policy: SECURE_POLICY, dispatcher: agent }).then(
        (result) => ({ result, error: null }),
        (error: TrackerscopeError) => ({ result: null, error }),
      );
      return { ...outcome, trackerRequests: tracker.requests.length };
    } finally {
      await tracker.close();
      await agent.destroy();
    }
  }

  it('follows a redirect back to the exempt tracker endpoint (the setup itself lets a scrape through)', async () => {
    const outcome = await redirectFromTracker((_victimPort, trackerPort) => `http://127.0.0.1:${trackerPort}/final`);
    expect(outcome.error).toBeNull();
    expect(outcome.result?.counts[0]?.seeders).toBe(4);
    expect(outcome.trackerRequests).toBe(2);
  });

  const targets = ['localhost', '127.1', '0', '[::]', '[::ffff:127.0.0.1]', '[::1]', '2130706433'];
  for (const host of targets) {
    it(`refuses a redirect to http://${host}:PORT/ with SCRAPE_BLOCKED; the listener gets no connection`, async () => {
      const before = victim.connections();
      const outcome = await redirectFromTracker((port) => `http://${host}:${port}/scrape`);
      expect(outcome.error?.code).toBe('SCRAPE_BLOCKED');
      expect(outcome.trackerRequests).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(victim.connections()).toBe(before);
      expect(victim.connections()).toBe(0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// A name with several addresses

describe('GuardedAgent with a name of two addresses, one of them dead', () => {
  /** A TCP port on 127.0.0.1 with a tracker, and the same port on ::1 verifiably closed (bounded attempts). */
  async function trackerWithDeadTwin() {
    for (let attempt = 0; attempt < 10; attempt++) {
      const tracker = await startHttpServer(replyWith(scrapeReplyBytes([{ hash, complete: 5, incomplete: 1, downloaded: 0 }])));
      const probe = createServer();
      const free = await new Promise<boolean>((resolve) => {
        probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'EADDRINUSE'));
        probe.listen(tracker.port, '::1', () => probe.close(() => resolve(true)));
      });
      if (free) return tracker;
      await tracker.close();
    }
    throw new Error('no port free on ::1 beside the tracker');
  }

  for (const order of [
    ['::1', '127.0.0.1'],
    ['127.0.0.1', '::1'],
  ]) {
    it(`still answers when the name resolves to ${order.join(' then ')} and ::1 refuses`, async () => {
      const tracker = await trackerWithDeadTwin();
      const asked: string[] = [];
      const agent = new GuardedAgent({
        policy: { allowPrivate: true },
        lookup: async (name) => {
          asked.push(name);
          return order.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
        },
      });
      try {
        const result = await scrapeHttp(`http://tracker.test:${tracker.port}/scrape`, [hash], { signal: signal(), policy: { allowPrivate: true }, dispatcher: agent });
        expect(result).toMatchObject({ family: 4, counts: [{ seeders: 5, leechers: 1 }] });
        expect(asked).toEqual(['tracker.test']);
        expect(tracker.requests).toHaveLength(1);
      } finally {
        await tracker.close();
        await agent.destroy();
      }
    });
  }

  it('fails with the connection error when every address is dead (SCRAPE_CONNECT)', async () => {
    const tracker = await trackerWithDeadTwin();
    const port = tracker.port;
    await tracker.close();
    const agent = new GuardedAgent({
      policy: { allowPrivate: true },
      lookup: async () => [
        { address: '::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
    try {
      const err = await failureOf(scrapeHttp(`http://tracker.test:${port}/scrape`, [hash], { signal: signal(), policy: { allowPrivate: true }, dispatcher: agent }));
      expect(err.code).toBe('SCRAPE_CONNECT');
    } finally {
      await agent.destroy();
    }
  });
});
