import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeCache } from '../../src/scrape/cache.js';
import { RequestLimiter } from '../../src/scrape/limiter.js';
import {
  announcedTrackerOf,
  DEFAULT_MAX_TRACKERS,
  endpointKeyOf,
  MAX_REMEMBERED_ANNOUNCE_URL_CHARS,
  MAX_REMEMBERED_ANNOUNCE_URLS,
  RememberedTrackers,
  type ScrapeLogger,
  scrapeAll,
  swarmHashesOf,
  UNKNOWN_TORRENT_WARNING,
} from '../../src/scrape/scraper.js';
import { SECURE_POLICY, type TrackerStat } from '../../src/scrape/index.js';
import type { Torrent } from '../../src/torrent/index.js';
import { parseMagnet } from '../../src/torrent/index.js';
import { infoHashesOf, replyWith, scrapeReplyBytes, startHttpServer, startWebSocketServer } from '../support/http-trackers.js';
import { opentrackerAvailable, type RunningOpentracker, startOpentracker } from '../support/opentracker.js';
import { announcePeers, awkwardInfoHash, type BtTracker, ipv6LoopbackGate, startBtTracker, toHex } from '../support/trackers.js';

const LOOPBACK_POLICY = { allowPrivate: true };
/** IPv6 tests skip without ::1 only outside CI; under CI they run and fail (see ipv6LoopbackGate). */
const v6 = await ipv6LoopbackGate();

/** A hybrid torrent's two swarms: a v1 SHA-1 and a v2 SHA-256 (trackers see its first 20 bytes). */
function hybridHashes(seed: number) {
  const v1 = awkwardInfoHash(seed);
  const v2Tracker = awkwardInfoHash(seed + 1);
  // The 12 bytes after the first 20 never reach a tracker (BEP 52 truncation): make them distinct.
  const v2Full = `${toHex(v2Tracker)}${'5a'.repeat(12)}`;
  return { v1, v2Tracker, v1Hex: toHex(v1), v2Full, v2TrackerHex: toHex(v2Tracker) };
}

/** A Torrent through the real magnet parser: each tracker its own tier, as clients read `tr`. */
function magnetTorrent(hashes: { v1Hex?: string; v2Full?: string }, trackers: string[]): Torrent {
  const parts: string[] = [];
  if (hashes.v1Hex) parts.push(`xt=urn:btih:${hashes.v1Hex}`);
  if (hashes.v2Full) parts.push(`xt=urn:btmh:1220${hashes.v2Full}`);
  for (const tracker of trackers) parts.push(`tr=${encodeURIComponent(tracker)}`);
  return parseMagnet(`magnet:?${parts.join('&')}`);
}

/** Trackers in explicit tiers (a .torrent's announce-list), built literally. */
function tieredTorrent(v1Hex: string, tiers: string[][]): Torrent {
  return { ...magnetTorrent({ v1Hex }, []), trackers: tiers };
}

function rowFor(rows: TrackerStat[], announce: string, kind: 'v1' | 'v2' = 'v1'): TrackerStat {
  const row = rows.find((r) => r.announce === announce && r.hashKind === kind);
  if (!row) throw new Error(`no ${kind} row for ${announce} in ${JSON.stringify(rows.map((r) => [r.announce, r.hashKind]))}`);
  return row;
}

function numbers(row: TrackerStat) {
  return { status: row.status, seeders: row.seeders, leechers: row.leechers, completed: row.completed };
}

// ---------------------------------------------------------------------------------------------
// A scripted BEP 15 tracker on loopback: counts every packet, answers from a table, or stays silent.

interface FakeUdpTracker {
  port: number;
  packets: number;
  /** Hash counts of every scrape request received. */
  scrapes: number[];
  close(): Promise<void>;
}

const BEP15_PROTOCOL_ID = 0x41727101980n;
const BEP15_ACTION_CONNECT = 0;
const BEP15_ACTION_SCRAPE = 2;
const BEP15_ACTION_ERROR = 3;

