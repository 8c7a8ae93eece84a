import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decode, isDict } from '../../src/bencode/index.js';
import { TrackerscopeError } from '../../src/errors.js';
import type { OutboundPolicy, ResolvedAddress } from '../../src/scrape/guard.js';
import { AddressLimiter } from '../../src/scrape/limiter.js';
import { ConnectionIdCache, connectionKey, scrapeUdp, type UdpScrapeOptions } from '../../src/scrape/udp.js';
import { opentrackerAvailable, type RunningOpentracker, startOpentracker } from '../support/opentracker.js';
import { announcePeers, awkwardInfoHash, type BtTracker, httpGet, ipv6LoopbackGate, percentEncodeAll, startBtTracker, toHex, waitUntilAccepted } from '../support/trackers.js';

const ALLOW_LOOPBACK: OutboundPolicy = { allowPrivate: true };
const SECURE: OutboundPolicy = { allowPrivate: false };
/** Short deadline and retry delays: these tests measure behaviour, not BEP 15's slow schedule. */
const DEADLINE_MS = 1500;
const RETRY_DELAYS_MS = [150, 300];
/** Slack allowed around timer-driven expectations (2 shared cores, CI noise). */
const TIMING_SLACK_MS = 400;
const BEP15_MAGIC = 0x41727101980n;

/** IPv6 tests skip without ::1 only outside CI; under CI they run and fail (see ipv6LoopbackGate). */
const v6 = await ipv6LoopbackGate();

function options(extra: Partial<UdpScrapeOptions> = {}): UdpScrapeOptions {
  return {
    signal: AbortSignal.timeout(DEADLINE_MS),
    policy: ALLOW_LOOPBACK,
    retryDelaysMs: RETRY_DELAYS_MS,
    connectionCache: new ConnectionIdCache(),
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<TrackerscopeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TrackerscopeError);
    return err as TrackerscopeError;
  }
  throw new Error('expected the scrape to fail');
}

/** Open UDP handles, once sockets closed just before have been released (a loop turn later). */
async function udpHandles(): Promise<number> {
  await new Promise((r) => setTimeout(r, HANDLE_RELEASE_WAIT_MS));
  return process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap').length;
}
const HANDLE_RELEASE_WAIT_MS = 30;

// ---------------------------------------------------------------------------------------------
// A scriptable UDP tracker on loopback (decoding requests by hand, independently of the codec)

type FakeRequest =
  | { kind: 'connect'; txId: number; from: RemoteInfo }
  | { kind: 'scrape'; connectionId: bigint; txId: number; hashes: Buffer[]; from: RemoteInfo }
  | { kind: 'other'; raw: Buffer; from: RemoteInfo };

function parseRequest(raw: Buffer, from: RemoteInfo): FakeRequest {
  if (raw.length === 16 && raw.readBigUInt64BE(0) === BEP15_MAGIC && raw.readUInt32BE(8) === 0) {
    return { kind: 'connect', txId: raw.readUInt32BE(12), from };
  }
  if (raw.length >= 16 && raw.readUInt32BE(8) === 2 && (raw.length - 16) % 20 === 0) {
    const hashes: Buffer[] = [];
    for (let at = 16; at < raw.length; at += 20) hashes.push(Buffer.from(raw.subarray(at, at + 20)));
    return { kind: 'scrape', connectionId: raw.readBigUInt64BE(0), txId: raw.readUInt32BE(12), hashes, from };
  }
  return { kind: 'other', raw, from };
}

interface Entry {
  seeders: number;
  completed: number;
  leechers: number;
}

function connectReply(txId: number, connectionId: bigint): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeUInt32BE(0, 0);
  buf.writeUInt32BE(txId, 4);
  buf.writeBigUInt64BE(connectionId, 8);
  return buf;
}

function scrapeReply(txId: number, entries: Entry[]): Buffer {
  const buf = Buffer.alloc(8 + 12 * entries.length);
  buf.writeUInt32BE(2, 0);
  buf.writeUInt32BE(txId, 4);
  entries.forEach((e, i) => {
    buf.writeUInt32BE(e.seeders, 8 + 12 * i);
    buf.writeUInt32BE(e.completed, 12 + 12 * i);
    buf.writeUInt32BE(e.leechers, 16 + 12 * i);
  });
  return buf;
}

function errorReply(txId: number, text: string): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeUInt32BE(3, 0);
  buf.writeUInt32BE(txId, 4);
  return Buffer.concat([buf, Buffer.from(text, 'utf8')]);
}

/** Numbers the honest fake reports for a hash made by awkwardInfoHash(seed). */
function countsFor(hash: Uint8Array): Entry {
  const seed = (hash[0]! << 8) | hash[1]!;
  return { seeders: seed, completed: seed * 3 + 1, leechers: seed + 2 };
}

interface FakeTracker {
  address: string;
  port: number;
  requests: FakeRequest[];
  count(kind: FakeRequest['kind']): number;
  send(packet: Uint8Array, to: RemoteInfo): void;
  close(): Promise<void>;
}

type Behaviour = (request: FakeRequest, tracker: FakeTracker) => void;

const fakes: FakeTracker[] = [];

async function startFake(behaviour: Behaviour, address = '127.0.0.1', port = 0): Promise<FakeTracker> {
  const socket: Socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', ipv6Only: address.includes(':') });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
  socket.on('error', () => undefined);
  const requests: FakeRequest[] = [];
  let closed = false;
  const fake: FakeTracker = {
    address,
    port: socket.address().port,
    requests,
    count: (kind) => requests.filter((r) => r.kind === kind).length,
    send: (packet, to) => {
      if (!closed) socket.send(packet, to.port, to.address);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        socket.close(() => resolve());
      }),
  };
  socket.on('message', (raw, from) => {
    const request = parseRequest(raw, from);
    requests.push(request);
    behaviour(request, fake);
  });
  fakes.push(fake);
  return fake;
}

