import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'bittorrent-tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeCache } from '../../src/scrape/cache.js';
import { MAX_HASHES_PER_HTTP_SCRAPE } from '../../src/scrape/http.js';
import { RequestLimiter } from '../../src/scrape/limiter.js';
import { scrapeAll, scrapeMany } from '../../src/scrape/scraper.js';
import type { TrackerStat } from '../../src/scrape/types.js';
import { MAX_HASHES_PER_SCRAPE as MAX_HASHES_PER_UDP_SCRAPE } from '../../src/scrape/udp-packets.js';
import type { Torrent } from '../../src/torrent/index.js';
import { parseMagnet } from '../../src/torrent/index.js';
import { infoHashesOf, startWebSocketServer } from '../support/http-trackers.js';
import { announcePeers, awkwardInfoHash, toHex } from '../support/trackers.js';

const LOOPBACK = '127.0.0.1';
const LOOPBACK_POLICY = { allowPrivate: true };
/** BEP 15: the action field of a request sits after the 8-byte connection id; 2 is scrape. */
const BEP15_ACTION_OFFSET = 8;
const BEP15_ACTION_SCRAPE = 2;
/** BEP 15: a scrape request is a 16-byte header followed by 20 bytes per info-hash. */
const BEP15_SCRAPE_HEADER_BYTES = 16;
const INFO_HASH_BYTES = 20;

/**
 * bittorrent-tracker on loopback (HTTP + UDP v4), with every scrape request it receives recorded:
 * the hashes of each HTTP scrape and of each UDP scrape packet, as hex.
 */
interface CountingTracker {
  httpAnnounce: string;
  udpAnnounce: string;
  origin: string;
  httpScrapes: string[][];
  udpScrapes: string[][];
  stop(): Promise<void>;
}

