import { createHash } from 'node:crypto';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerscopeError } from '../../src/errors.js';
import { addressRange, isAddressAllowed, type OutboundPolicy, SECURE_POLICY } from '../../src/scrape/guard.js';
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