/** A correct tracker: issues `connectionId` and answers scrapes that carry it. */
function honest(connectionId = 0x1122334455667788n): Behaviour {
  return (request, tracker) => {
    if (request.kind === 'connect') tracker.send(connectReply(request.txId, connectionId), request.from);
    else if (request.kind === 'scrape' && request.connectionId === connectionId) {
      tracker.send(scrapeReply(request.txId, request.hashes.map(countsFor)), request.from);
    }
  };
}

const silent: Behaviour = () => undefined;

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

function expectCounts(counts: readonly { seeders: number | null; leechers: number | null; completed: number | null }[], hashes: Uint8Array[]): void {
  expect(counts.map(({ seeders, leechers, completed }) => ({ seeders, leechers, completed }))).toEqual(
    hashes.map((h) => {
      const { seeders, completed, leechers } = countsFor(h);
      return { seeders, leechers, completed };
    }),
  );
}

// ---------------------------------------------------------------------------------------------

describe('scrapeUdp against a correct tracker', () => {
  it('connects, scrapes and maps seeders/completed/leechers in request order', async () => {
    const fake = await startFake(honest());
    const hashes = [awkwardInfoHash(7), awkwardInfoHash(300), awkwardInfoHash(1)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options());
    expectCounts(result.counts, hashes);
    expect(result.counts.every((c) => c.unknown === false && c.downloaders === null)).toBe(true);
    expect(result).toMatchObject({ family: 4, address: '127.0.0.1' });
    expect(fake.count('connect')).toBe(1);
    expect(fake.count('scrape')).toBe(1);
    const scrape = fake.requests.find((r) => r.kind === 'scrape');
    expect(scrape?.kind === 'scrape' && scrape.hashes.map(toHex)).toEqual(hashes.map(toHex));
  });

  it(`splits more than 60 hashes over several packets and keeps the order`, async () => {
    const fake = await startFake(honest());
    const hashes = Array.from({ length: 125 }, (_, i) => awkwardInfoHash(i + 1));
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options());
    expectCounts(result.counts, hashes);
    const sizes = fake.requests.flatMap((r) => (r.kind === 'scrape' ? [r.hashes.length] : []));
    expect(sizes.sort((a, b) => b - a)).toEqual([60, 60, 5]);
    expect(fake.count('connect')).toBe(1);
  });

  it('asks once for a repeated hash and answers every position', async () => {
    const fake = await startFake(honest());
    const a = awkwardInfoHash(5);
    const b = awkwardInfoHash(6);
    const result = await scrapeUdp('127.0.0.1', fake.port, [a, b, a, a], options());
    expectCounts(result.counts, [a, b, a, a]);
    const scrape = fake.requests.find((r) => r.kind === 'scrape');
    expect(scrape?.kind === 'scrape' && scrape.hashes.length).toBe(2);
  });

  it.skipIf(!v6.run)('works over IPv6 on ::1 (bracketed or not) and says family 6', async () => {
    v6.require();
    const fake = await startFake(honest(), '::1');
    const hashes = [awkwardInfoHash(9)];
    for (const host of ['::1', '[::1]']) {
      const result = await scrapeUdp(host, fake.port, hashes, options());
      expectCounts(result.counts, hashes);
      expect(result).toMatchObject({ family: 6, address: '::1' });
    }
  });

  it('sends IPv4-mapped IPv6 targets from an IPv4 socket', async () => {
    const fake = await startFake(honest());
    const result = await scrapeUdp('::ffff:127.0.0.1', fake.port, [awkwardInfoHash(2)], options());
    expect(result).toMatchObject({ family: 4, address: '127.0.0.1' });
  });

  it('leaves no socket open, on success and on every failure', async () => {
    const before = await udpHandles();
    const good = await startFake(honest());
    const mute = await startFake(silent);
    const failing = await startFake((r, t) => {
      if (r.kind === 'connect') t.send(errorReply(r.txId, 'nope'), r.from);
    });
    const opened = await udpHandles();
    await scrapeUdp('127.0.0.1', good.port, [awkwardInfoHash(1)], options());
    await rejection(scrapeUdp('127.0.0.1', mute.port, [awkwardInfoHash(1)], options({ signal: AbortSignal.timeout(400) })));
    await rejection(scrapeUdp('127.0.0.1', failing.port, [awkwardInfoHash(1)], options()));
    await rejection(scrapeUdp('127.0.0.1', await closedPort(), [awkwardInfoHash(1)], options()));
    // closedPort() opened and closed one more fake; every socket scrapeUdp opened is closed too.
    expect(await udpHandles()).toBe(opened);
    await Promise.all(fakes.splice(0).map((f) => f.close()));
    expect(await udpHandles()).toBe(before);
  });
});

