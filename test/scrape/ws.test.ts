import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerscopeError } from '../../src/errors.js';
import { familyOfFailure, ScrapeError } from '../../src/scrape/errors.js';
import { type OutboundPolicy, SECURE_POLICY } from '../../src/scrape/guard.js';
import { scrapeUrlFor } from '../../src/scrape/url.js';
import { scrapeWebSocket, type WebSocketScrapeOptions } from '../../src/scrape/ws.js';
import {
  type RunningBittorrentTracker,
  startBittorrentTracker,
  startWebSocketServer,
  type TestWebSocketServer,
  type WebSocketPeer,
} from '../support/http-trackers.js';

const LOOPBACK_POLICY: OutboundPolicy = { allowPrivate: true };
const DEADLINE_MS = 4000;

function hashOf(label: string): Buffer {
  return createHash('sha1').update(label).digest();
}

function opts(extra: Partial<WebSocketScrapeOptions> = {}): WebSocketScrapeOptions {
  return { signal: AbortSignal.timeout(DEADLINE_MS), policy: LOOPBACK_POLICY, ...extra };
}

async function failureOf(promise: Promise<unknown>): Promise<TrackerscopeError> {
  try {
    await promise;
  } catch (err) {
    return err as TrackerscopeError;
  }
  throw new Error('expected the scrape to fail');
}

