import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'bittorrent-tracker';

/**
 * Real trackers on loopback for integration tests, and helpers that make a tracker know a swarm of
 * known shape (N seeders, M leechers, K completed) so every number a scrape returns is predictable.
 * See ../shared/notes/real-trackers.md (beside the repo) for the facts these rely on.
 */

const LOOPBACK_V4 = '127.0.0.1';
const LOOPBACK_V6 = '::1';
/** Longest wait for one announce to be answered (loopback: milliseconds in practice). */
const ANNOUNCE_TIMEOUT_MS = 5000;
/** Longest wait for a tracker to start accepting an info-hash, and the pause between tries. */
const ACCEPT_WAIT_MS = 5000;
const ACCEPT_POLL_MS = 50;
/** Bytes a leecher says it still needs (anything > 0 makes it a leecher). */
const LEECHER_LEFT = 1_000_000;
/** First port announced by test peers; each peer gets the next one (trackers key peers by ip:port). */
const PEER_PORT_BASE = 10_000;
const PEER_PORT_SPAN = 50_000;
/** Azureus-style client prefix of test peer ids (8 bytes + 12 digits = the 20 bytes BEP 3 asks). */
const PEER_ID_PREFIX = '-TS0001-';
const PEER_ID_DIGITS = 12;

// ---------------------------------------------------------------------------------------------
// bittorrent-tracker (npm, v10) in-process

export interface BtTracker {
  /** `http://127.0.0.1:PORT/announce` */
  httpAnnounce: string;
  /** `udp://127.0.0.1:PORT` (HTTP and UDP get different ports). */
  udpAnnounce: string;
  httpPort: number;
  udpPort: number;
  /** UDP port on ::1, or null when the machine has no IPv6 loopback. */
  udp6Port: number | null;
  /** Warnings the tracker emitted (bad requests it received), for assertions. */
  warnings: Error[];
  stop(): Promise<void>;
}

/**
 * Start bittorrent-tracker's Server (HTTP + UDP, no WebSocket, no stats page) on loopback only.
 * Note its swarm model: `downloaded` in scrapes is the current number of seeders (a lower bound it
 * admits in its source), so over HTTP and UDP its "completed" always equals its seeders.
 */
export async function startBtTracker(): Promise<BtTracker> {
  // Loaded on first use: most test files import this module for its helpers only.
  const { Server } = await import('bittorrent-tracker');
  const withV6 = await hasIPv6Loopback();
  const server = new Server({ http: true, udp: true, ws: false, stats: false });
  const warnings: Error[] = [];
  const errors: Error[] = [];
  server.on('warning', (err) => warnings.push(err));
  server.on('error', (err) => errors.push(err));
  const { http, udp4 } = server;
  if (!http || !udp4) throw new Error('bittorrent-tracker did not create its HTTP and UDP servers');
  let udp6 = server.udp6;
  if (!withV6 && udp6) {
    // Binding ::1 would fail on this machine: drop the IPv6 socket before listen() touches it.
    udp6.close();
    server.udp6 = null;
    udp6 = null;
  }
  const listening = [once(http, 'listening'), once(udp4, 'listening'), ...(udp6 ? [once(udp6, 'listening')] : [])];
  server.listen(0, { http: LOOPBACK_V4, udp: LOOPBACK_V4, udp6: LOOPBACK_V6 });
  try {
    await Promise.all(listening);
  } catch (err) {
    await closeBtServer(server);
    throw err;
  }
  if (errors.length > 0) {
    await closeBtServer(server);
    throw errors[0];
  }
  const httpPort = (http.address() as AddressInfo).port;
  const udpPort = udp4.address().port;
  return {
    httpAnnounce: `http://${LOOPBACK_V4}:${httpPort}/announce`,
    udpAnnounce: `udp://${LOOPBACK_V4}:${udpPort}`,
    httpPort,
    udpPort,
    udp6Port: udp6 ? udp6.address().port : null,
    warnings,
    stop: () => closeBtServer(server),
  };
}

function closeBtServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Whether tests that need the IPv6 loopback run, and the check those tests start with. */
export interface IPv6LoopbackGate {
  /** ::1 can be bound here. */
  available: boolean;
  /** False only when ::1 is missing and CI is not set: a developer's machine without IPv6 skips. */
  run: boolean;
  /** Throws when ::1 is missing: under CI an IPv6 test fails loudly instead of being skipped. */
  require(): void;
}

/**
 * Skip IPv6 tests where the machine has no ::1, except under CI (`process.env.CI`), where they run
 * and fail, so a CI image that lost IPv6 cannot silently drop them (the rule for system binaries).
 */
export async function ipv6LoopbackGate(
  probe: () => Promise<boolean> = hasIPv6Loopback,
  env: NodeJS.ProcessEnv = process.env,
): Promise<IPv6LoopbackGate> {
  const available = await probe();
  return {
    available,
    run: available || Boolean(env.CI),
    require: () => {
      if (!available) throw new Error('the IPv6 loopback (::1) is missing but CI is set: IPv6 tests must run under CI');
    },
  };
}