async function startFakeUdpTracker(table: Map<string, [seeders: number, completed: number, leechers: number]> | 'silent'): Promise<FakeUdpTracker> {
  const socket: UdpSocket = createSocket('udp4');
  const state: FakeUdpTracker = {
    port: 0,
    packets: 0,
    scrapes: [],
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, rinfo) => {
    state.packets++;
    if (table === 'silent' || msg.length < 16) return;
    const action = msg.readUInt32BE(8);
    const txId = msg.readUInt32BE(12);
    if (action === BEP15_ACTION_CONNECT && msg.readBigUInt64BE(0) === BEP15_PROTOCOL_ID) {
      const reply = Buffer.alloc(16);
      reply.writeUInt32BE(BEP15_ACTION_CONNECT, 0);
      reply.writeUInt32BE(txId, 4);
      reply.writeBigUInt64BE(0x1234_5678_9abc_def0n, 8);
      socket.send(reply, rinfo.port, rinfo.address);
    } else if (action === BEP15_ACTION_SCRAPE) {
      const count = (msg.length - 16) / 20;
      state.scrapes.push(count);
      const reply = Buffer.alloc(8 + 12 * count);
      reply.writeUInt32BE(BEP15_ACTION_SCRAPE, 0);
      reply.writeUInt32BE(txId, 4);
      for (let i = 0; i < count; i++) {
        const hash = msg.subarray(16 + 20 * i, 36 + 20 * i).toString('hex');
        const [s, c, l] = table.get(hash) ?? [0, 0, 0];
        reply.writeUInt32BE(s, 8 + 12 * i);
        reply.writeUInt32BE(c, 12 + 12 * i);
        reply.writeUInt32BE(l, 16 + 12 * i);
      }
      socket.send(reply, rinfo.port, rinfo.address);
    }
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  state.port = socket.address().port;
  return state;
}

/** A TCP server that accepts connections and never says a word. */
async function startSilentTcp(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    port: address.port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A BEP 48 tracker answering each requested hash from a table (hex → counts). */
function tableTracker(table: Map<string, { complete: number; incomplete: number; downloaded: number }>) {
  return replyFromRequest((target) => {
    const entries = infoHashesOf(target).flatMap((hash) => {
      const counts = table.get(hash.toString('hex'));
      return counts ? [{ hash, ...counts }] : [];
    });
    return scrapeReplyBytes(entries);
  });
}

function replyFromRequest(body: (target: string) => Uint8Array) {
  return (req: { url?: string }, res: import('node:http').ServerResponse) => {
    const bytes = body(req.url ?? '');
    res.writeHead(200, { 'content-length': String(bytes.length) });
    res.end(bytes);
  };
}

// ---------------------------------------------------------------------------------------------

describe('scrapeAll against real trackers on loopback', () => {
  let bt: BtTracker;
  const btSwarm = hybridHashes(100);
  const V1_SHAPE = { seeders: 3, leechers: 2, completed: 3 };
  const V2_SHAPE = { seeders: 1, leechers: 4, completed: 1 };

  beforeAll(async () => {
    bt = await startBtTracker();
    await announcePeers(bt.httpAnnounce, btSwarm.v1, V1_SHAPE);
    await announcePeers(bt.httpAnnounce, btSwarm.v2Tracker, V2_SHAPE);
  });
  afterAll(async () => {
    await bt?.stop();
  });

  it('bittorrent-tracker: the same numbers over HTTP and UDP, two rows per tracker for a hybrid torrent', async () => {
    const torrent = magnetTorrent(btSwarm, [bt.httpAnnounce, bt.udpAnnounce]);
    expect(torrent.version).toBe('hybrid');
    const rows = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(rows).toHaveLength(4);
    for (const announce of [bt.httpAnnounce, bt.udpAnnounce]) {
      const v1 = rowFor(rows, announce, 'v1');
      const v2 = rowFor(rows, announce, 'v2');
      // bittorrent-tracker reports its current seeders as `downloaded` (see test/support/trackers.ts).
      expect(numbers(v1)).toEqual({ status: 'ok', seeders: 3, leechers: 2, completed: 3 });
      expect(numbers(v2)).toEqual({ status: 'ok', seeders: 1, leechers: 4, completed: 1 });
      expect(v1.infoHash).toBe(btSwarm.v1Hex);
      expect(v2.infoHash).toBe(btSwarm.v2TrackerHex);
      expect(v1.family).toBe(4);
      expect(v1.error).toBeNull();
      expect(v1.cached).toBe(false);
      expect(v1.ms).toBeGreaterThanOrEqual(0);
    }
    expect(rowFor(rows, bt.httpAnnounce).protocol).toBe('http');
    expect(rowFor(rows, bt.httpAnnounce).scrape).toBe(bt.httpAnnounce.replace(/announce$/, 'scrape'));
    expect(rowFor(rows, bt.udpAnnounce).protocol).toBe('udp');
    expect(rows.map((r) => r.tier)).toEqual([0, 0, 1, 1]);
  });

  it.skipIf(!v6.run)('says which address family answered (IPv6 loopback over UDP)', async () => {
    v6.require();
    // With ::1 present the tracker listens on it: a missing port is a broken setup, not a skip.
    expect(bt.udp6Port).not.toBeNull();
    const announce = `udp://[::1]:${bt.udp6Port}`;
    const rows = await scrapeAll(magnetTorrent({ v1Hex: btSwarm.v1Hex }, [announce]), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(rows).toHaveLength(1);
    expect(numbers(rows[0]!)).toEqual({ status: 'ok', seeders: 3, leechers: 2, completed: 3 });
    expect(rows[0]!.family).toBe(6);
  });

  it('a tracker that never answers (TCP and UDP) becomes `timeout` by the deadline; the others are still ok', async () => {
    const silentTcp = await startSilentTcp();
    const silentUdp = await startFakeUdpTracker('silent');
    try {
      const deadlineMs = 1200;
      const torrent = magnetTorrent(btSwarm, [
        `http://127.0.0.1:${silentTcp.port}/announce`,
        `udp://127.0.0.1:${silentUdp.port}/announce`,
        bt.httpAnnounce,
        bt.udpAnnounce,
      ]);
      const started = performance.now();
      const rows = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, deadlineMs, limiter: new RequestLimiter() });
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(deadlineMs - 50);
      expect(took).toBeLessThan(deadlineMs + 500);
      for (const kind of ['v1', 'v2'] as const) {
        for (const silent of [`http://127.0.0.1:${silentTcp.port}/announce`, `udp://127.0.0.1:${silentUdp.port}/announce`]) {
          const row = rowFor(rows, silent, kind);
          expect(row.status).toBe('timeout');
          expect(row.seeders).toBeNull();
          expect(row.error).toContain(`${deadlineMs} ms`);
          expect(row.ms).toBeGreaterThanOrEqual(deadlineMs - 50);
        }
        expect(rowFor(rows, bt.httpAnnounce, kind).status).toBe('ok');
        expect(rowFor(rows, bt.udpAnnounce, kind).status).toBe('ok');
        expect(rowFor(rows, bt.udpAnnounce, kind).ms).toBeLessThan(deadlineMs);
      }
      // They were asked (and retried over UDP), they just never answered.
      expect(silentTcp.connections()).toBeGreaterThanOrEqual(1);
      expect(silentUdp.packets).toBeGreaterThanOrEqual(2);
    } finally {
      await silentTcp.close();
      await silentUdp.close();
    }
  });

  it('the caller cancelling ends the call at once, pending trackers as `timeout`', async () => {
    const silentTcp = await startSilentTcp();
    try {
      const controller = new AbortController();
      const torrent = magnetTorrent({ v1Hex: btSwarm.v1Hex }, [`http://127.0.0.1:${silentTcp.port}/announce`]);
      setTimeout(() => controller.abort(), 100);
      const started = performance.now();
      const rows = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, signal: controller.signal, deadlineMs: 5000, limiter: new RequestLimiter() });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(rows[0]!.status).toBe('timeout');
      expect(rows[0]!.error).toMatch(/cancelled/);
    } finally {
      await silentTcp.close();
    }
  });

  it('one caller cancelling does not cancel the shared request another caller waits for', async () => {
    const table = new Map([[btSwarm.v1Hex, { complete: 3, incomplete: 2, downloaded: 9 }]]);
    const answer = tableTracker(table);
    const server = await startHttpServer((req, res) => {
      setTimeout(() => answer(req, res), 500);
    });
    try {
      const cache = new ScrapeCache();
      const limiter = new RequestLimiter();
      const torrent = magnetTorrent({ v1Hex: btSwarm.v1Hex }, [`${server.origin}/announce`]);
      const leaving = new AbortController();
      setTimeout(() => leaving.abort(), 100);
      const [a, b] = await Promise.all([
        scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter, signal: leaving.signal, deadlineMs: 3000 }),
        scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter, signal: new AbortController().signal, deadlineMs: 3000 }),
      ]);
      expect(a[0]).toMatchObject({ status: 'timeout', error: 'cancelled before the tracker answered' });
      expect(b[0]).toMatchObject({ status: 'ok', seeders: 3, leechers: 2, completed: 9 });
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it("bittorrent-tracker echoing a path passkey (\"invalid action in HTTP request: /<passkey>/scrape?…\") leaks it nowhere", async () => {
    const passkey = 'abcdef0123456789abcdef0123456789';
    const lines: string[] = [];
    const logger: ScrapeLogger = { debug: (details, message) => lines.push(`${message} ${JSON.stringify(details)}`) };
    const announce = `http://127.0.0.1:${bt.httpPort}/${passkey}/announce`;
    const rows = await scrapeAll(magnetTorrent({ v1Hex: btSwarm.v1Hex }, [announce]), { policy: LOOPBACK_POLICY, logger, limiter: new RequestLimiter() });
    expect(rows[0]!.status).toBe('error');
    expect(rows[0]!.error).toBe('tracker says: invalid action in HTTP request: /[redacted]/scrape?[redacted]');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('invalid action in HTTP request');
    expect(lines[0]).not.toContain(passkey);
    expect(lines[0]).not.toContain('info_hash');
  });

  it('answers from the cache without building a deadline or asking for the caller\'s signal', async () => {
    const server = await startHttpServer(tableTracker(new Map([[btSwarm.v1Hex, { complete: 4, incomplete: 1, downloaded: 6 }]])));
    try {
      const cache = new ScrapeCache();
      const torrent = magnetTorrent({ v1Hex: btSwarm.v1Hex }, [`${server.origin}/announce`]);
      let signalsAskedFor = 0;
      const signal = () => {
        signalsAskedFor++;
        return new AbortController().signal;
      };
      const first = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, signal, limiter: new RequestLimiter() });
      expect(signalsAskedFor).toBe(1);
      expect(first[0]).toMatchObject({ status: 'ok', seeders: 4, leechers: 1, completed: 6, cached: false });
      const second = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, signal, limiter: new RequestLimiter() });
      expect(signalsAskedFor).toBe(1);
      expect(server.requests).toHaveLength(1);
      expect(second[0]).toMatchObject({ status: 'ok', seeders: 4, leechers: 1, completed: 6, cached: true, ms: 0 });
      // A caller that had already cancelled gets what an uncached call gives it, as before.
      const cancelled = new AbortController();
      cancelled.abort();
      const third = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, signal: cancelled.signal, limiter: new RequestLimiter() });
      expect(third[0]).toMatchObject({ status: 'timeout', error: 'cancelled before the tracker answered' });
    } finally {
      await server.close();
    }
  });

  it('a hash the HTTP tracker does not know gives null numbers and says so', async () => {
    const server = await startHttpServer(replyWith(scrapeReplyBytes([])));
    try {
      const rows = await scrapeAll(magnetTorrent({ v1Hex: btSwarm.v1Hex }, [`${server.origin}/announce`]), {
        policy: LOOPBACK_POLICY,
        limiter: new RequestLimiter(),
      });
      expect(numbers(rows[0]!)).toEqual({ status: 'ok', seeders: null, leechers: null, completed: null });
      expect(rows[0]!.warning).toBe(UNKNOWN_TORRENT_WARNING);
    } finally {
      await server.close();
    }
  });

  it("a tracker's failure reason and a non-scrape reply are `error` rows with the reason", async () => {
    const refusing = await startHttpServer(replyWith('d14:failure reason25:torrent not on whitelist!e'));
    const html = await startHttpServer(replyWith('<html><body>Not a tracker</body></html>', { 'content-type': 'text/html' }));
    try {
      const rows = await scrapeAll(magnetTorrent({ v1Hex: btSwarm.v1Hex }, [`${refusing.origin}/announce`, `${html.origin}/announce`, bt.httpAnnounce]), {
        policy: LOOPBACK_POLICY,
        limiter: new RequestLimiter(),
      });
      expect(rows.map((r) => r.status)).toEqual(['error', 'error', 'ok']);
      expect(rows[0]!.error).toContain('torrent not on whitelist!');
      expect(rows[1]!.error).toMatch(/HTML/);
    } finally {
      await refusing.close();
      await html.close();
    }
  });
});