async function withWsServer(
  onMessage: (text: string, peer: WebSocketPeer) => void,
  fn: (server: TestWebSocketServer) => Promise<void>,
  serverOpts: { refuseHandshake?: boolean } = {},
): Promise<void> {
  const server = await startWebSocketServer(onMessage, serverOpts);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

describe('scrapeWebSocket against bittorrent-tracker (ws: true, loopback)', () => {
  let tracker: RunningBittorrentTracker;
  // Bytes above 0x7f make the latin1 "binary string" encoding matter.
  const busy = Buffer.from(`ff80c3a9${'00'.repeat(8)}${'7f'.repeat(8)}`, 'hex');
  const small = hashOf('small swarm');

  beforeAll(async () => {
    tracker = await startBittorrentTracker({ ws: true, intervalMs: 120_000 });
    // HTTP announces and WebSocket scrapes share the tracker's swarms.
    await tracker.announce(busy, { port: 9001, left: 0 });
    await tracker.announce(busy, { port: 9002, left: 10 });
    await tracker.announce(busy, { port: 9003, left: 10 });
    await tracker.announce(small, { port: 9004, left: 0 });
  });
  afterAll(() => tracker.close());

  it('reads counts for several hashes from one JSON scrape message', async () => {
    const url = `ws://127.0.0.1:${tracker.port}`;
    const target = scrapeUrlFor(url);
    expect(target).toEqual({ supported: true, protocol: 'ws', scrape: url });
    const result = await scrapeWebSocket(target.scrape!, [busy, small], opts());
    expect(result.counts.map((c) => [c.seeders, c.leechers, c.unknown])).toEqual([
      [1, 2, false],
      [1, 0, false],
    ]);
    expect(result.family).toBe(4);
    expect(result.minRequestInterval).toBe(120);
    expect(tracker.warnings).toEqual([]);
  });
});

describe('scrapeWebSocket: scripted WebSocket trackers', () => {
  const a = hashOf('a');
  const b = hashOf('b');
  const key = (hash: Buffer) => hash.toString('latin1');
  const scrapeReply = (files: Record<string, unknown>) => JSON.stringify({ action: 'scrape', files });

  it('sends {"action":"scrape","info_hash":[binary strings]} and reads unknown hashes as null', async () => {
    await withWsServer(
      (_text, peer) => peer.send(scrapeReply({ [key(a)]: { complete: 3, incomplete: 4, downloaded: 5 } })),
      async (server) => {
        const result = await scrapeWebSocket(server.wsOrigin, [a, b], opts());
        expect(JSON.parse(server.messages[0]!)).toEqual({ action: 'scrape', info_hash: [key(a), key(b)] });
        expect(result.counts).toEqual([
          { seeders: 3, leechers: 4, completed: 5, downloaders: null, unknown: false },
          { seeders: null, leechers: null, completed: null, downloaders: null, unknown: true },
        ]);
      },
    );
  });

  it('names the app and its version in the handshake (User-Agent)', async () => {
    const { name, version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    await withWsServer(
      (_text, peer) => peer.send(scrapeReply({})),
      async (server) => {
        const userAgents: (string | undefined)[] = [];
        server.server.on('upgrade', (req: { headers: Record<string, string | string[] | undefined> }) => {
          const header = req.headers['user-agent'];
          userAgents.push(Array.isArray(header) ? header[0] : header);
        });
        await scrapeWebSocket(server.wsOrigin, [a], opts());
        expect(userAgents).toEqual([`${name}/${version}`]);
      },
    );
  });

  it('skips messages that are not the scrape reply (offers, announces)', async () => {
    await withWsServer(
      (_text, peer) => {
        peer.send(JSON.stringify({ action: 'announce', interval: 120 }));
        peer.send(scrapeReply({ [key(a)]: { complete: 1, incomplete: 0, downloaded: 0 } }));
      },
      async (server) => {
        const result = await scrapeWebSocket(server.wsOrigin, [a], opts());
        expect(result.counts[0]?.seeders).toBe(1);
      },
    );
  });

  it('returns the warning message (cleaned like every tracker text), and null without one', async () => {
    await withWsServer(
      (_text, peer) =>
        peer.send(JSON.stringify({ action: 'scrape', files: { [key(a)]: { complete: 2 } }, 'warning message': 'slow\u001b[31m down\nplease' })),
      async (server) => {
        const result = await scrapeWebSocket(server.wsOrigin, [a], opts());
        expect(result.warning).toBe('slow [31m down please');
        expect(result.counts[0]?.seeders).toBe(2);
      },
    );
    await withWsServer(
      (_text, peer) => peer.send(JSON.stringify({ action: 'scrape', files: {}, 'warning message': 42 })),
      async (server) => {
        expect((await scrapeWebSocket(server.wsOrigin, [a], opts())).warning).toBeNull();
      },
    );
  });

  it("shows a failure reason as the tracker's words", async () => {
    await withWsServer(
      (_text, peer) => peer.send(JSON.stringify({ action: 'scrape', 'failure reason': 'invalid info_hash' })),
      async (server) => {
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts()));
        expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
        expect(err.message).toBe('tracker says: invalid info_hash');
        // The tracker answered over 127.0.0.1: the row shows IPv4, as for HTTP and UDP refusals.
        expect(err).toBeInstanceOf(ScrapeError);
        expect((err as ScrapeError).family).toBe(4);
        expect(familyOfFailure(err)).toBe(4);
      },
    );
  });

  const garbage: [string, string, RegExp][] = [
    ['not JSON', 'd5:filesdee', /not JSON/],
    ['a JSON array', '[1,2]', /not an object/],
    ['a reply without files', JSON.stringify({ action: 'scrape' }), /no "files"/],
    ['a negative count', scrapeReply({ [key(a)]: { complete: -2 } }), /"complete" is not a count/],
  ];
  for (const [what, message, pattern] of garbage) {
    it(`explains ${what} (SCRAPE_BAD_REPLY)`, async () => {
      await withWsServer(
        (_text, peer) => peer.send(message),
        async (server) => {
          const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts()));
          expect(err.code).toBe('SCRAPE_BAD_REPLY');
          expect(err.message).toMatch(pattern);
          expect(familyOfFailure(err)).toBe(4);
        },
      );
    });
  }

  it('cuts a tracker that never answers at the deadline', async () => {
    await withWsServer(
      () => undefined,
      async (server) => {
        const started = performance.now();
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts({ signal: AbortSignal.timeout(300) })));
        expect(err.code).toBe('SCRAPE_TIMEOUT');
        expect(performance.now() - started).toBeLessThan(1500);
      },
    );
  });

  it('drops a message larger than the cap instead of buffering it', async () => {
    const huge = scrapeReply({ [key(a)]: { complete: 1 }, padding: 'x'.repeat(3 * 1024 * 1024) });
    await withWsServer(
      (_text, peer) => peer.send(huge),
      async (server) => {
        const started = performance.now();
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts()));
        // undici cuts the connection at the frame header; it does not say why, so neither can we.
        expect(err.code).toBe('SCRAPE_CONNECT');
        expect(err.message).toMatch(/over 1048576 bytes/);
        expect(performance.now() - started).toBeLessThan(1500);
      },
    );
  });

  it('accepts a message under a raised cap and refuses it under a lowered one', async () => {
    const reply = scrapeReply({ [key(a)]: { complete: 2 }, padding: 'x'.repeat(4000) });
    await withWsServer(
      (_text, peer) => peer.send(reply),
      async (server) => {
        expect((await scrapeWebSocket(server.wsOrigin, [a], opts({ maxMessageBytes: 8000 }))).counts[0]?.seeders).toBe(2);
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts({ maxMessageBytes: 2000 })));
        expect(err.message).toMatch(/over 2000 bytes/);
      },
    );
  });

  it('reports a refused handshake', async () => {
    await withWsServer(
      () => undefined,
      async (server) => {
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts()));
        expect(err.code).toBe('SCRAPE_CONNECT');
        expect(err.message).toMatch(/handshake/);
        // No WebSocket answer came: no family is claimed for the row.
        expect(familyOfFailure(err)).toBeNull();
      },
      { refuseHandshake: true },
    );
  });

  it('reports a tracker that closes without answering', async () => {
    await withWsServer(
      (_text, peer) => peer.close(),
      async (server) => {
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts()));
        expect(err.code).toBe('SCRAPE_CONNECT');
        expect(familyOfFailure(err)).toBeNull();
      },
    );
  });

  it('goes through the guard: a loopback tracker is refused under the secure policy, nothing sent', async () => {
    await withWsServer(
      () => undefined,
      async (server) => {
        const err = await failureOf(scrapeWebSocket(server.wsOrigin, [a], opts({ policy: SECURE_POLICY })));
        expect(err.code).toBe('SCRAPE_BLOCKED');
        expect(server.connections()).toBe(0);
      },
    );
  });
});