describe('one socket per tracker address, shared by overlapping scrapes', () => {
  it('overlapping scrapes of one tracker send from one socket, closed once the last one settles', async () => {
    const fake = await startFake(honest());
    const before = await udpHandles();
    const hashes = Array.from({ length: 8 }, (_, i) => awkwardInfoHash(40 + i));
    const cache = new ConnectionIdCache();
    const results = await Promise.all(hashes.map((hash) => scrapeUdp('127.0.0.1', fake.port, [hash], options({ connectionCache: cache }))));
    for (const [i, result] of results.entries()) expectCounts(result.counts, [hashes[i]!]);
    expect(fake.count('scrape')).toBe(hashes.length);
    expect(new Set(fake.requests.map((r) => r.from.port)).size).toBe(1);
    expect(await udpHandles()).toBe(before);
  });

  it('routes each reply to its own scrape by transaction id, whatever order they come back in', async () => {
    const held: Extract<FakeRequest, { kind: 'scrape' }>[] = [];
    const batch = 4;
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') tracker.send(connectReply(request.txId, 0x51n), request.from);
      else if (request.kind === 'scrape') {
        held.push(request);
        if (held.length === batch) for (const r of [...held].reverse()) tracker.send(scrapeReply(r.txId, r.hashes.map(countsFor)), r.from);
      }
    });
    const cache = new ConnectionIdCache();
    cache.set(connectionKey('127.0.0.1', fake.port), 0x51n, 60_000);
    const hashes = Array.from({ length: batch }, (_, i) => [awkwardInfoHash(60 + 2 * i), awkwardInfoHash(61 + 2 * i)]);
    const results = await Promise.all(hashes.map((pair) => scrapeUdp('127.0.0.1', fake.port, pair, options({ connectionCache: cache }))));
    for (const [i, result] of results.entries()) expectCounts(result.counts, hashes[i]!);
    expect(new Set(held.map((r) => r.txId)).size).toBe(batch);
    expect(new Set(held.map((r) => r.from.port)).size).toBe(1);
  });

  it('a scrape that starts as another ends reuses its socket; nothing stays open afterwards', async () => {
    const fake = await startFake(honest());
    const before = await udpHandles();
    const cache = new ConnectionIdCache();
    await scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(70)], options({ connectionCache: cache }));
    await scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(71)], options({ connectionCache: cache }));
    expect(fake.requests.map((r) => r.kind)).toEqual(['connect', 'scrape', 'scrape']);
    expect(new Set(fake.requests.map((r) => r.from.port)).size).toBe(1);
    expect(await udpHandles()).toBe(before);
  });

  it('a refused port fails every scrape of that address at once, and no scrape of another tracker', async () => {
    const good = await startFake(honest());
    const refused = await closedPort();
    const started = performance.now();
    const [first, second, other] = await Promise.allSettled([
      scrapeUdp('127.0.0.1', refused, [awkwardInfoHash(1)], options()),
      scrapeUdp('127.0.0.1', refused, [awkwardInfoHash(2)], options()),
      scrapeUdp('127.0.0.1', good.port, [awkwardInfoHash(3)], options()),
    ]);
    expect(performance.now() - started).toBeLessThan(RETRY_DELAYS_MS[0]!);
    for (const outcome of [first, second]) {
      expect(outcome.status).toBe('rejected');
      expect(outcome.status === 'rejected' && (outcome.reason as TrackerscopeError).code).toBe('SCRAPE_CONNECT');
    }
    expect(other.status).toBe('fulfilled');
    if (other.status === 'fulfilled') expectCounts(other.value.counts, [awkwardInfoHash(3)]);
  });

  it('a socket that failed is never handed out again: the next scrape of that address gets a new one', async () => {
    const port = await closedPort();
    expect((await rejection(scrapeUdp('127.0.0.1', port, [awkwardInfoHash(1)], options()))).code).toBe('SCRAPE_CONNECT');
    const revived = await startFake(honest(), '127.0.0.1', port);
    const result = await scrapeUdp('127.0.0.1', port, [awkwardInfoHash(5)], options());
    expectCounts(result.counts, [awkwardInfoHash(5)]);
    expect(revived.count('scrape')).toBe(1);
  });

  it('a stray reply from the tracker for a transaction nobody waits for is ignored', async () => {
    const connectionId = 0x33n;
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') {
        // A scrape reply for a transaction that was never asked, from the right address and port.
        tracker.send(scrapeReply((request.txId ^ 0x5a5a5a5a) >>> 0, [{ seeders: 999, completed: 999, leechers: 999 }]), request.from);
        tracker.send(connectReply(request.txId, connectionId), request.from);
      } else if (request.kind === 'scrape') tracker.send(scrapeReply(request.txId, request.hashes.map(countsFor)), request.from);
    });
    const hashes = [awkwardInfoHash(80)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ retryDelaysMs: [DEADLINE_MS] }));
    expectCounts(result.counts, hashes);
    expect(fake.count('connect')).toBe(1);
  });
});

/** A loopback UDP port nothing listens on (the kernel answers ICMP port unreachable). */
async function closedPort(): Promise<number> {
  const fake = await startFake(silent);
  await fake.close();
  return fake.port;
}