async function startCountingTracker(): Promise<CountingTracker> {
  const { Server: TrackerServer } = await import('bittorrent-tracker');
  const server: Server = new TrackerServer({ http: true, udp: true, ws: false, stats: false });
  const { http, udp4 } = server;
  if (!http || !udp4) throw new Error('bittorrent-tracker did not create its HTTP and UDP servers');
  // Only the IPv4 loopback is used here; ::1 may not exist on the machine.
  server.udp6?.close();
  server.udp6 = null;
  const httpScrapes: string[][] = [];
  const udpScrapes: string[][] = [];
  http.on('request', (req) => {
    const target = req.url ?? '';
    if (target.startsWith('/scrape')) httpScrapes.push(infoHashesOf(target).map(toHex));
  });
  udp4.on('message', (msg: Buffer) => {
    if (msg.length < BEP15_SCRAPE_HEADER_BYTES || msg.readUInt32BE(BEP15_ACTION_OFFSET) !== BEP15_ACTION_SCRAPE) return;
    const hashes: string[] = [];
    for (let at = BEP15_SCRAPE_HEADER_BYTES; at + INFO_HASH_BYTES <= msg.length; at += INFO_HASH_BYTES) {
      hashes.push(msg.subarray(at, at + INFO_HASH_BYTES).toString('hex'));
    }
    udpScrapes.push(hashes);
  });
  const listening = [once(http, 'listening'), once(udp4, 'listening')];
  server.listen(0, { http: LOOPBACK, udp: LOOPBACK });
  await Promise.all(listening);
  const httpPort = (http.address() as AddressInfo).port;
  const udpPort = udp4.address().port;
  return {
    httpAnnounce: `http://${LOOPBACK}:${httpPort}/announce`,
    udpAnnounce: `udp://${LOOPBACK}:${udpPort}`,
    origin: `http://${LOOPBACK}:${httpPort}`,
    httpScrapes,
    udpScrapes,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function magnetTorrent(v1Hex: string, trackers: readonly string[]): Torrent {
  const parts = [`xt=urn:btih:${v1Hex}`, ...trackers.map((tracker) => `tr=${encodeURIComponent(tracker)}`)];
  return parseMagnet(`magnet:?${parts.join('&')}`);
}

function rowFor(rows: readonly TrackerStat[], announce: string): TrackerStat {
  const row = rows.find((r) => r.announce === announce);
  if (!row) throw new Error(`no row for ${announce} in ${JSON.stringify(rows.map((r) => r.announce))}`);
  return row;
}

function numbers(row: TrackerStat) {
  return { status: row.status, seeders: row.seeders, leechers: row.leechers, completed: row.completed };
}

const SHAPES = [
  { seeders: 1, leechers: 2, completed: 1 },
  { seeders: 3, leechers: 0, completed: 3 },
  { seeders: 2, leechers: 5, completed: 2 },
];

describe('scrapeMany against bittorrent-tracker on loopback', () => {
  let tracker: CountingTracker;
  const hashes = SHAPES.map((_, i) => awkwardInfoHash(700 + i));
  const hexes = hashes.map(toHex);

  beforeAll(async () => {
    tracker = await startCountingTracker();
    for (const [i, shape] of SHAPES.entries()) await announcePeers(tracker.httpAnnounce, hashes[i]!, shape);
  });
  afterAll(async () => {
    await tracker?.stop();
  });

  function resetCounts(): void {
    tracker.httpScrapes.length = 0;
    tracker.udpScrapes.length = 0;
  }

  it('asks a shared HTTP tracker once, with every torrent’s hash in the one request', async () => {
    resetCounts();
    const torrents = hexes.map((hex) => magnetTorrent(hex, [tracker.httpAnnounce]));
    const results = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(tracker.httpScrapes).toHaveLength(1);
    expect([...(tracker.httpScrapes[0] ?? [])].sort()).toEqual([...hexes].sort());
    expect(tracker.udpScrapes).toHaveLength(0);
    expect(results).toHaveLength(3);
    results.forEach((rows, i) => {
      // bittorrent-tracker reports its current seeders as `downloaded` (see test/support/trackers.ts).
      const shape = SHAPES[i]!;
      expect(rows).toHaveLength(1);
      expect(numbers(rowFor(rows, tracker.httpAnnounce))).toEqual({ status: 'ok', seeders: shape.seeders, leechers: shape.leechers, completed: shape.seeders });
      expect(rows[0]?.infoHash).toBe(hexes[i]);
    });
  });

  it('asks a shared UDP tracker with one scrape packet carrying every hash', async () => {
    resetCounts();
    const torrents = hexes.map((hex) => magnetTorrent(hex, [tracker.udpAnnounce]));
    const results = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(tracker.udpScrapes).toHaveLength(1);
    expect([...(tracker.udpScrapes[0] ?? [])].sort()).toEqual([...hexes].sort());
    expect(tracker.httpScrapes).toHaveLength(0);
    results.forEach((rows, i) => {
      const shape = SHAPES[i]!;
      expect(numbers(rowFor(rows, tracker.udpAnnounce))).toEqual({ status: 'ok', seeders: shape.seeders, leechers: shape.leechers, completed: shape.seeders });
      expect(rowFor(rows, tracker.udpAnnounce).protocol).toBe('udp');
    });
  });

  it('rows keep each torrent’s own order and trackers; a tracker only one torrent lists is asked for its hash alone', async () => {
    resetCounts();
    const torrents = [
      magnetTorrent(hexes[0]!, [tracker.udpAnnounce, tracker.httpAnnounce]),
      magnetTorrent(hexes[1]!, [tracker.httpAnnounce]),
    ];
    const [first, second] = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(first?.map((r) => r.announce)).toEqual([tracker.udpAnnounce, tracker.httpAnnounce]);
    expect(second?.map((r) => r.announce)).toEqual([tracker.httpAnnounce]);
    expect(tracker.httpScrapes.map((h) => [...h].sort())).toEqual([[hexes[0], hexes[1]].sort()]);
    expect(tracker.udpScrapes).toEqual([[hexes[0]]]);
    expect(first?.every((r) => r.status === 'ok')).toBe(true);
    expect(second?.[0]?.seeders).toBe(SHAPES[1]?.seeders);
  });

  it('the distinct-endpoint cap counts the whole call: endpoints beyond it are skipped, not asked', async () => {
    resetCounts();
    const extra = `${tracker.httpAnnounce}?second=1`;
    const torrents = [magnetTorrent(hexes[0]!, [tracker.httpAnnounce, tracker.udpAnnounce]), magnetTorrent(hexes[1]!, [tracker.httpAnnounce, extra])];
    const [first, second] = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter(), maxTrackers: 2 });
    expect(first?.map((r) => r.status)).toEqual(['ok', 'ok']);
    // The shared endpoint was already chosen; the new one would be the call's third.
    expect(rowFor(second ?? [], tracker.httpAnnounce).status).toBe('ok');
    const skipped = rowFor(second ?? [], extra);
    expect(skipped.status).toBe('skipped');
    expect(skipped.error).toMatch(/not contacted/);
    expect(tracker.httpScrapes).toHaveLength(1);
    expect(tracker.udpScrapes).toHaveLength(1);
  });

  it('splits the hashes of one endpoint into requests of the protocol’s size', async () => {
    resetCounts();
    const count = Math.max(MAX_HASHES_PER_HTTP_SCRAPE, MAX_HASHES_PER_UDP_SCRAPE) + 1;
    const many = Array.from({ length: count }, (_, i) => magnetTorrent(toHex(awkwardInfoHash(2000 + i)), [tracker.httpAnnounce, tracker.udpAnnounce]));
    const results = await scrapeMany(many, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(results).toHaveLength(count);
    expect(tracker.httpScrapes.map((h) => h.length).sort((a, b) => b - a)).toEqual([MAX_HASHES_PER_HTTP_SCRAPE, count - MAX_HASHES_PER_HTTP_SCRAPE]);
    expect(tracker.httpScrapes.flat()).toHaveLength(count);
    expect(tracker.udpScrapes.flat()).toHaveLength(count);
    expect(tracker.udpScrapes.every((packet) => packet.length <= MAX_HASHES_PER_UDP_SCRAPE)).toBe(true);
    expect(tracker.udpScrapes).toHaveLength(Math.ceil(count / MAX_HASHES_PER_UDP_SCRAPE));
    // Unknown to the tracker, yet answered: every row has an outcome.
    expect(results.flat().every((r) => r.status === 'ok')).toBe(true);
  });

  it('the same torrent twice is one hash in the request and the same figures in both lists', async () => {
    resetCounts();
    const torrent = magnetTorrent(hexes[2]!, [tracker.httpAnnounce]);
    const [a, b] = await scrapeMany([torrent, torrent], { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
    expect(tracker.httpScrapes).toEqual([[hexes[2]]]);
    expect(numbers(a?.[0] as TrackerStat)).toEqual(numbers(b?.[0] as TrackerStat));
    expect(a?.[0]?.seeders).toBe(SHAPES[2]?.seeders);
  });

  it('shares the cache with scrapeAll: answers cached per endpoint and hash are not asked again', async () => {
    resetCounts();
    const cache = new ScrapeCache();
    const limiter = new RequestLimiter();
    const single = await scrapeAll(magnetTorrent(hexes[0]!, [tracker.httpAnnounce]), { policy: LOOPBACK_POLICY, cache, limiter });
    expect(single[0]?.status).toBe('ok');
    const torrents = hexes.map((hex) => magnetTorrent(hex, [tracker.httpAnnounce]));
    const results = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, cache, limiter });
    // The second request carries only the two hashes the cache did not have.
    expect(tracker.httpScrapes.map((h) => [...h].sort())).toEqual([[hexes[0]], [hexes[1], hexes[2]].sort()]);
    expect(results[0]?.[0]?.cached).toBe(true);
    expect(results[1]?.[0]?.cached).toBe(false);
    const again = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, cache, limiter });
    expect(tracker.httpScrapes).toHaveLength(2);
    expect(again.map((rows) => rows[0]?.cached)).toEqual([true, true, true]);
    expect(again.map((rows) => rows[0]?.seeders)).toEqual(SHAPES.map((s) => s.seeders));
  });

  it('an empty list is an empty answer, with no traffic', async () => {
    resetCounts();
    expect(await scrapeMany([], { policy: LOOPBACK_POLICY })).toEqual([]);
    expect(tracker.httpScrapes).toHaveLength(0);
  });

  it('asks a shared WebSocket tracker with one scrape message carrying every hash', async () => {
    const ws = await startWebSocketServer((text, peer) => {
      const { info_hash: asked } = JSON.parse(text) as { info_hash: string[] };
      // A distinct figure per hash: its position in the message.
      const files = Object.fromEntries(asked.map((key, i) => [key, { complete: 10 + i, incomplete: 20 + i, downloaded: 30 + i }]));
      peer.send(JSON.stringify({ action: 'scrape', files }));
    });
    try {
      const torrents = hexes.map((hex) => magnetTorrent(hex, [ws.wsOrigin]));
      const results = await scrapeMany(torrents, { policy: LOOPBACK_POLICY, limiter: new RequestLimiter() });
      expect(ws.messages).toHaveLength(1);
      const asked = (JSON.parse(ws.messages[0] ?? '{}') as { info_hash: string[] }).info_hash.map((key) => Buffer.from(key, 'latin1').toString('hex'));
      expect([...asked].sort()).toEqual([...hexes].sort());
      results.forEach((rows, i) => {
        const position = asked.indexOf(hexes[i]!);
        expect(numbers(rowFor(rows, ws.wsOrigin))).toEqual({ status: 'ok', seeders: 10 + position, leechers: 20 + position, completed: 30 + position });
      });
    } finally {
      await ws.close();
    }
  });
});