/** Whether a UDP socket can bind ::1 here (some containers have no IPv6 at all). */
export async function hasIPv6Loopback(): Promise<boolean> {
  const probe = createSocket({ type: 'udp6', ipv6Only: true });
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(0, LOOPBACK_V6, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((resolve) => {
      try {
        probe.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Announcing a swarm of known shape

export interface SwarmShape {
  seeders: number;
  leechers: number;
  /** `event=completed` announces; opentracker counts these as `downloaded`. */
  completed: number;
}

export type AnnounceEvent = 'started' | 'completed' | 'stopped';

export interface PeerAnnounce {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  port: number;
  left: number;
  event?: AnnounceEvent;
}

export interface TestPeer {
  peerId: Uint8Array;
  port: number;
}

let peersMade = 0;

/** A peer with a peer id and port no other test peer in this process has. */
export function newTestPeer(): TestPeer {
  const n = peersMade++;
  return {
    peerId: Buffer.from(PEER_ID_PREFIX + String(n).padStart(PEER_ID_DIGITS, '0'), 'latin1'),
    port: PEER_PORT_BASE + (n % PEER_PORT_SPAN),
  };
}

/** Every byte as %XX: `+` and friends are never read as text by a tracker (BEP 3). */
export function percentEncodeAll(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += `%${byte.toString(16).padStart(2, '0')}`;
  return out;
}

/** One raw HTTP announce; throws on a non-200 status or a `failure reason`. */
export async function announce(announceUrl: string, peer: PeerAnnounce): Promise<Buffer> {
  const query = [
    `info_hash=${percentEncodeAll(peer.infoHash)}`,
    `peer_id=${percentEncodeAll(peer.peerId)}`,
    `port=${peer.port}`,
    'uploaded=0',
    'downloaded=0',
    `left=${peer.left}`,
    'compact=1',
    'numwant=0',
    ...(peer.event ? [`event=${peer.event}`] : []),
  ].join('&');
  const body = await httpGet(announceUrl + (announceUrl.includes('?') ? '&' : '?') + query);
  if (body.includes('failure reason')) throw new Error(`tracker refused the announce: ${body.toString('latin1')}`);
  return body;
}

/**
 * Make the tracker at `announceUrl` know `shape` for `infoHash`:
 * - `min(completed, seeders)` peers start as leechers and then announce `completed` (left=0);
 * - the other seeders start with left=0;
 * - completions beyond the seeders are peers that start, complete and stop again;
 * - leechers start with left > 0.
 * Peers have distinct ids and ports across the whole test process.
 */
export async function announcePeers(announceUrl: string, infoHash: Uint8Array, shape: SwarmShape): Promise<void> {
  const send = (peer: TestPeer, left: number, event: AnnounceEvent) => announce(announceUrl, { infoHash, ...peer, left, event });
  for (let i = 0; i < shape.seeders; i++) {
    const peer = newTestPeer();
    if (i < shape.completed) {
      await send(peer, LEECHER_LEFT, 'started');
      await send(peer, 0, 'completed');
    } else {
      await send(peer, 0, 'started');
    }
  }
  for (let i = shape.seeders; i < shape.completed; i++) {
    const peer = newTestPeer();
    await send(peer, LEECHER_LEFT, 'started');
    await send(peer, 0, 'completed');
    await send(peer, 0, 'stopped');
  }
  for (let i = 0; i < shape.leechers; i++) await send(newTestPeer(), LEECHER_LEFT, 'started');
}

/**
 * Poll until the tracker accepts announces for `infoHash`. opentracker loads its whitelist in a
 * background thread, so its port can answer before the list is read; a `stopped` announce from a
 * peer it never saw is refused until then and changes nothing afterwards.
 */
export async function waitUntilAccepted(announceUrl: string, infoHash: Uint8Array, timeoutMs = ACCEPT_WAIT_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const probe = newTestPeer();
  for (;;) {
    try {
      await announce(announceUrl, { infoHash, ...probe, left: 0, event: 'stopped' });
      return;
    } catch (err) {
      if (performance.now() + ACCEPT_POLL_MS > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_POLL_MS));
    }
  }
}

/** GET over a fresh connection (no keep-alive, so trackers stop without waiting on idle sockets). */
export function httpGet(url: string, timeoutMs = ANNOUNCE_TIMEOUT_MS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`GET ${url} → HTTP ${res.statusCode}: ${body.toString('latin1').slice(0, 200)}`));
        else resolve(body);
      });
    });
    req.on('error', reject);
  });
}

/** URL-awkward bytes (NUL, `+`, `%`, `&`, `=`, space, invalid UTF-8, `?`, `#`) every test hash carries. */
const AWKWARD_BYTES = [0x00, 0x2b, 0x25, 0x26, 0x3d, 0x20, 0xff, 0x80, 0x3f, 0x23];

/**
 * A distinct 20-byte info-hash per `seed` (0–65535) full of bytes that URL encoders and text
 * decoders like to mangle, so a test passes only when hashes travel as raw bytes.
 */
export function awkwardInfoHash(seed: number): Uint8Array {
  const hash = new Uint8Array(20);
  hash[0] = (seed >> 8) & 0xff;
  hash[1] = seed & 0xff;
  hash.set(AWKWARD_BYTES, 2);
  for (let i = 2 + AWKWARD_BYTES.length; i < hash.length; i++) hash[i] = (seed * 37 + i * 11) & 0xff;
  return hash;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