describe('scrapeUdp against misbehaving trackers', () => {
  it('a tracker that never answers: SCRAPE_TIMEOUT at the deadline, after exactly two retransmissions', async () => {
    const fake = await startFake(silent);
    const started = performance.now();
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options()));
    const elapsed = performance.now() - started;
    expect(err.code).toBe('SCRAPE_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
    expect(elapsed).toBeLessThan(DEADLINE_MS + TIMING_SLACK_MS);
    // Sent at 0, 150 and 450 ms, then silence until the deadline.
    expect(fake.count('connect')).toBe(1 + RETRY_DELAYS_MS.length);
    expect(fake.requests).toHaveLength(3);
    const txIds = new Set(fake.requests.map((r) => (r.kind === 'connect' ? r.txId : -1)));
    expect(txIds.size).toBe(1);
  });

  it('a tracker that answers only the retransmission is accepted on it', async () => {
    const seen = new Set<number>();
    const honestOne = honest();
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'other') return;
      if (!seen.has(request.txId)) {
        seen.add(request.txId);
        return;
      }
      honestOne(request, tracker);
    });
    const started = performance.now();
    const hashes = [awkwardInfoHash(11)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ retryDelaysMs: [100, 5000] }));
    expectCounts(result.counts, hashes);
    expect(fake.count('connect')).toBe(2);
    expect(fake.count('scrape')).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 100 - 10);
  });

  it('ignores wrong transaction ids, stray and malformed packets, then accepts the right reply', async () => {
    const connectionId = 0xabcdef0123456789n;
    const fake = await startFake((request, tracker) => {
      const to = request.from;
      if (request.kind === 'connect') {
        tracker.send(connectReply((request.txId + 1) >>> 0, 0xbadn), to);
        tracker.send(connectReply(~request.txId >>> 0, 0xbadn), to);
        tracker.send(Buffer.from('garbage'), to);
        tracker.send(Buffer.alloc(0), to);
        tracker.send(scrapeReply(request.txId, [{ seeders: 1, completed: 1, leechers: 1 }]), to); // wrong action
        tracker.send(Buffer.concat([connectReply(request.txId, 0xbadn), Buffer.alloc(4)]), to); // 20 bytes
        tracker.send(connectReply(request.txId, connectionId), to);
      } else if (request.kind === 'scrape') {
        tracker.send(scrapeReply((request.txId + 7) >>> 0, [{ seeders: 999, completed: 999, leechers: 999 }]), to);
        tracker.send(connectReply(request.txId, 0xbadn), to); // wrong action
        const announceReply = scrapeReply(request.txId, [{ seeders: 1800, completed: 0, leechers: 0 }]);
        announceReply.writeUInt32BE(1, 0);
        tracker.send(announceReply, to);
        tracker.send(scrapeReply(request.txId, request.hashes.map(countsFor)), to);
      }
    });
    const hashes = [awkwardInfoHash(4)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ retryDelaysMs: [DEADLINE_MS] }));
    expectCounts(result.counts, hashes);
    // Nothing had to be retransmitted: the right replies were recognised among the junk.
    expect(fake.count('connect')).toBe(1);
    expect(fake.count('scrape')).toBe(1);
    const scrape = fake.requests.find((r) => r.kind === 'scrape');
    expect(scrape?.kind === 'scrape' && scrape.connectionId).toBe(connectionId);
  });

  it('ignores replies from another port of the same host', async () => {
    const impostor = await startFake(silent);
    const connectionId = 0x77n;
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') {
        impostor.send(connectReply(request.txId, 0x666n), request.from);
        setTimeout(() => tracker.send(connectReply(request.txId, connectionId), request.from), 50);
      } else if (request.kind === 'scrape') {
        impostor.send(scrapeReply(request.txId, [{ seeders: 999, completed: 999, leechers: 999 }]), request.from);
        setTimeout(() => tracker.send(scrapeReply(request.txId, request.hashes.map(countsFor)), request.from), 50);
      }
    });
    const hashes = [awkwardInfoHash(8)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ retryDelaysMs: [DEADLINE_MS] }));
    expectCounts(result.counts, hashes);
    const scrape = fake.requests.find((r) => r.kind === 'scrape');
    expect(scrape?.kind === 'scrape' && scrape.connectionId).toBe(connectionId);
  });

  it('times out when only another port answers', async () => {
    const impostor = await startFake(silent);
    const fake = await startFake((request) => {
      if (request.kind === 'connect') impostor.send(connectReply(request.txId, 0x666n), request.from);
    });
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(8)], options({ signal: AbortSignal.timeout(500) })));
    expect(err.code).toBe('SCRAPE_TIMEOUT');
    expect(fake.count('scrape')).toBe(0);
  });

  it('an error reply to connect is SCRAPE_TRACKER_FAILURE with the tracker’s message', async () => {
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') tracker.send(errorReply(request.txId, 'Requested download is not authorized\0'), request.from);
    });
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options()));
    expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
    expect(err.message).toContain('Requested download is not authorized');
    expect(fake.count('connect')).toBe(1);
  });

  it('an error reply to a scrape is SCRAPE_TRACKER_FAILURE (control characters cleaned)', async () => {
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') tracker.send(connectReply(request.txId, 5n), request.from);
      else if (request.kind === 'scrape') tracker.send(errorReply(request.txId, 'torrent\x1b[31m banned\n'), request.from);
    });
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options()));
    expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
    expect(err.message).toMatch(/torrent \[31m banned$/);
    expect(fake.count('scrape')).toBe(1);
  });

  it('truncated scrape replies only: SCRAPE_BAD_REPLY at the deadline, saying why', async () => {
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') tracker.send(connectReply(request.txId, 5n), request.from);
      else if (request.kind === 'scrape') {
        const full = scrapeReply(request.txId, request.hashes.map(countsFor));
        tracker.send(full.subarray(0, full.length - 4), request.from);
      }
    });
    // Short resends and a deadline well past the last one: a loaded machine can delay a timer by
    // hundreds of milliseconds, and what matters is that every resend went out, not when.
    const retryDelaysMs = [50, 100];
    const lastResendMs = retryDelaysMs.reduce((a, b) => a + b, 0);
    const signal = AbortSignal.timeout(lastResendMs + 2 * TIMING_SLACK_MS);
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1), awkwardInfoHash(2)], options({ signal, retryDelaysMs })));
    expect(err.code).toBe('SCRAPE_BAD_REPLY');
    // Two entries (8 + 12·2 bytes) cut by 4.
    expect(err.message).toBe('the UDP tracker sent only malformed replies (scrape reply is 28 bytes, not 8 + 12·n)');
    expect(fake.count('scrape')).toBe(1 + retryDelaysMs.length);
  });

  it('a scrape reply with fewer entries than hashes is never taken as an answer', async () => {
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') tracker.send(connectReply(request.txId, 5n), request.from);
      else if (request.kind === 'scrape') tracker.send(scrapeReply(request.txId, request.hashes.slice(1).map(countsFor)), request.from);
    });
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1), awkwardInfoHash(2)], options({ signal: AbortSignal.timeout(600) })));
    expect(err.code).toBe('SCRAPE_BAD_REPLY');
    expect(err.message).toContain('1 entries for 2 info-hashes');
  });

  it('a truncated reply followed by a correct one on the retransmission is accepted', async () => {
    let scrapes = 0;
    const fake = await startFake((request, tracker) => {
      if (request.kind === 'connect') tracker.send(connectReply(request.txId, 5n), request.from);
      else if (request.kind === 'scrape') {
        const full = scrapeReply(request.txId, request.hashes.map(countsFor));
        tracker.send(scrapes++ === 0 ? full.subarray(0, 13) : full, request.from);
      }
    });
    const hashes = [awkwardInfoHash(3)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options());
    expectCounts(result.counts, hashes);
    expect(fake.count('scrape')).toBe(2);
  });

  it('a closed port (ICMP port unreachable) fails fast with SCRAPE_CONNECT', async () => {
    const port = await closedPort();
    const started = performance.now();
    const err = await rejection(scrapeUdp('127.0.0.1', port, [awkwardInfoHash(1)], options()));
    expect(err.code).toBe('SCRAPE_CONNECT');
    // Plain words, no address or port (Node's own message names both).
    expect(err.message).toBe("nothing listens on the tracker's UDP port (ECONNREFUSED)");
    expect(performance.now() - started).toBeLessThan(RETRY_DELAYS_MS[0]!);
  });

  it('an already-fired signal sends nothing; a signal firing mid-exchange ends it promptly', async () => {
    const fake = await startFake(silent);
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options({ signal: AbortSignal.abort() })));
    expect(err.code).toBe('SCRAPE_TIMEOUT');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const err2 = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options({ signal: controller.signal })));
    expect(err2.code).toBe('SCRAPE_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(100 + TIMING_SLACK_MS);
    expect(fake.count('connect')).toBe(1);
  });

  it('refuses bad arguments before sending anything', async () => {
    const fake = await startFake(silent);
    expect((await rejection(scrapeUdp('127.0.0.1', fake.port, [], options()))).code).toBe('SCRAPE_NO_HASH');
    expect((await rejection(scrapeUdp('127.0.0.1', fake.port, [new Uint8Array(32)], options()))).code).toBe('SCRAPE_BAD_HASH');
    expect((await rejection(scrapeUdp('127.0.0.1', 0, [awkwardInfoHash(1)], options()))).code).toBe('SCRAPE_BAD_PORT');
    expect((await rejection(scrapeUdp('127.0.0.1', 70000, [awkwardInfoHash(1)], options()))).code).toBe('SCRAPE_BAD_PORT');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('connection id cache', () => {
  it('reuses the connection id for the same ip:port within its lifetime', async () => {
    const fake = await startFake(honest(0x42n));
    const cache = new ConnectionIdCache();
    await scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options({ connectionCache: cache }));
    expect(cache.get(connectionKey('127.0.0.1', fake.port))).toBe(0x42n);
    const hashes = [awkwardInfoHash(2)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ connectionCache: cache }));
    expectCounts(result.counts, hashes);
    expect(fake.count('connect')).toBe(1);
    expect(fake.count('scrape')).toBe(2);
  });

  it('does not reuse an expired id', async () => {
    const fake = await startFake(honest());
    const cache = new ConnectionIdCache();
    for (let i = 0; i < 2; i++) await scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(1)], options({ connectionCache: cache, connectionIdTtlMs: 0 }));
    expect(fake.count('connect')).toBe(2);
  });

  /** A tracker whose valid id is the last one it issued; older ids get `stale` treatment. */
  function rotating(stale: 'error' | 'drop' | 'always-error'): Behaviour {
    let issued = 0n;
    return (request, tracker) => {
      if (request.kind === 'connect') tracker.send(connectReply(request.txId, ++issued), request.from);
      else if (request.kind === 'scrape') {
        if (request.connectionId === issued && stale !== 'always-error') {
          tracker.send(scrapeReply(request.txId, request.hashes.map(countsFor)), request.from);
        } else if (stale !== 'drop') {
          tracker.send(errorReply(request.txId, 'Connection ID missmatch.'), request.from);
        }
      }
    };
  }

  it('reconnects once when the tracker answers a cached id with an error', async () => {
    const fake = await startFake(rotating('error'));
    const cache = new ConnectionIdCache();
    const key = connectionKey('127.0.0.1', fake.port);
    cache.set(key, 0x999n, 60_000);
    const hashes = [awkwardInfoHash(2)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ connectionCache: cache }));
    expectCounts(result.counts, hashes);
    expect(fake.requests.map((r) => r.kind)).toEqual(['scrape', 'connect', 'scrape']);
    expect(fake.requests.map((r) => (r.kind === 'scrape' ? r.connectionId : null))).toEqual([0x999n, null, 1n]);
    expect(cache.get(key)).toBe(1n);
  });

  it('reconnects when a cached id is silently ignored (as opentracker does), after the first retry delay', async () => {
    const fake = await startFake(rotating('drop'));
    const cache = new ConnectionIdCache();
    cache.set(connectionKey('127.0.0.1', fake.port), 0x999n, 60_000);
    const started = performance.now();
    const hashes = [awkwardInfoHash(2)];
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ connectionCache: cache }));
    expectCounts(result.counts, hashes);
    expect(performance.now() - started).toBeGreaterThanOrEqual(RETRY_DELAYS_MS[0]! - 10);
    expect(fake.requests.map((r) => r.kind)).toEqual(['scrape', 'connect', 'scrape']);
  });

  it('reconnects only once: an error to the fresh id is the tracker’s answer', async () => {
    const fake = await startFake(rotating('always-error'));
    const cache = new ConnectionIdCache();
    cache.set(connectionKey('127.0.0.1', fake.port), 0x999n, 60_000);
    const err = await rejection(scrapeUdp('127.0.0.1', fake.port, [awkwardInfoHash(2)], options({ connectionCache: cache })));
    expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
    expect(err.message).toContain('Connection ID missmatch.');
    expect(fake.requests.map((r) => r.kind)).toEqual(['scrape', 'connect', 'scrape']);
  });

  it('several packets of one call share one reconnect', async () => {
    const fake = await startFake(rotating('error'));
    const cache = new ConnectionIdCache();
    cache.set(connectionKey('127.0.0.1', fake.port), 0x999n, 60_000);
    const hashes = Array.from({ length: 150 }, (_, i) => awkwardInfoHash(i));
    const result = await scrapeUdp('127.0.0.1', fake.port, hashes, options({ connectionCache: cache }));
    expectCounts(result.counts, hashes);
    expect(fake.count('connect')).toBe(1);
    expect(fake.count('scrape')).toBe(6);
  });

  it('expires entries by its clock, forgets only the id it is told to, and stays bounded', () => {
    let now = 0;
    const cache = new ConnectionIdCache(2, () => now);
    cache.set('a', 1n, 1000);
    now = 999;
    expect(cache.get('a')).toBe(1n);
    now = 1000;
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', 1n, 1000);
    cache.delete('a', 2n);
    expect(cache.get('a')).toBe(1n);
    cache.delete('a', 1n);
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', 1n, 1000);
    cache.set('b', 2n, 1000);
    cache.set('c', 3n, 1000);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toBe(3n);
  });
});