describe('error rows: plain words, and the family of a tracker that answered', () => {
  /** A loopback UDP port nothing listens on: bound, read, closed (the kernel then answers ICMP port unreachable). */
  async function closedUdpPort(): Promise<number> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return port;
  }

  /** A BEP 15 tracker on `host` that answers every connect with an error reply (action 3) saying `message`. */
  async function refusingUdpTracker(host: '127.0.0.1' | '::1', message: string): Promise<{ port: number; close: () => Promise<void> }> {
    const socket = createSocket(host === '::1' ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    socket.on('message', (msg, rinfo) => {
      if (msg.length < 16 || msg.readUInt32BE(8) !== BEP15_ACTION_CONNECT) return;
      const reply = Buffer.concat([Buffer.alloc(8), Buffer.from(message)]);
      reply.writeUInt32BE(BEP15_ACTION_ERROR, 0);
      reply.writeUInt32BE(msg.readUInt32BE(12), 4);
      socket.send(reply, rinfo.port, rinfo.address);
    });
    socket.bind(0, host);
    await once(socket, 'listening');
    return { port: socket.address().port, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
  }

  it("a closed UDP port on 127.0.0.1: an `error` row in plain words, no address, no port, no family", async () => {
    const port = await closedUdpPort();
    const announce = `udp://127.0.0.1:${port}/announce`;
    const rows = await scrapeAll(magnetTorrent({ v1Hex: toHex(awkwardInfoHash(1500)) }, [announce]), {
      policy: LOOPBACK_POLICY,
      limiter: new RequestLimiter(),
    });
    const row = rowFor(rows, announce);
    expect(row.status).toBe('error');
    expect(row.error).toBe("nothing listens on the tracker's UDP port (ECONNREFUSED)");
    expect(row.error).not.toContain(String(port));
    expect(row.family).toBeNull();
  });

  it('a failure reason, an HTML page, a bad reply, an HTTP error and a BEP 15 error reply carry the family that answered (IPv4)', async () => {
    const refusing = await startHttpServer(replyWith('d14:failure reason7:go awaye'));
    const html = await startHttpServer(replyWith('<html><body>Not a tracker</body></html>', { 'content-type': 'text/html' }));
    const garbage = await startHttpServer(replyWith('d5:filesi3ee'));
    const broken = await startHttpServer(replyWith('oops', {}, 500));
    const udp = await refusingUdpTracker('127.0.0.1', 'not whitelisted');
    const closedPort = await closedUdpPort();
    const announces = [
      `${refusing.origin}/announce`,
      `${html.origin}/announce`,
      `${garbage.origin}/announce`,
      `${broken.origin}/announce`,
      `udp://127.0.0.1:${udp.port}/announce`,
      `udp://127.0.0.1:${closedPort}/announce`,
    ];
    try {
      const rows = await scrapeAll(magnetTorrent({ v1Hex: toHex(awkwardInfoHash(1510)) }, announces), {
        policy: LOOPBACK_POLICY,
        limiter: new RequestLimiter(),
      });
      expect(rows.map((r) => [r.status, r.family])).toEqual([
        ['error', 4],
        ['error', 4],
        ['error', 4],
        ['error', 4],
        ['error', 4],
        // Refused: nothing answered, so no family.
        ['error', null],
      ]);
      expect(rows.map((r) => r.error)).toEqual([
        'tracker says: go away',
        'tracker replied with an HTML page, not a scrape response',
        'tracker reply\'s "files" is not a dictionary',
        'tracker answered HTTP 500',
        'tracker says: not whitelisted',
        "nothing listens on the tracker's UDP port (ECONNREFUSED)",
      ]);
    } finally {
      await Promise.all([refusing.close(), html.close(), garbage.close(), broken.close(), udp.close()]);
    }
  });

  it('a WebSocket failure reason or bad reply carries the family that answered (IPv4); a closed socket none', async () => {
    const refusing = await startWebSocketServer((_text, peer) => peer.send(JSON.stringify({ action: 'scrape', 'failure reason': 'go away' })));
    const garbage = await startWebSocketServer((_text, peer) => peer.send(JSON.stringify({ action: 'scrape', files: [] })));
    const closing = await startWebSocketServer((_text, peer) => peer.close());
    const announces = [refusing.wsOrigin, `${garbage.wsOrigin}/`, `${closing.wsOrigin}/x`];
    try {
      const rows = await scrapeAll(magnetTorrent({ v1Hex: toHex(awkwardInfoHash(1515)) }, announces), {
        policy: LOOPBACK_POLICY,
        limiter: new RequestLimiter(),
      });
      expect(rows.map((r) => [r.protocol, r.status, r.family])).toEqual([
        ['ws', 'error', 4],
        ['ws', 'error', 4],
        ['ws', 'error', null],
      ]);
      expect(rows[0]?.error).toBe('tracker says: go away');
      expect(rows[1]?.error).toMatch(/no "files" object/);
    } finally {
      await Promise.all([refusing.close(), garbage.close(), closing.close()]);
    }
  });

  it.skipIf(!v6.run)('the same over IPv6: family 6 for an HTTP failure reason and a BEP 15 error reply on ::1', async () => {
    v6.require();
    const refusing = await startHttpServer(replyWith('d14:failure reason7:go awaye'), '::1');
    const udp = await refusingUdpTracker('::1', 'not whitelisted');
    const announces = [`${refusing.origin}/announce`, `udp://[::1]:${udp.port}/announce`];
    try {
      const rows = await scrapeAll(magnetTorrent({ v1Hex: toHex(awkwardInfoHash(1520)) }, announces), {
        policy: LOOPBACK_POLICY,
        limiter: new RequestLimiter(),
      });
      expect(rows.map((r) => [r.status, r.error, r.family])).toEqual([
        ['error', 'tracker says: go away', 6],
        ['error', 'tracker says: not whitelisted', 6],
      ]);
    } finally {
      await Promise.all([refusing.close(), udp.close()]);
    }
  });
});

describe('scrapeAll against opentracker', () => {
  const available = opentrackerAvailable();
  let ot: RunningOpentracker | undefined;
  const swarm = hybridHashes(200);

  beforeAll(async () => {
    if (!available) return;
    ot = await startOpentracker({ whitelist: [swarm.v1Hex, swarm.v2TrackerHex] });
    await announcePeers(ot.announceUrl, swarm.v1, { seeders: 4, leechers: 3, completed: 2 });
    await announcePeers(ot.announceUrl, swarm.v2Tracker, { seeders: 2, leechers: 1, completed: 5 });
  });
  afterAll(async () => {
    await ot?.stop();
  });

  it.skipIf(!available)('the same numbers over HTTP and UDP for both swarms of a hybrid torrent', async () => {
    const tracker = ot!;
    const udp = `udp://127.0.0.1:${tracker.udpPort}/announce`;
    const rows = await scrapeAll(magnetTorrent(swarm, [tracker.announceUrl, udp]), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(rows).toHaveLength(4);
    for (const announce of [tracker.announceUrl, udp]) {
      expect(numbers(rowFor(rows, announce, 'v1'))).toEqual({ status: 'ok', seeders: 4, leechers: 3, completed: 2 });
      expect(numbers(rowFor(rows, announce, 'v2'))).toEqual({ status: 'ok', seeders: 2, leechers: 1, completed: 5 });
    }
  });
});

describe('scrapeAll fan-out rules', () => {
  it('trackers sharing one scrape endpoint are asked once, both swarms in one request (HTTP)', async () => {
    const swarm = hybridHashes(300);
    const table = new Map([
      [swarm.v1Hex, { complete: 7, incomplete: 8, downloaded: 9 }],
      [swarm.v2TrackerHex, { complete: 1, incomplete: 2, downloaded: 3 }],
    ]);
    const server = await startHttpServer(tableTracker(table));
    try {
      const a = `${server.origin}/announce`;
      const b = `${server.origin.replace('http:', 'HTTP:')}/announce#tier2`;
      const rows = await scrapeAll(magnetTorrent(swarm, [a, b]), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      expect(server.requests).toHaveLength(1);
      expect(server.requests[0]!.match(/info_hash=/g)).toHaveLength(2);
      expect(rows).toHaveLength(4);
      for (const announce of [a, b]) {
        expect(numbers(rowFor(rows, announce, 'v1'))).toEqual({ status: 'ok', seeders: 7, leechers: 8, completed: 9 });
        expect(numbers(rowFor(rows, announce, 'v2'))).toEqual({ status: 'ok', seeders: 1, leechers: 2, completed: 3 });
      }
    } finally {
      await server.close();
    }
  });

  it('trackers sharing one UDP endpoint are asked once, both swarms in one packet', async () => {
    const swarm = hybridHashes(400);
    const udp = await startFakeUdpTracker(
      new Map([
        [swarm.v1Hex, [5, 6, 7]],
        [swarm.v2TrackerHex, [8, 9, 10]],
      ]),
    );
    try {
      const a = `udp://127.0.0.1:${udp.port}`;
      const b = `udp://127.0.0.1:${udp.port}/announce`;
      const rows = await scrapeAll(magnetTorrent(swarm, [a, b]), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      expect(udp.scrapes).toEqual([2]);
      for (const announce of [a, b]) {
        // BEP 15 order on the wire is seeders, completed, leechers.
        expect(numbers(rowFor(rows, announce, 'v1'))).toEqual({ status: 'ok', seeders: 5, leechers: 7, completed: 6 });
        expect(numbers(rowFor(rows, announce, 'v2'))).toEqual({ status: 'ok', seeders: 8, leechers: 10, completed: 9 });
      }
    } finally {
      await udp.close();
    }
  });

  it(`contacts at most ${DEFAULT_MAX_TRACKERS} distinct trackers; the rest are listed as skipped`, async () => {
    const swarm = hybridHashes(500);
    const server = await startHttpServer(tableTracker(new Map([[swarm.v1Hex, { complete: 1, incomplete: 1, downloaded: 1 }]])));
    try {
      const trackers = Array.from({ length: DEFAULT_MAX_TRACKERS + 1 }, (_, i) => `${server.origin}/t${i + 1}/announce`);
      const rows = await scrapeAll(magnetTorrent({ v1Hex: swarm.v1Hex }, trackers), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      expect(rows).toHaveLength(DEFAULT_MAX_TRACKERS + 1);
      expect(rows.slice(0, DEFAULT_MAX_TRACKERS).every((r) => r.status === 'ok')).toBe(true);
      const last = rows[DEFAULT_MAX_TRACKERS]!;
      expect(last.announce).toBe(trackers[DEFAULT_MAX_TRACKERS]);
      expect(last.status).toBe('skipped');
      expect(last.scrape).toBe(`${server.origin}/t${DEFAULT_MAX_TRACKERS + 1}/scrape`);
      expect(server.requests).toHaveLength(DEFAULT_MAX_TRACKERS);
      expect(server.requests.some((r) => r.startsWith(`/t${DEFAULT_MAX_TRACKERS + 1}/`))).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('a smaller maxTrackers is honoured, and trackers sharing a chosen endpoint do not count twice', async () => {
    const swarm = hybridHashes(550);
    const server = await startHttpServer(tableTracker(new Map([[swarm.v1Hex, { complete: 2, incomplete: 0, downloaded: 0 }]])));
    try {
      const trackers = [`${server.origin}/x/announce`, `${server.origin}/x/announce#again`, `${server.origin}/y/announce`];
      const rows = await scrapeAll(magnetTorrent({ v1Hex: swarm.v1Hex }, trackers), { policy: LOOPBACK_POLICY, maxTrackers: 1, limiter: new RequestLimiter() });
      expect(rows.map((r) => r.status)).toEqual(['ok', 'ok', 'skipped']);
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('with the secure policy every loopback tracker is `blocked` and nothing reaches the listeners', async () => {
    const swarm = hybridHashes(600);
    const server = await startHttpServer(replyWith(scrapeReplyBytes([])));
    const udp = await startFakeUdpTracker(new Map());
    try {
      const trackers = [
        `${server.origin}/announce`,
        `http://localhost:${server.port}/announce`,
        `http://[::ffff:127.0.0.1]:${server.port}/announce`,
        `http://2130706433:${server.port}/announce`,
        `udp://127.0.0.1:${udp.port}`,
        `udp://localhost:${udp.port}/announce`,
      ];
      const rows = await scrapeAll(magnetTorrent(swarm, trackers), { policy: SECURE_POLICY, limiter: new RequestLimiter() });
      expect(rows).toHaveLength(trackers.length * 2);
      for (const row of rows) {
        expect(row.status, row.announce).toBe('blocked');
        expect(row.seeders).toBeNull();
        expect(row.error).toMatch(/refused|loopback/);
      }
      expect(server.connections()).toBe(0);
      expect(udp.packets).toBe(0);
    } finally {
      await server.close();
      await udp.close();
    }
  });

  it('trackers without scrape support are `unsupported` and never contacted', async () => {
    const swarm = hybridHashes(700);
    const server = await startHttpServer(tableTracker(new Map([[swarm.v1Hex, { complete: 1, incomplete: 2, downloaded: 3 }]])));
    try {
      const trackers = [
        `${server.origin}/a`,
        `${server.origin}/tracker?announce`,
        'file:///etc/passwd',
        'javascript:alert(1)',
        `ftp://127.0.0.1:${server.port}/announce`,
        `${server.origin}/announce`,
      ];
      const rows = await scrapeAll(magnetTorrent({ v1Hex: swarm.v1Hex }, trackers), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      expect(rows.map((r) => r.status)).toEqual(['unsupported', 'unsupported', 'unsupported', 'unsupported', 'unsupported', 'ok']);
      for (const row of rows.slice(0, 5)) {
        expect(row.scrape).toBeNull();
        expect(row.error).toBeTruthy();
        expect(row.ms).toBe(0);
      }
      expect(rows[2]!.protocol).toBe('other');
      expect(server.requests).toHaveLength(1);
      expect(server.requests[0]!.startsWith('/scrape?')).toBe(true);
      expect(infoHashesOf(server.requests[0]!).map((h) => h.toString('hex'))).toEqual([swarm.v1Hex]);
    } finally {
      await server.close();
    }
  });

  it('keeps tier order and tier numbers, and drops a tracker listed twice', async () => {
    const swarm = hybridHashes(800);
    const server = await startHttpServer(tableTracker(new Map([[swarm.v1Hex, { complete: 1, incomplete: 1, downloaded: 1 }]])));
    try {
      const a = `${server.origin}/a/announce`;
      const b = `${server.origin}/b/announce`;
      const c = `${server.origin}/c/announce`;
      const rows = await scrapeAll(tieredTorrent(swarm.v1Hex, [[a, b], [c, a]]), { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      expect(rows.map((r) => [r.announce, r.tier, r.status])).toEqual([
        [a, 0, 'ok'],
        [b, 0, 'ok'],
        [c, 1, 'ok'],
      ]);
    } finally {
      await server.close();
    }
  });

  it('never logs a passkey', async () => {
    const swarm = hybridHashes(900);
    const passkey = 'f00dfeedcafe1234deadbeef5678abcd';
    const server = await startHttpServer(replyWith('d14:failure reason12:unregisterede'));
    try {
      const lines: string[] = [];
      const logger: ScrapeLogger = { debug: (details, message) => lines.push(`${message} ${JSON.stringify(details)}`) };
      const trackers = [`${server.origin}/announce.php?passkey=${passkey}`, `${server.origin}/${passkey}/announce`];
      const rows = await scrapeAll(magnetTorrent({ v1Hex: swarm.v1Hex }, trackers), { policy: LOOPBACK_POLICY, logger, limiter: new RequestLimiter() });
      expect(rows.map((r) => r.status)).toEqual(['error', 'error']);
      // The passkey did reach the tracker (it needs it)...
      expect(server.requests.filter((r) => r.includes(passkey))).toHaveLength(2);
      // ...but never the log.
      expect(lines).toHaveLength(2);
      for (const line of lines) expect(line).not.toContain(passkey);
    } finally {
      await server.close();
    }
  });

  it('a tracker quoting our request (path and query passkeys) in its error: neither the row nor the log carries them', async () => {
    const swarm = hybridHashes(950);
    const passkey = '0badc0ffee0123456789abcdef012345';
    const queryKey = 'Q7u3ryPa55k3y';
    // Says what it was asked, as many trackers do: "unknown passkey in /…/scrape?…&info_hash=…".
    const server = await startHttpServer((req, res) => {
      const reason = `unknown passkey in ${req.url ?? ''}`;
      res.end(`d14:failure reason${Buffer.byteLength(reason)}:${reason}e`);
    });
    try {
      const lines: string[] = [];
      const logger: ScrapeLogger = { debug: (details, message) => lines.push(`${message} ${JSON.stringify(details)}`) };
      const trackers = [`${server.origin}/${passkey}/announce`, `${server.origin}/announce.php?passkey=${queryKey}&uid=7`];
      const rows = await scrapeAll(magnetTorrent({ v1Hex: swarm.v1Hex }, trackers), { policy: LOOPBACK_POLICY, logger, limiter: new RequestLimiter() });
      expect(server.requests).toHaveLength(2);
      expect(rows.map((r) => r.status)).toEqual(['error', 'error']);
      for (const row of rows) {
        expect(row.error).toMatch(/^tracker says: unknown passkey in \//);
        expect(row.error).not.toContain(passkey);
        expect(row.error).not.toContain(queryKey);
        expect(row.error).not.toContain('passkey=');
        expect(row.error).not.toContain('info_hash=');
      }
      expect(rows[0]!.error).toContain(`/[redacted]/scrape`);
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        expect(line).not.toContain(passkey);
        expect(line).not.toContain(queryKey);
        expect(line).not.toContain('info_hash=');
      }
    } finally {
      await server.close();
    }
  });

  it('a torrent with no trackers gives no rows; a magnet of one swarm gives one row per tracker', async () => {
    const swarm = hybridHashes(1000);
    expect(await scrapeAll(magnetTorrent({ v1Hex: swarm.v1Hex }, []), { policy: LOOPBACK_POLICY })).toEqual([]);
    const v2only = magnetTorrent({ v2Full: swarm.v2Full }, ['file:///x']);
    const rows = await scrapeAll(v2only, { policy: LOOPBACK_POLICY });
    expect(rows.map((r) => [r.hashKind, r.infoHash, r.status])).toEqual([['v2', swarm.v2TrackerHex, 'unsupported']]);
  });
});

describe('answeredAt: when the information in each row was obtained', () => {
  const table = (hex: string) => tableTracker(new Map([[hex, { complete: 3, incomplete: 1, downloaded: 7 }]]));

  it('a fresh answer is stamped within the call, by the wall clock, for every swarm of the one request', async () => {
    const swarm = hybridHashes(1100);
    const server = await startHttpServer(table(swarm.v1Hex));
    try {
      const torrent = magnetTorrent(swarm, [`${server.origin}/announce`]);
      const before = Date.now();
      const rows = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      const after = Date.now();
      expect(rows.map((r) => r.status)).toEqual(['ok', 'ok']);
      const [v1, v2] = rows.map((r) => r.answeredAt);
      expect(v1).not.toBeNull();
      expect(v1!).toBeGreaterThanOrEqual(before);
      expect(v1!).toBeLessThanOrEqual(after);
      expect(v2).toBe(v1);
    } finally {
      await server.close();
    }
  });

  it("a row served from the cache keeps the first answer's time (the cache's clock), not the time it was read back", async () => {
    const swarm = hybridHashes(1200);
    const server = await startHttpServer(table(swarm.v1Hex));
    try {
      let now = 1_700_000_000_000;
      const cache = new ScrapeCache({ ttlMs: 60_000, now: () => now });
      const torrent = magnetTorrent({ v1Hex: swarm.v1Hex }, [`${server.origin}/announce`]);
      const first = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      expect(first[0]).toMatchObject({ status: 'ok', cached: false, answeredAt: 1_700_000_000_000 });
      now += 30_000;
      const second = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      expect(second[0]).toMatchObject({ status: 'ok', seeders: 3, cached: true, ms: 0, answeredAt: 1_700_000_000_000 });
      expect(server.requests).toHaveLength(1);
      // Once it expires, a new answer gets the new time.
      now += 30_000;
      const third = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      expect(third[0]).toMatchObject({ cached: false, answeredAt: 1_700_000_060_000 });
      expect(server.requests).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('callers sharing one request in flight report the same time, however late they joined', async () => {
    const swarm = hybridHashes(1300);
    const answer = table(swarm.v1Hex);
    const server = await startHttpServer((req, res) => {
      setTimeout(() => answer(req, res), 200);
    });
    try {
      // Every reading of the clock moves it on: equal times can only be one stamp shared.
      let now = 5_000_000;
      const cache = new ScrapeCache({ now: () => (now += 1_000) });
      const torrent = magnetTorrent({ v1Hex: swarm.v1Hex }, [`${server.origin}/announce`]);
      const first = scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const joined = scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      const [a, b] = await Promise.all([first, joined]);
      expect(server.requests).toHaveLength(1);
      expect(a[0]!.status).toBe('ok');
      expect(b[0]!.cached).toBe(false);
      expect(a[0]!.answeredAt).not.toBeNull();
      expect(b[0]!.answeredAt).toBe(a[0]!.answeredAt);
    } finally {
      await server.close();
    }
  });

  it('an error row has the time it was established, kept when served from the cache; the error is in plain words', async () => {
    const swarm = hybridHashes(1400);
    const refusing = await startHttpServer(replyWith('d14:failure reason10:overloadede'));
    const closed = await startHttpServer(replyWith(''));
    const closedPort = closed.port;
    await closed.close();
    try {
      let now = 2_000_000;
      const cache = new ScrapeCache({ errorTtlMs: 10_000, now: () => now });
      const trackers = [`${refusing.origin}/announce`, `http://127.0.0.1:${closedPort}/s3cr3t/announce`];
      const torrent = magnetTorrent({ v1Hex: swarm.v1Hex }, trackers);
      const first = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      expect(first.map((r) => [r.status, r.answeredAt, r.cached])).toEqual([
        ['error', 2_000_000, false],
        ['error', 2_000_000, false],
      ]);
      expect(first[0]!.error).toBe('tracker says: overloaded');
      expect(first[1]!.error).toBe('the tracker refused the connection: nothing listens on that port (ECONNREFUSED)');
      now += 5_000;
      const second = await scrapeAll(torrent, { policy: LOOPBACK_POLICY, cache, limiter: new RequestLimiter() });
      expect(second.map((r) => [r.status, r.answeredAt, r.cached])).toEqual([
        ['error', 2_000_000, true],
        ['error', 2_000_000, true],
      ]);
      expect(refusing.requests).toHaveLength(1);
    } finally {
      await refusing.close();
    }
  });

  it('no answer, no time: timeout (fresh and cached), blocked, unsupported and skipped rows are null', async () => {
    const swarm = hybridHashes(1500);
    const silentTcp = await startSilentTcp();
    const server = await startHttpServer(table(swarm.v1Hex));
    try {
      const cache = new ScrapeCache();
      const silent = `http://127.0.0.1:${silentTcp.port}/announce`;
      const torrent = magnetTorrent({ v1Hex: swarm.v1Hex }, [silent, 'file:///etc/passwd', `${server.origin}/a/announce`, `${server.origin}/b/announce`]);
      const opts = { policy: LOOPBACK_POLICY, cache, deadlineMs: 300, maxTrackers: 2, limiter: new RequestLimiter() };
      const rows = await scrapeAll(torrent, opts);
      expect(rows.map((r) => [r.status, r.answeredAt === null])).toEqual([
        ['timeout', true],
        ['unsupported', true],
        ['ok', false],
        ['skipped', true],
      ]);
      // The cut request settles into the cache just after the call returned.
      for (let i = 0; i < 50 && cache.peek(`http://127.0.0.1:${silentTcp.port}/scrape`, swarm.v1Hex) === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const again = await scrapeAll(torrent, opts);
      expect(again[0]).toMatchObject({ status: 'timeout', cached: true, answeredAt: null });
      const blocked = await scrapeAll(torrent, { ...opts, policy: SECURE_POLICY, cache: undefined });
      expect(blocked.filter((r) => r.status === 'blocked').map((r) => r.answeredAt)).toEqual([null, null]);
    } finally {
      await silentTcp.close();
      await server.close();
    }
  });
});

describe('pure helpers', () => {
  it('swarmHashesOf: v1 as is, v2 truncated to 20 bytes (BEP 52)', () => {
    const v2 = `${'ab'.repeat(20)}${'cd'.repeat(12)}`;
    const hashes = swarmHashesOf({ infoHashV1: 'AA'.repeat(20), infoHashV2: v2 });
    expect(hashes.map((h) => [h.kind, h.hex, h.bytes.length])).toEqual([
      ['v1', 'aa'.repeat(20), 20],
      ['v2', 'ab'.repeat(20), 20],
    ]);
  });

  it('endpointKeyOf: scheme and host case and default ports do not matter; path and query do', () => {
    expect(endpointKeyOf('HTTP://Tracker.Example:80/scrape?k=1', 'http')).toBe(endpointKeyOf('http://tracker.example/scrape?k=1', 'http'));
    expect(endpointKeyOf('http://t.example/scrape?k=1', 'http')).not.toBe(endpointKeyOf('http://t.example/scrape?k=2', 'http'));
    expect(endpointKeyOf('http://t.example/a/scrape', 'http')).not.toBe(endpointKeyOf('http://t.example/b/scrape', 'http'));
    expect(endpointKeyOf('https://t.example/scrape', 'https')).not.toBe(endpointKeyOf('http://t.example/scrape', 'http'));
    // Never normalised: these are different bytes on the wire.
    expect(endpointKeyOf('http://t.example/%7Escrape', 'http')).not.toBe(endpointKeyOf('http://t.example/~scrape', 'http'));
    expect(endpointKeyOf('udp://t.example:6969', 'udp')).toBe(endpointKeyOf('udp://T.example:6969/announce', 'udp'));
  });
});

describe('RememberedTrackers: announce URLs parsed once', () => {
  const announces = [
    'http://tracker.example/announce',
    'https://Tracker.Example:443/announce.php?passkey=k&x=1',
    'http://tracker.example:80/announce?x=2/4',
    'http://tracker.example/a/announce#fragment',
    'udp://tracker.example:6969/announce',
    'udp://[2001:db8::1]:1337',
    'udp://tracker.example/announce',
    'ws://tracker.example',
    'wss://tracker.example:8443/path?q',
    'http://[2001:db8::2]/announce',
    'http://tracker.example/nothing-here',
    'magnet:?xt=urn:btih:00',
    'not a url',
    '  http://padded.example/announce  ',
  ];

  it('answers exactly what deriving afresh answers, first time and remembered', () => {
    const remembered = new RememberedTrackers();
    for (let round = 0; round < 2; round++) {
      for (const announce of announces) {
        expect(remembered.lookup(announce)).toEqual(announcedTrackerOf(announce));
      }
    }
    expect(remembered.size).toBe(announces.length);
    // The endpoint is derived from the scrape URL: the same key the cache uses.
    const udp = remembered.lookup('udp://[2001:db8::1]:1337');
    expect(udp.endpoint).toMatchObject({ host: '2001:db8::1', port: 1337, protocol: 'udp', key: endpointKeyOf('udp://[2001:db8::1]:1337', 'udp') });
  });

  it('hands out frozen entries: a caller cannot change what the next caller gets', () => {
    const remembered = new RememberedTrackers();
    const announce = 'http://tracker.example:8080/announce';
    const expected = announcedTrackerOf(announce);
    const first = remembered.lookup(announce);
    expect(first).toBe(remembered.lookup(announce));
    // ESM modules are strict: writing a frozen property throws.
    expect(() => {
      (first.target as { scrape: string | null }).scrape = 'http://evil.example/scrape';
    }).toThrow(TypeError);
    expect(() => {
      (first.endpoint as { host: string }).host = 'evil.example';
    }).toThrow(TypeError);
    expect(() => {
      (first as { endpoint: unknown }).endpoint = null;
    }).toThrow(TypeError);
    expect(remembered.lookup(announce)).toEqual(expected);
  });

  it(`holds at most its bound (default ${MAX_REMEMBERED_ANNOUNCE_URLS}), forgetting the oldest, and stays right after forgetting`, () => {
    const bound = 8;
    const remembered = new RememberedTrackers(bound);
    const urls = Array.from({ length: bound * 3 }, (_, i) => `udp://tracker${i}.example:${1000 + i}/announce`);
    for (const url of urls) {
      expect(remembered.lookup(url)).toEqual(announcedTrackerOf(url));
      expect(remembered.size).toBeLessThanOrEqual(bound);
    }
    expect(remembered.size).toBe(bound);
    // The first URL was forgotten: asking again derives it anew, still right, still bounded.
    const first = remembered.lookup(urls[0]!);
    expect(first).toEqual(announcedTrackerOf(urls[0]!));
    expect(remembered.size).toBe(bound);
    // The most recent ones are still the same objects (remembered, not derived again).
    const last = urls.at(-1)!;
    expect(remembered.lookup(last)).toBe(remembered.lookup(last));
  });

  it(`does not remember announce URLs over ${MAX_REMEMBERED_ANNOUNCE_URL_CHARS} characters`, () => {
    const remembered = new RememberedTrackers();
    const long = `http://tracker.example/announce?pad=${'x'.repeat(MAX_REMEMBERED_ANNOUNCE_URL_CHARS)}`;
    expect(remembered.lookup(long)).toEqual(announcedTrackerOf(long));
    expect(remembered.size).toBe(0);
    expect(new RememberedTrackers(0).lookup(announces[0]!)).toEqual(announcedTrackerOf(announces[0]!));
    expect(() => new RememberedTrackers(-1)).toThrow(RangeError);
  });
});