describe('outbound guard', () => {
  it('with allowPrivate:false, loopback in any spelling is SCRAPE_BLOCKED and nothing is sent', async () => {
    const fake = await startFake(honest());
    // Under CI ::1 must exist (startFake fails without it); elsewhere its spellings are left out.
    const fake6 = v6.run ? await startFake(honest(), '::1') : null;
    const hosts = ['127.0.0.1', 'localhost', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]', '2130706433', '0x7f.1', '127.1', ...(fake6 ? ['::1', '[::1]'] : [])];
    for (const host of hosts) {
      const port = host.includes('::1') && fake6 ? fake6.port : fake.port;
      const err = await rejection(scrapeUdp(host, port, [awkwardInfoHash(1)], options({ policy: SECURE })));
      expect(err.code, host).toBe('SCRAPE_BLOCKED');
    }
    // Give any stray datagram time to arrive before concluding none was sent.
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.requests).toHaveLength(0);
    expect(fake6?.requests ?? []).toHaveLength(0);
  });

  it('re-checks what an injected resolver returns: a forbidden address is never sent to', async () => {
    const fake = await startFake(honest());
    const resolve = async (): Promise<ResolvedAddress[]> => [{ address: '127.0.0.1', family: 4 }];
    const err = await rejection(scrapeUdp('tracker.example', fake.port, [awkwardInfoHash(1)], options({ policy: SECURE, resolve })));
    expect(err.code).toBe('SCRAPE_BLOCKED');
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.requests).toHaveLength(0);
  });
});

describe('the IPv6 test gate', () => {
  it('skips without ::1 only outside CI; under CI the tests run and fail loudly', async () => {
    const missing = async () => false;
    const present = async () => true;
    const local = await ipv6LoopbackGate(missing, {});
    expect(local.run).toBe(false);
    const ci = await ipv6LoopbackGate(missing, { CI: 'true' });
    expect(ci.run).toBe(true);
    expect(() => ci.require()).toThrow(/::1.*missing.*CI/);
    const here = await ipv6LoopbackGate(present, { CI: 'true' });
    expect(here.run).toBe(true);
    expect(() => here.require()).not.toThrow();
  });
});

describe('the per-address bound on the send path', () => {
  /** Answers like honest(), each reply `delayMs` late, and records the most requests it ever had unanswered. */
  function slowHonest(delayMs: number, stats: { open: number; peak: number }): Behaviour {
    const answer = honest();
    return (request, tracker) => {
      stats.open++;
      stats.peak = Math.max(stats.peak, stats.open);
      setTimeout(() => {
        stats.open--;
        answer(request, tracker);
      }, delayMs);
    };
  }

  async function scrapeThroughEveryName(maxPerAddress: number) {
    const stats = { open: 0, peak: 0 };
    const fake = await startFake(slowHonest(40, stats));
    const addressLimiter = new AddressLimiter({ maxPerAddress });
    const names = ['127.0.0.1', 'localhost', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]', '127.1'];
    const hashes = [awkwardInfoHash(21)];
    // A fresh connection cache per scrape: each one connects, then scrapes (two requests each).
    const results = await Promise.all(
      names.flatMap((name) => [1, 2].map(() => scrapeUdp(name, fake.port, hashes, options({ addressLimiter, signal: AbortSignal.timeout(3000) })))),
    );
    return { results, stats, fake, addressLimiter, hashes };
  }

  it('never has more requests unanswered at one address than the bound, whatever the names; all still answer', async () => {
    const { results, stats, fake, addressLimiter, hashes } = await scrapeThroughEveryName(2);
    for (const result of results) expectCounts(result.counts, hashes);
    expect(results.every((r) => r.address === '127.0.0.1')).toBe(true);
    expect(fake.count('connect')).toBe(10);
    expect(fake.count('scrape')).toBe(10);
    expect(stats.peak).toBe(2);
    expect(addressLimiter.peakPerAddress).toBe(2);
    expect(addressLimiter.activeFor('127.0.0.1')).toBe(0);
  });

  it('with a higher bound the same scrapes do overlap more (the test can tell)', async () => {
    const { stats } = await scrapeThroughEveryName(10);
    expect(stats.peak).toBeGreaterThan(2);
  });

  it('a request waiting for a slot ends at the deadline, never sent, and frees its place', async () => {
    const fake = await startFake(honest());
    const addressLimiter = new AddressLimiter({ maxPerAddress: 1 });
    const release = await addressLimiter.acquire('127.0.0.1');
    try {
      const err = await rejection(scrapeUdp('localhost', fake.port, [awkwardInfoHash(22)], options({ addressLimiter, signal: AbortSignal.timeout(300) })));
      expect(err.code).toBe('SCRAPE_TIMEOUT');
      expect(addressLimiter.waiting).toBe(0);
      expect(fake.requests).toHaveLength(0);
    } finally {
      release();
    }
  });
});

/** A port free on both 127.0.0.1 and ::1, with a fake on each (bounded attempts). */
async function dualStackFakes(v4: Behaviour, v6Behaviour: Behaviour): Promise<[FakeTracker, FakeTracker]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const four = await startFake(v4);
    try {
      return [four, await startFake(v6Behaviour, '::1', four.port)];
    } catch {
      await four.close();
    }
  }
  throw new Error('no port free on both 127.0.0.1 and ::1');
}

describe.skipIf(!v6.run)('several addresses for one name', () => {
  beforeAll(() => v6.require());
  const both = (first: string, second: string) => async (): Promise<ResolvedAddress[]> =>
    [first, second].map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as ResolvedAddress);

  it('moves on from a silent address after the stagger and says which family answered', async () => {
    const [four, six] = await dualStackFakes(honest(), silent);
    const hashes = [awkwardInfoHash(12)];
    const started = performance.now();
    const result = await scrapeUdp('tracker.test', four.port, hashes, options({ resolve: both('::1', '127.0.0.1'), addressStaggerMs: 100 }));
    expectCounts(result.counts, hashes);
    expect(result).toMatchObject({ family: 4, address: '127.0.0.1' });
    expect(six.count('connect')).toBeGreaterThanOrEqual(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(100 - 10);
  });

  it('moves on at once from an address that refuses', async () => {
    const [four, six] = await dualStackFakes(silent, honest());
    await four.close();
    const hashes = [awkwardInfoHash(13)];
    const started = performance.now();
    const result = await scrapeUdp('tracker.test', six.port, hashes, options({ resolve: both('127.0.0.1', '::1'), addressStaggerMs: 1000 }));
    expectCounts(result.counts, hashes);
    expect(result).toMatchObject({ family: 6, address: '::1' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('when no address answers: SCRAPE_TIMEOUT by the deadline, both tried', async () => {
    const [four, six] = await dualStackFakes(silent, silent);
    const started = performance.now();
    const err = await rejection(
      scrapeUdp('tracker.test', four.port, [awkwardInfoHash(1)], options({ resolve: both('::1', '127.0.0.1'), addressStaggerMs: 100, signal: AbortSignal.timeout(700) })),
    );
    expect(err.code).toBe('SCRAPE_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(700 + TIMING_SLACK_MS);
    expect(six.count('connect')).toBeGreaterThanOrEqual(1);
    expect(four.count('connect')).toBeGreaterThanOrEqual(1);
  });

  it('an error reply from the first address is the answer (no second opinion asked)', async () => {
    const [four, six] = await dualStackFakes(honest(), (request, tracker) => {
      if (request.kind === 'connect') tracker.send(errorReply(request.txId, 'banned'), request.from);
    });
    const err = await rejection(scrapeUdp('tracker.test', four.port, [awkwardInfoHash(1)], options({ resolve: both('::1', '127.0.0.1'), addressStaggerMs: 300 })));
    expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
    expect(six.count('connect')).toBe(1);
    expect(four.requests).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Real trackers: announce over HTTP, scrape over UDP

/** The tracker's own HTTP scrape (raw request, decoded here) for one hash: the reference numbers. */
async function httpScrape(httpAnnounce: string, hash: Uint8Array): Promise<{ seeders: number; leechers: number; completed: number } | null> {
  const url = `${httpAnnounce.replace(/\/announce$/, '/scrape')}?info_hash=${percentEncodeAll(hash)}`;
  const reply = decode(await httpGet(url));
  if (!isDict(reply)) throw new Error('scrape reply is not a dictionary');
  const files = reply.get('files');
  if (!isDict(files)) throw new Error('scrape reply has no files');
  const key = Buffer.from(hash).toString('latin1');
  // bittorrent-tracker@10 bencodes the binary key as UTF-8 text: bytes >= 0x80 arrive as two bytes.
  const entry = files.get(key) ?? files.get(Buffer.from(key, 'utf8').toString('latin1'));
  if (entry === undefined) return null;
  if (!isDict(entry)) throw new Error('files entry is not a dictionary');
  const n = (key: string) => Number(entry.get(key));
  return { seeders: n('complete'), leechers: n('incomplete'), completed: n('downloaded') };
}

function numbers(c: { seeders: number | null; leechers: number | null; completed: number | null } | undefined) {
  return c && { seeders: c.seeders, leechers: c.leechers, completed: c.completed };
}

describe('against bittorrent-tracker (in-process)', () => {
  let tracker: BtTracker;
  const a = awkwardInfoHash(1001);
  const b = awkwardInfoHash(1002);
  const unknown = awkwardInfoHash(1003);

  beforeAll(async () => {
    tracker = await startBtTracker();
    await announcePeers(tracker.httpAnnounce, a, { seeders: 3, leechers: 2, completed: 1 });
    await announcePeers(tracker.httpAnnounce, b, { seeders: 1, leechers: 4, completed: 0 });
  });
  afterAll(async () => {
    await tracker?.stop();
  });

  it('gives the numbers the test announced, the same as over HTTP, and zeros for an unknown hash', async () => {
    const result = await scrapeUdp('127.0.0.1', tracker.udpPort, [a, b, unknown], options());
    // bittorrent-tracker reports its current seeders as "completed" (a lower bound it admits).
    expect(result.counts.map(numbers)).toEqual([
      { seeders: 3, leechers: 2, completed: 3 },
      { seeders: 1, leechers: 4, completed: 1 },
      { seeders: 0, leechers: 0, completed: 0 },
    ]);
    expect(result.family).toBe(4);
    expect(numbers(result.counts[0])).toEqual(await httpScrape(tracker.httpAnnounce, a));
    expect(numbers(result.counts[1])).toEqual(await httpScrape(tracker.httpAnnounce, b));
    expect(tracker.warnings).toEqual([]);
  });

  it('splits 130 hashes over packets it accepts, numbers in the right places', async () => {
    const hashes = Array.from({ length: 130 }, (_, i) => awkwardInfoHash(2000 + i));
    await announcePeers(tracker.httpAnnounce, hashes[61]!, { seeders: 2, leechers: 1, completed: 0 });
    await announcePeers(tracker.httpAnnounce, hashes[129]!, { seeders: 0, leechers: 3, completed: 0 });
    hashes[0] = a;
    const result = await scrapeUdp('127.0.0.1', tracker.udpPort, hashes, options());
    expect(result.counts).toHaveLength(130);
    expect(numbers(result.counts[0])).toEqual({ seeders: 3, leechers: 2, completed: 3 });
    expect(numbers(result.counts[61])).toEqual({ seeders: 2, leechers: 1, completed: 2 });
    expect(numbers(result.counts[129])).toEqual({ seeders: 0, leechers: 3, completed: 0 });
    const others = result.counts.filter((_, i) => i !== 0 && i !== 61 && i !== 129);
    expect(others.every((c) => c.seeders === 0 && c.leechers === 0 && c.completed === 0)).toBe(true);
    expect(tracker.warnings).toEqual([]);
  });

  it.skipIf(!v6.run)('answers the same over IPv6 (::1)', async () => {
    v6.require();
    const port = tracker.udp6Port;
    if (port === null) throw new Error('bittorrent-tracker has no ::1 socket although ::1 exists');
    const result = await scrapeUdp('::1', port, [a, b], options());
    expect(result.family).toBe(6);
    expect(result.counts.map(numbers)).toEqual([
      { seeders: 3, leechers: 2, completed: 3 },
      { seeders: 1, leechers: 4, completed: 1 },
    ]);
  });
});

const withOpentracker = opentrackerAvailable();

describe.skipIf(!withOpentracker)('against opentracker (whitelist mode)', () => {
  let tracker: RunningOpentracker;
  const a = awkwardInfoHash(3001);
  const b = awkwardInfoHash(3002);
  const notListed = awkwardInfoHash(3003);
  const many = Array.from({ length: 70 }, (_, i) => awkwardInfoHash(3100 + i));

  beforeAll(async () => {
    tracker = await startOpentracker({ whitelist: [a, b, ...many].map(toHex) });
    await waitUntilAccepted(tracker.announceUrl, a);
    await announcePeers(tracker.announceUrl, a, { seeders: 2, leechers: 3, completed: 4 });
    await announcePeers(tracker.announceUrl, b, { seeders: 1, leechers: 0, completed: 1 });
    await announcePeers(tracker.announceUrl, many[65]!, { seeders: 1, leechers: 2, completed: 0 });
  });
  afterAll(async () => {
    await tracker?.stop();
  });

  it('gives the announced seeders, leechers and completed — the same as over HTTP', async () => {
    const result = await scrapeUdp('127.0.0.1', tracker.udpPort, [a, b, notListed], options());
    expect(result.counts.map(numbers)).toEqual([
      { seeders: 2, leechers: 3, completed: 4 },
      { seeders: 1, leechers: 0, completed: 1 },
      { seeders: 0, leechers: 0, completed: 0 },
    ]);
    expect(numbers(result.counts[0])).toEqual(await httpScrape(tracker.announceUrl, a));
    expect(numbers(result.counts[1])).toEqual(await httpScrape(tracker.announceUrl, b));
  });

  it('answers all of 70 hashes (opentracker drops what is past 64 in one packet)', async () => {
    const hashes = [a, ...many];
    const result = await scrapeUdp('127.0.0.1', tracker.udpPort, hashes, options());
    expect(result.counts).toHaveLength(71);
    expect(numbers(result.counts[0])).toEqual({ seeders: 2, leechers: 3, completed: 4 });
    expect(numbers(result.counts[66])).toEqual({ seeders: 1, leechers: 2, completed: 0 });
  });

  it('reuses its connection id, which opentracker accepts', async () => {
    const cache = new ConnectionIdCache();
    await scrapeUdp('127.0.0.1', tracker.udpPort, [a], options({ connectionCache: cache }));
    expect(cache.size).toBe(1);
    const started = performance.now();
    const result = await scrapeUdp('127.0.0.1', tracker.udpPort, [b], options({ connectionCache: cache }));
    expect(numbers(result.counts[0])).toEqual({ seeders: 1, leechers: 0, completed: 1 });
    // A dropped cached id would cost the first retry delay before reconnecting.
    expect(performance.now() - started).toBeLessThan(RETRY_DELAYS_MS[0]!);
  });
});
