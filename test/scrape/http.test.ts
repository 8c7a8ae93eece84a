import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { gzipSync, deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode, isDict } from '../../src/bencode/index.js';
import type { TrackerscopeError } from '../../src/errors.js';
import type { OutboundPolicy } from '../../src/scrape/guard.js';
import { AddressLimiter } from '../../src/scrape/limiter.js';
import {
  DEFAULT_CLOSED_CONNECTION_RETRIES,
  DEFAULT_MAX_BODY_BYTES,
  GuardedAgent,
  type HttpScrapeOptions,
  MAX_HASHES_PER_HTTP_SCRAPE,
  parseScrapeReply,
  scrapeHttp,
} from '../../src/scrape/http.js';
import { percentEncodeBytes, scrapeUrlFor } from '../../src/scrape/url.js';
import {
  announceOverHttp,
  httpGet,
  infoHashesOf,
  replyWith,
  type RunningBittorrentTracker,
  scrapeReplyBytes,
  startBittorrentTracker,
  startHttpServer,
  type TestHttpServer,
} from '../support/http-trackers.js';
import { opentrackerAvailable, type RunningOpentracker, startOpentracker } from '../support/opentracker.js';
import { ipv6LoopbackGate } from '../support/trackers.js';

/** Loopback trackers are private addresses: the tests lift the refusal (the guard has its own tests). */
const LOOPBACK_POLICY: OutboundPolicy = { allowPrivate: true };
const DEADLINE_MS = 4000;
/** IPv6 tests skip without ::1 only outside CI; under CI they run and fail (see ipv6LoopbackGate). */
const v6 = await ipv6LoopbackGate();

/** `info_hash=…&info_hash=…` spelled out here, independently of the code under test: every byte as %XX. */
function infoHashQuery(hashes: readonly Uint8Array[]): string {
  return hashes.map((h) => `info_hash=${[...h].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')}`).join('&');
}

function hashOf(label: string): Buffer {
  return createHash('sha1').update(label).digest();
}

function opts(extra: Partial<HttpScrapeOptions> = {}): HttpScrapeOptions {
  return { signal: AbortSignal.timeout(DEADLINE_MS), policy: LOOPBACK_POLICY, ...extra };
}

/** The rejection of `promise`, which must reject. */
async function failureOf(promise: Promise<unknown>): Promise<TrackerscopeError> {
  try {
    await promise;
  } catch (err) {
    return err as TrackerscopeError;
  }
  throw new Error('expected the scrape to fail');
}

/** Run `fn` against a one-off scripted server. */
async function withServer<T>(handler: Parameters<typeof startHttpServer>[0], fn: (server: TestHttpServer) => Promise<T>): Promise<T> {
  const server = await startHttpServer(handler);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

describe('scrapeHttp against bittorrent-tracker (in-process, loopback)', () => {
  let tracker: RunningBittorrentTracker;
  const busy = hashOf('busy swarm');
  const leechy = hashOf('leechers only');
  const never = hashOf('never announced');

  beforeAll(async () => {
    tracker = await startBittorrentTracker({ intervalMs: 600_000 });
    await tracker.announce(busy, { port: 7001, left: 0 });
    await tracker.announce(busy, { port: 7002, left: 0 });
    await tracker.announce(busy, { port: 7003, left: 1000 });
    for (const port of [7101, 7102, 7103]) await tracker.announce(leechy, { port, left: 5 });
  });
  afterAll(() => tracker.close());

  // Its HTTP replies key `files` by the UTF-8 encoding of the hash's latin1 reading (node-bencode).
  it('reads seeders and leechers of peers the test announced', async () => {
    const result = await scrapeHttp(`${tracker.origin}/scrape`, [busy], opts());
    expect(result.counts).toEqual([
      // bittorrent-tracker reports `downloaded` as the current seeders (its own lower bound).
      { seeders: 2, leechers: 1, completed: 2, downloaders: null, unknown: false },
    ]);
    expect(result.family).toBe(4);
    expect(result.minRequestInterval).toBe(600);
  });

  // The wire fact behind filesOf()'s UTF-8 key reading, checked against the real package so the
  // README note can cite it: bittorrent-tracker's server.js keys `files` by the hash as a binary
  // string (`response.files[hex2bin(infoHash)]`), and bencode@4 writes string keys as UTF-8
  // (webtorrent/node-bencode#88), so each byte >= 0x80 arrives as two bytes.
  it('bittorrent-tracker@10 keys `files` by the UTF-8 of the hash read as latin1, and scrapeHttp reads that key', async () => {
    const highBytes = Buffer.from(`ff80c3a900${'7f'.repeat(13)}e9c2`, 'hex');
    await tracker.announce(highBytes, { port: 7201, left: 0 });
    await tracker.announce(highBytes, { port: 7202, left: 9 });
    const raw = Buffer.from(await httpGet(`${tracker.origin}/scrape?info_hash=${percentEncodeBytes(highBytes)}`), 'latin1');
    const reply = decode(raw);
    const files = isDict(reply) ? reply.get('files') : undefined;
    if (!isDict(files)) throw new Error(`not a scrape reply: ${raw.toString('latin1')}`);
    const keys = [...files.keys()].map((key) => Buffer.from(key, 'latin1'));
    const utf8OfLatin1 = Buffer.from(highBytes.toString('latin1'), 'utf8');
    expect(keys).toEqual([utf8OfLatin1]);
    expect(utf8OfLatin1.length).toBe(20 + 6); // six bytes >= 0x80, each written as two
    const result = await scrapeHttp(`${tracker.origin}/scrape`, [highBytes], opts());
    expect(result.counts).toEqual([{ seeders: 1, leechers: 1, completed: 1, downloaders: null, unknown: false }]);
  });

  it('scrapes several hashes in one request, answers in request order', async () => {
    const result = await scrapeHttp(`${tracker.origin}/scrape`, [leechy, busy, never], opts());
    expect(result.counts.map((c) => [c.seeders, c.leechers])).toEqual([
      [0, 3],
      [2, 1],
      // bittorrent-tracker answers zeros for a swarm it has never seen (it does not omit it).
      [0, 0],
    ]);
    expect(tracker.warnings).toEqual([]);
  });
});

describe.skipIf(!opentrackerAvailable())('scrapeHttp against opentracker (Debian, whitelist mode)', () => {
  let tracker: RunningOpentracker;
  const tracked = hashOf('opentracker swarm');
  const quiet = hashOf('whitelisted, no peers');

  beforeAll(async () => {
    tracker = await startOpentracker({ whitelist: [tracked.toString('hex'), quiet.toString('hex')] });
    await announceOverHttp(tracker.announceUrl, tracked, { port: 8001, left: 0 });
    await announceOverHttp(tracker.announceUrl, tracked, { port: 8002, left: 700 });
    await announceOverHttp(tracker.announceUrl, tracked, { port: 8003, left: 700 });
    await announceOverHttp(tracker.announceUrl, tracked, { port: 8003, left: 0, event: 'completed' });
  });
  afterAll(() => tracker?.stop());

  it('gives seeders, leechers and completed from a real tracker', async () => {
    const target = scrapeUrlFor(tracker.announceUrl);
    expect(target.scrape).toBe(`http://127.0.0.1:${tracker.httpPort}/scrape`);
    const result = await scrapeHttp(target.scrape!, [tracked], opts());
    expect(result.counts).toEqual([{ seeders: 2, leechers: 1, completed: 1, downloaders: null, unknown: false }]);
  });

  it('says "unknown" (numbers null, never 0) for a hash the tracker does not list', async () => {
    const result = await scrapeHttp(`http://127.0.0.1:${tracker.httpPort}/scrape`, [quiet, tracked], opts());
    expect(result.counts[0]).toEqual({ seeders: null, leechers: null, completed: null, downloaders: null, unknown: true });
    expect(result.counts[1]?.seeders).toBe(2);
  });
});

describe('parseScrapeReply (pure)', () => {
  const binary = Buffer.from(`ff00e9807f${'11'.repeat(15)}`, 'hex');
  const other = hashOf('other');
  const stats = (complete: number) => new Map([['complete', complete], ['incomplete', 0], ['downloaded', 0]]);

  it('reads `files` keyed the node-bencode way (the hash as latin1 text written as UTF-8)', () => {
    const utf8Key = Buffer.from(binary.toString('latin1'), 'utf8');
    expect(utf8Key.length).toBeGreaterThan(20);
    const body = encode(new Map([['files', new Map([[utf8Key.toString('latin1'), stats(5)]])]]));
    expect(parseScrapeReply(body, '', [binary]).counts[0]).toMatchObject({ seeders: 5, unknown: false });
  });

  it('prefers a raw 20-byte key over a UTF-8 one for the same hash', () => {
    const utf8Key = Buffer.from(binary.toString('latin1'), 'utf8').toString('latin1');
    const files = new Map([
      [utf8Key, stats(1)],
      [binary.toString('latin1'), stats(2)],
    ]);
    const body = encode(new Map([['files', files]]));
    expect(parseScrapeReply(body, '', [binary, other]).counts.map((c) => c.seeders)).toEqual([2, null]);
  });

  it('tolerates a trailing newline after the bencoded reply', () => {
    const body = Buffer.concat([scrapeReplyBytes([{ hash: other, complete: 1, incomplete: 2, downloaded: 3 }]), Buffer.from('\r\n')]);
    expect(parseScrapeReply(body, 'text/plain', [other]).counts[0]).toMatchObject({ seeders: 1, leechers: 2, completed: 3 });
  });

  it('cuts and cleans tracker text', () => {
    const body = encode({ 'failure reason': `bad\u0000\nthing ${'x'.repeat(2000)}` });
    expect(() => parseScrapeReply(body, '', [other])).toThrow(/^tracker says: bad thing x+…$/);
  });
});

describe('scrapeHttp: what a well-behaved reply can carry', () => {
  const a = hashOf('a');
  const b = hashOf('b');

  it('keeps a passkey query and appends every info_hash, percent-encoding each byte', async () => {
    const reply = scrapeReplyBytes([{ hash: a, complete: 4, incomplete: 5, downloaded: 6, downloaders: 2 }]);
    await withServer(replyWith(reply), async (server) => {
      const target = scrapeUrlFor(`${server.origin}/tracker/announce.php?passkey=s3cr3t`);
      const result = await scrapeHttp(target.scrape!, [a, b], opts());
      expect(server.requests).toHaveLength(1);
      const seen = server.requests[0]!;
      expect(seen.startsWith('/tracker/scrape.php?passkey=s3cr3t&info_hash=%')).toBe(true);
      expect(infoHashesOf(seen)).toEqual([a, b]);
      expect(result.counts).toEqual([
        { seeders: 4, leechers: 5, completed: 6, downloaders: 2, unknown: false },
        { seeders: null, leechers: null, completed: null, downloaders: null, unknown: true },
      ]);
    });
  });

  it("sends the scrape URL's own path and query, encoding only what a request line cannot carry", async () => {
    const hashes = [a, b];
    // [scrape URL path as written, request target before the info_hash parameters]
    const shapes: [string, string][] = [
      ['/scrape', '/scrape?'],
      ['/scrape?', '/scrape?'],
      ['/scrape.php?passkey=k&', '/scrape.php?passkey=k&'],
      ['/t/scrape.php?passkey=a b&x=%7e', '/t/scrape.php?passkey=a%20b&x=%7e&'],
      ['/x/../scrape?q', '/x/../scrape?q&'],
      ['/scrap%C3%A9/é', '/scrap%C3%A9/%C3%A9?'],
      ['/scrape#fragment', '/scrape?'],
      ['/s\u0001c\u007f/scrape?k=\u00ff', '/s%01c%7F/scrape?k=%C3%BF&'],
    ];
    await withServer(replyWith(scrapeReplyBytes([{ hash: a, complete: 1, incomplete: 0, downloaded: 0 }])), async (server) => {
      for (const [shape, sent] of shapes) {
        const result = await scrapeHttp(`${server.origin}${shape}`, hashes, opts());
        expect(result.counts[0]?.seeders, shape).toBe(1);
        expect(server.requests.at(-1), shape).toBe(sent + infoHashQuery(hashes));
        expect(infoHashesOf(server.requests.at(-1)!), shape).toEqual(hashes);
      }
    });
  });

  it('sends a plain User-Agent naming the app and its version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    await withServer(replyWith(scrapeReplyBytes([])), async (server) => {
      await scrapeHttp(`${server.origin}/scrape`, [a], opts());
      expect(server.userAgents).toEqual([`trackerscope/${version}`]);
    });
  });

  it('returns the warning message and flags.min_request_interval', async () => {
    const reply = scrapeReplyBytes([{ hash: a, complete: 1, incomplete: 0, downloaded: 9 }], {
      'warning message': Buffer.from('slow down, please'),
      flags: new Map([['min_request_interval', 1800]]),
    });
    await withServer(replyWith(reply), async (server) => {
      const result = await scrapeHttp(`${server.origin}/scrape`, [a], opts());
      expect(result.warning).toBe('slow down, please');
      expect(result.minRequestInterval).toBe(1800);
      expect(result.counts[0]?.completed).toBe(9);
    });
  });

  it('inflates a gzip body, with or without the header, and a deflate one', async () => {
    const reply = scrapeReplyBytes([{ hash: a, complete: 3, incomplete: 2, downloaded: 1 }]);
    const variants = [
      replyWith(gzipSync(reply), { 'content-encoding': 'gzip' }),
      replyWith(gzipSync(reply)),
      replyWith(deflateSync(reply), { 'content-encoding': 'deflate' }),
    ];
    for (const handler of variants) {
      await withServer(handler, async (server) => {
        const result = await scrapeHttp(`${server.origin}/scrape`, [a], opts());
        expect(result.counts[0]).toMatchObject({ seeders: 3, leechers: 2, completed: 1 });
      });
    }
  });

  it('follows up to 3 redirects, each through the guarded dispatcher', async () => {
    const reply = scrapeReplyBytes([{ hash: a, complete: 7, incomplete: 0, downloaded: 0 }]);
    const hops = (req: Parameters<Parameters<typeof startHttpServer>[0]>[0], res: Parameters<Parameters<typeof startHttpServer>[0]>[1]) => {
      const step = Number(/\/r(\d)/.exec(req.url ?? '')?.[1] ?? -1);
      if (step >= 1 && step <= 3) {
        res.writeHead(302, { location: step === 3 ? `/final?${req.url?.split('?')[1]}` : `/r${step + 1}?${req.url?.split('?')[1]}` });
        res.end();
      } else replyWith(reply)(req, res);
    };
    await withServer(hops, async (server) => {
      const result = await scrapeHttp(`${server.origin}/r1`, [a], opts());
      expect(result.counts[0]?.seeders).toBe(7);
      expect(server.requests.map((target) => target.split('?')[0])).toEqual(['/r1', '/r2', '/r3', '/final']);
    });
  });
});

describe('scrapeHttp: misbehaving trackers', () => {
  const a = hashOf('victim');

  it('cuts a tracker that never answers at the deadline (SCRAPE_TIMEOUT)', async () => {
    await withServer(
      () => undefined,
      async (server) => {
        const started = performance.now();
        const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts({ signal: AbortSignal.timeout(300) })));
        expect(err.code).toBe('SCRAPE_TIMEOUT');
        expect(performance.now() - started).toBeLessThan(1500);
      },
    );
  });

  it('cuts a tracker that drips bytes forever at the deadline, though each chunk is on time', async () => {
    const timers = new Set<NodeJS.Timeout>();
    const drip: Parameters<typeof startHttpServer>[0] = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('d5:files');
      const timer = setInterval(() => res.write('d'), 40);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
    };
    await withServer(drip, async (server) => {
      const started = performance.now();
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts({ signal: AbortSignal.timeout(500) })));
      expect(err.code).toBe('SCRAPE_TIMEOUT');
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(1500);
    });
    for (const timer of timers) clearInterval(timer);
  });

  it('times out on missing headers with its own headers timeout', async () => {
    await withServer(
      () => undefined,
      async (server) => {
        const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts({ headersTimeoutMs: 200 })));
        expect(err.code).toBe('SCRAPE_TIMEOUT');
      },
    );
  });

  it('stops reading a 50 MB reply at the 1 MiB cap (SCRAPE_TOO_LARGE)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const huge: Parameters<typeof startHttpServer>[0] = (_req, res) => {
      res.writeHead(200); // chunked: no length to refuse up front, the byte count must do it
      let sent = 0;
      const pump = () => {
        while (sent < 50 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    };
    await withServer(huge, async (server) => {
      const started = performance.now();
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_TOO_LARGE');
      expect(performance.now() - started).toBeLessThan(2000);
    });
  });

  it('refuses a declared Content-Length above the cap before reading it', async () => {
    const liar: Parameters<typeof startHttpServer>[0] = (_req, res) => {
      res.writeHead(200, { 'content-length': String(50 * 1024 * 1024) });
      res.write('d5:files');
    };
    await withServer(liar, async (server) => {
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_TOO_LARGE');
    });
  });

  it('never inflates a gzip bomb past the cap, announced or sniffed', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(DEFAULT_MAX_BODY_BYTES);
    const headerSets: Record<string, string>[] = [{ 'content-encoding': 'gzip' }, {}];
    for (const headers of headerSets) {
      await withServer(replyWith(bomb, headers), async (server) => {
        const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
        expect(err.code).toBe('SCRAPE_TOO_LARGE');
        expect(err.message).toMatch(/inflates/);
      });
    }
  });

  const badReplies: [string, Uint8Array | string, Record<string, string>, RegExp][] = [
    ['an HTML page', '<!DOCTYPE html><html><body>Cloudflare says hi</body></html>', { 'content-type': 'text/html' }, /HTML page/],
    ['HTML without a content type', '\n  <html><body>nope</body></html>', {}, /HTML page/],
    ['JSON', '{"files":{}}', { 'content-type': 'application/json' }, /JSON/],
    ['an empty body', '', {}, /empty/],
    ['plain text', 'tracker offline', {}, /not bencoded/],
    ['truncated bencode', 'd5:filesd20:abc', {}, /not bencoded/],
    ['a `host`-keyed dictionary', encode({ host: '127.0.0.1', port: 80 }), {}, /no "files" dictionary \(keys: "host", "port"\)/],
    ['`files` keyed by host names', encode({ files: { 'tracker.example': { complete: 1 } } }), {}, /keyed by "tracker.example"/],
    ['`files` keyed by 40-hex', encode({ files: { [a.toString('hex')]: { complete: 1 } } }), {}, /keyed by "[0-9a-f]{40}", not by 20-byte/],
    ['an announce reply', encode({ interval: 1800, peers: Buffer.alloc(0) }), {}, /announce reply/],
    ['a bencoded list', encode(['files']), {}, /bencoded list, not a dictionary/],
    ['a negative count', scrapeReplyBytes([{ hash: a, complete: -1, incomplete: 0, downloaded: 0 }]), {}, /"complete" is not a count/],
  ];
  for (const [what, body, headers, message] of badReplies) {
    it(`explains a reply that is ${what} (SCRAPE_BAD_REPLY)`, async () => {
      await withServer(replyWith(body, headers), async (server) => {
        const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
        expect(err.code).toBe('SCRAPE_BAD_REPLY');
        expect(err.message).toMatch(message);
      });
    });
  }

  for (const key of ['failure reason', 'failure_reason']) {
    it(`shows \`${key}\` as the tracker's own words (SCRAPE_TRACKER_FAILURE)`, async () => {
      await withServer(replyWith(encode({ [key]: 'Requested download is not authorized' })), async (server) => {
        const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
        expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
        expect(err.message).toBe('tracker says: Requested download is not authorized');
      });
    });
  }

  it('reads a failure reason sent with an error status', async () => {
    await withServer(replyWith(encode({ 'failure reason': 'passkey invalid' }), {}, 403), async (server) => {
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
      expect(err.message).toContain('passkey invalid');
    });
  });

  it('names the status of a non-2xx reply (SCRAPE_HTTP_STATUS)', async () => {
    await withServer(replyWith('<h1>Not Found</h1>', { 'content-type': 'text/html' }, 404), async (server) => {
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_HTTP_STATUS');
      expect(err.message).toContain('404');
    });
  });

  it('gives up after 3 redirects (SCRAPE_REDIRECT)', async () => {
    const loop: Parameters<typeof startHttpServer>[0] = (req, res) => {
      const step = Number(/\/r(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(301, { location: `/r${step + 1}` });
      res.end();
    };
    await withServer(loop, async (server) => {
      const err = await failureOf(scrapeHttp(`${server.origin}/r0`, [a], opts()));
      expect(err.code).toBe('SCRAPE_REDIRECT');
      expect(server.requests).toEqual([`/r0?info_hash=${[...a].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')}`, '/r1', '/r2', '/r3']);
    });
  });

  for (const location of ['file:///etc/passwd', 'ftp://127.0.0.1/scrape', 'javascript:alert(1)', 'udp://127.0.0.1:6969']) {
    it(`refuses a redirect to ${location.split(':')[0]}: (SCRAPE_REDIRECT)`, async () => {
      await withServer(replyWith('', { location }, 302), async (server) => {
        const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
        expect(err.code).toBe('SCRAPE_REDIRECT');
        expect(server.requests).toHaveLength(1);
      });
    });
  }

  it('reports a refused connection (SCRAPE_CONNECT)', async () => {
    const server = await startHttpServer(() => undefined);
    const closedPort = server.port;
    await server.close();
    const err = await failureOf(scrapeHttp(`http://127.0.0.1:${closedPort}/scrape`, [a], opts()));
    expect(err.code).toBe('SCRAPE_CONNECT');
  });

  it.skipIf(!v6.run)('reports IPv6 when the tracker answered over IPv6', async () => {
    v6.require();
    const server = await startHttpServer(replyWith(scrapeReplyBytes([{ hash: a, complete: 6, incomplete: 0, downloaded: 0 }])), '::1');
    try {
      const result = await scrapeHttp(`${server.origin}/scrape`, [a], opts());
      expect(result).toMatchObject({ family: 6, counts: [{ seeders: 6 }] });
    } finally {
      await server.close();
    }
  });

  it('resolves a host name through the guarded lookup', async () => {
    await withServer(replyWith(scrapeReplyBytes([{ hash: a, complete: 8, incomplete: 0, downloaded: 0 }])), async (server) => {
      // /etc/hosts maps localhost to loopback; allowPrivate lets it through the lookup filter.
      const result = await scrapeHttp(`http://localhost:${server.port}/scrape`, [a], opts());
      expect(result).toMatchObject({ family: 4, counts: [{ seeders: 8 }] });
    });
  });

  it('reuses a shared GuardedAgent and reports the answering family', async () => {
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY });
    try {
      await withServer(replyWith(scrapeReplyBytes([{ hash: a, complete: 1, incomplete: 1, downloaded: 1 }])), async (server) => {
        const scrapes = 5;
        for (let i = 0; i < scrapes; i++) {
          const result = await scrapeHttp(`${server.origin}/scrape`, [a], opts({ dispatcher: agent }));
          expect(result.family).toBe(4);
        }
        // undici may open a second socket while the first is being released; never one per scrape.
        expect(server.connections()).toBeLessThan(scrapes);
      });
    } finally {
      await agent.destroy();
    }
  });
});

describe('scrapeHttp: the request target is the URL as written, never normalised', () => {
  const a = hashOf('raw target');
  const reply = () => replyWith(scrapeReplyBytes([{ hash: a, complete: 2, incomplete: 0, downloaded: 0 }]));

  // [announce URL path, what the tracker must receive before `info_hash`] — each of these a WHATWG
  // URL serialiser would rewrite (dot segments resolved, `%2e%2e` read as `..`, `\` as `/`, quotes encoded).
  const cases: [string, string][] = [
    ['/a/announce/../announce', '/a/announce/../scrape?'],
    ['/a/%2e%2e/announce', '/a/%2e%2e/scrape?'],
    ['/a\\b/announce', '/a\\b/scrape?'],
    ['/announce?x=\'1\'&y="2"', '/scrape?x=\'1\'&y="2"&'],
    ['/./announce.php?k=%2F..', '/./scrape.php?k=%2F..&'],
  ];
  for (const [announcePath, sent] of cases) {
    it(`sends ${JSON.stringify(sent)} for the announce path ${JSON.stringify(announcePath)}`, async () => {
      await withServer(reply(), async (server) => {
        const target = scrapeUrlFor(`${server.origin}${announcePath}`);
        expect(target.supported).toBe(true);
        const result = await scrapeHttp(target.scrape!, [a], opts());
        expect(result.counts[0]?.seeders).toBe(2);
        expect(server.requests).toEqual([sent + infoHashQuery([a])]);
      });
    });
  }

  it('follows a redirect to the Location path as written; a relative one is merged (RFC 3986 §5.2)', async () => {
    const hops: Parameters<typeof startHttpServer>[0] = (req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/first')) {
        res.writeHead(302, { location: `http://127.0.0.1:${(req.socket.localPort ?? 0).toString()}/b/../second?x='1'` });
        res.end();
      } else if (url.startsWith('/b/../second')) {
        res.writeHead(302, { location: '/c/./%2e%2e/third?q="2"' });
        res.end();
      } else if (url.startsWith('/c/./%2e%2e/third')) {
        res.writeHead(302, { location: 'd/../fourth?k' });
        res.end();
      } else reply()(req, res);
    };
    await withServer(hops, async (server) => {
      const result = await scrapeHttp(`${server.origin}/first`, [a], opts());
      expect(result.counts[0]?.seeders).toBe(2);
      // The relative `d/../fourth` is resolved against the base as WHATWG parsers do (where `%2e%2e` is `..`).
      expect(server.requests.slice(1)).toEqual(["/b/../second?x='1'", '/c/./%2e%2e/third?q="2"', '/fourth?k']);
    });
  });

  it('refuses a redirect whose host part parsers read differently (a "\\" in it): nothing more is sent', async () => {
    await withServer(replyWith('', { location: 'http://127.0.0.1\\@tracker.example/scrape' }, 302), async (server) => {
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_REDIRECT');
      expect(server.requests).toHaveLength(1);
    });
  });

  it('refuses a scrape URL whose host part parsers read differently, before any traffic (SCRAPE_BAD_URL)', async () => {
    await withServer(reply(), async (server) => {
      const err = await failureOf(scrapeHttp(`http://127.0.0.1:${server.port}\\@tracker.example/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_BAD_URL');
      expect(server.connections()).toBe(0);
    });
  });
});

describe('scrapeHttp: many info-hashes', () => {
  it(`asks for at most ${MAX_HASHES_PER_HTTP_SCRAPE} hashes a request, the requests in parallel, the counts in request order`, async () => {
    const total = 2 * MAX_HASHES_PER_HTTP_SCRAPE + 20;
    const hashes = Array.from({ length: total }, (_, i) => hashOf(`batch ${i}`));
    const indexOf = new Map(hashes.map((h, i) => [h.toString('hex'), i]));
    const expectedRequests = Math.ceil(total / MAX_HASHES_PER_HTTP_SCRAPE);
    // Answer only once every request has arrived: requests sent one after another would never be answered.
    const waiting: (() => void)[] = [];
    const handler: Parameters<typeof startHttpServer>[0] = (req, res) => {
      const asked = infoHashesOf(req.url ?? '');
      const body = scrapeReplyBytes(asked.map((hash) => ({ hash, complete: indexOf.get(hash.toString('hex')) ?? -1, incomplete: 1, downloaded: 0 })));
      waiting.push(() => replyWith(body)(req, res));
      if (waiting.length === expectedRequests) for (const answer of waiting.splice(0)) answer();
    };
    await withServer(handler, async (server) => {
      const result = await scrapeHttp(`${server.origin}/scrape?passkey=k`, hashes, opts({ signal: AbortSignal.timeout(2000) }));
      expect(result.counts.map((c) => c.seeders)).toEqual(hashes.map((_, i) => i));
      expect(server.requests).toHaveLength(expectedRequests);
      const sizes = server.requests.map((target) => infoHashesOf(target).length).sort((x, y) => y - x);
      expect(sizes).toEqual([MAX_HASHES_PER_HTTP_SCRAPE, MAX_HASHES_PER_HTTP_SCRAPE, 20]);
      expect(server.requests.every((target) => target.startsWith('/scrape?passkey=k&info_hash='))).toBe(true);
      expect(server.requests.flatMap((target) => infoHashesOf(target)).map((h) => h.toString('hex')).sort()).toEqual(
        hashes.map((h) => h.toString('hex')).sort(),
      );
    });
  });

  it('fails as a whole with the first failing request, by the one deadline', async () => {
    const hashes = Array.from({ length: MAX_HASHES_PER_HTTP_SCRAPE + 1 }, (_, i) => hashOf(`split ${i}`));
    const handler: Parameters<typeof startHttpServer>[0] = (req, res) => {
      // The short request (one hash) is refused; the full one is never answered.
      if (infoHashesOf(req.url ?? '').length === 1) replyWith(encode({ 'failure reason': 'too many' }))(req, res);
    };
    await withServer(handler, async (server) => {
      const started = performance.now();
      const err = await failureOf(scrapeHttp(`${server.origin}/scrape`, hashes, opts({ signal: AbortSignal.timeout(3000) })));
      expect(err.code).toBe('SCRAPE_TRACKER_FAILURE');
      expect(performance.now() - started).toBeLessThan(2000);
      expect(server.requests).toHaveLength(2);
    });
  });

  it('merges the replies: distinct warnings, the longest min_request_interval', async () => {
    const hashes = Array.from({ length: MAX_HASHES_PER_HTTP_SCRAPE + 1 }, (_, i) => hashOf(`merge ${i}`));
    const handler: Parameters<typeof startHttpServer>[0] = (req, res) => {
      const small = infoHashesOf(req.url ?? '').length === 1;
      replyWith(
        scrapeReplyBytes([], {
          'warning message': Buffer.from(small ? 'second' : 'first'),
          flags: new Map([['min_request_interval', small ? 900 : 60]]),
        }),
      )(req, res);
    };
    await withServer(handler, async (server) => {
      const result = await scrapeHttp(`${server.origin}/scrape`, hashes, opts());
      expect(result.counts).toHaveLength(hashes.length);
      expect(result.counts.every((c) => c.unknown)).toBe(true);
      expect(result.warning).toBe('first; second');
      expect(result.minRequestInterval).toBe(900);
    });
  });
});

/**
 * A tracker that, like opentracker, is done with a connection once it has answered on it — but,
 * to make the race deterministic, closes it only when the next request arrives on it: that request
 * finds its connection closed (`end`: FIN, undici's "other side closed") or reset (`reset`: RST,
 * ECONNRESET). `repliesPerConnection: 0` closes under every request, even a connection's first.
 */
async function startClosingTracker(reply: Buffer, closeWith: 'end' | 'reset', repliesPerConnection = 1) {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = '';
    let answered = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        pending = pending.slice(end + 4);
        requests++;
        if (answered < repliesPerConnection) {
          answered++;
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${reply.length}\r\n\r\n`);
          socket.write(reply);
        } else if (closeWith === 'reset') {
          socket.resetAndDestroy();
          return;
        } else {
          socket.end();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * undici counts a connection busy until it has finished with the reply a moment after the body
 * ends; a request sent at once would get a second connection. Well within the agent's keep-alive idle time.
 */
const CONNECTION_SETTLE_MS = 50;
const connectionIdle = () => new Promise((resolve) => setTimeout(resolve, CONNECTION_SETTLE_MS));

describe('scrapeHttp: a kept-alive connection the tracker closed under the next request', () => {
  const a = hashOf('closed under');
  const reply = scrapeReplyBytes([{ hash: a, complete: 4, incomplete: 1, downloaded: 9 }]);

  for (const closeWith of ['end', 'reset'] as const) {
    it(`sends the scrape again on a new connection (${closeWith === 'end' ? 'FIN' : 'RST'})`, async () => {
      const tracker = await startClosingTracker(reply, closeWith);
      const agent = new GuardedAgent({ policy: LOOPBACK_POLICY });
      try {
        const first = await scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent }));
        expect(first.counts[0]?.seeders).toBe(4);
        expect(tracker.connections()).toBe(1);
        await connectionIdle();
        const second = await scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent }));
        expect(second.counts[0]).toMatchObject({ seeders: 4, leechers: 1, completed: 9 });
        // The second scrape went out on the first connection, found it closed, and was sent again on a second.
        expect(tracker.requests()).toBe(3);
        expect(tracker.connections()).toBe(2);
      } finally {
        await agent.destroy();
        await tracker.close();
      }
    });
  }

  it('fails as the closed connection it is without the retry (closedConnectionRetries: 0)', async () => {
    const tracker = await startClosingTracker(reply, 'end');
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY });
    try {
      await scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent, closedConnectionRetries: 0 }));
      await connectionIdle();
      const err = await failureOf(scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent, closedConnectionRetries: 0 })));
      expect(err.code).toBe('SCRAPE_CONNECT');
      expect(tracker.requests()).toBe(2);
    } finally {
      await agent.destroy();
      await tracker.close();
    }
  });

  it(`gives up after ${DEFAULT_CLOSED_CONNECTION_RETRIES} retry when the tracker closes under every request`, async () => {
    const tracker = await startClosingTracker(reply, 'reset', 0);
    try {
      const err = await failureOf(scrapeHttp(`${tracker.origin}/scrape`, [a], opts()));
      expect(err.code).toBe('SCRAPE_CONNECT');
      expect(tracker.requests()).toBe(1 + DEFAULT_CLOSED_CONNECTION_RETRIES);
    } finally {
      await tracker.close();
    }
  });

  it('never sends again once part of the reply has arrived (headers cut short, then closed)', async () => {
    let requests = 0;
    const cut = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        if (!chunk.toString('latin1').startsWith('GET ')) return;
        requests++;
        socket.end('HTTP/1.1 200 OK\r\nContent-Ty');
      });
    });
    await new Promise<void>((resolve) => cut.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = cut.address() as AddressInfo;
      const err = await failureOf(scrapeHttp(`http://127.0.0.1:${port}/scrape`, [a], opts()));
      expect(err.code).not.toBe('SCRAPE_TIMEOUT');
      expect(requests).toBe(1);
    } finally {
      await new Promise<void>((resolve) => cut.close(() => resolve()));
    }
  });

  it('refuses a retry count that is not a non-negative integer', async () => {
    await expect(scrapeHttp('http://127.0.0.1:9/scrape', [a], opts({ closedConnectionRetries: -1 }))).rejects.toThrow(RangeError);
  });
});

/**
 * A tracker the way opentracker behaves: every reply on a connection of its own, HTTP/1.1 without
 * `Connection: close`, and the connection closed right after the reply. `bodyLength: 'none'` sends
 * no Content-Length (the body then ends where the connection does).
 */
async function startReplyThenCloseTracker(reply: Buffer, opts: { bodyLength?: 'declared' | 'none'; delayMs?: number } = {}) {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      if (!pending.includes('\r\n\r\n')) return;
      pending = '';
      requests++;
      const length = opts.bodyLength === 'none' ? '' : `Content-Length: ${reply.length}\r\n`;
      setTimeout(() => {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${length}\r\n`);
        socket.end(reply);
      }, opts.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('GuardedAgent: one connection pool per origin, kept across requests', () => {
  const a = hashOf('kept pool');
  const reply = scrapeReplyBytes([{ hash: a, complete: 6, incomplete: 2, downloaded: 1 }]);
  const SCRAPES = 24;

  it('a tracker that closes after every reply (as opentracker does): every scrape answers, through one kept pool', async () => {
    const tracker = await startReplyThenCloseTracker(reply);
    const addressLimiter = new AddressLimiter();
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY, addressLimiter });
    try {
      for (let i = 0; i < SCRAPES; i++) {
        const result = await scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent }));
        expect(result.counts[0]).toMatchObject({ seeders: 6, leechers: 2, completed: 1 });
        expect(agent.pooledOrigins).toBe(1);
      }
      // One connection per reply, whatever the resends the closing race may have cost.
      expect(tracker.connections()).toBe(tracker.requests());
      expect(tracker.requests()).toBeGreaterThanOrEqual(SCRAPES);
      expect(tracker.requests()).toBeLessThanOrEqual(SCRAPES * (1 + DEFAULT_CLOSED_CONNECTION_RETRIES));
    } finally {
      await agent.destroy();
      await tracker.close();
    }
    expect(addressLimiter.activeFor('127.0.0.1')).toBe(0);
  });

  it('the same, many at once: every scrape answers and the per-address bound holds', async () => {
    const tracker = await startReplyThenCloseTracker(reply, { delayMs: 5 });
    const addressLimiter = new AddressLimiter();
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY, addressLimiter });
    try {
      const results = await Promise.all(
        Array.from({ length: SCRAPES }, () => scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent }))),
      );
      expect(results.map((r) => r.counts[0]?.seeders)).toEqual(results.map(() => 6));
      // Our count, not the tracker's: the tracker closes first and reaps its socket only after our
      // close reached it, by when this process may already have opened the next connection.
      expect(addressLimiter.peakPerAddress).toBe(addressLimiter.maxPerAddress);
      expect(agent.pooledOrigins).toBe(1);
    } finally {
      await agent.destroy();
      await tracker.close();
    }
  });

  it('reads a reply without Content-Length to the end of a connection the tracker then closes', async () => {
    const tracker = await startReplyThenCloseTracker(reply, { bodyLength: 'none' });
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY });
    try {
      for (let i = 0; i < 3; i++) {
        const result = await scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent }));
        expect(result.counts[0]).toMatchObject({ seeders: 6, leechers: 2, completed: 1 });
      }
    } finally {
      await agent.destroy();
      await tracker.close();
    }
  });

  it('keeps at most maxPooledOrigins pools, forgetting the least recently used; a forgotten origin gets a new one', async () => {
    const trackers = await Promise.all([1, 2, 3].map(() => startReplyThenCloseTracker(reply)));
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY, maxPooledOrigins: 2 });
    try {
      for (const tracker of trackers) {
        const result = await scrapeHttp(`${tracker.origin}/scrape`, [a], opts({ dispatcher: agent }));
        expect(result.counts[0]?.seeders).toBe(6);
      }
      expect(agent.pooledOrigins).toBe(2);
      const again = await scrapeHttp(`${trackers[0]!.origin}/scrape`, [a], opts({ dispatcher: agent }));
      expect(again.counts[0]?.seeders).toBe(6);
      expect(agent.pooledOrigins).toBe(2);
    } finally {
      await agent.destroy();
      await Promise.all(trackers.map((t) => t.close()));
    }
    expect(() => new GuardedAgent({ policy: LOOPBACK_POLICY, maxPooledOrigins: 0 })).toThrow(RangeError);
  });

  it('close() lets a scrape in flight finish, then refuses new ones; destroy() ends one at once', async () => {
    const slow = await startReplyThenCloseTracker(reply, { delayMs: 200 });
    const silent = await startHttpServer(() => undefined);
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY });
    try {
      const inFlight = scrapeHttp(`${slow.origin}/scrape`, [a], opts({ dispatcher: agent }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const closing = agent.close();
      expect(agent.closed).toBe(true);
      const refused = await failureOf(scrapeHttp(`${slow.origin}/scrape`, [a], opts({ dispatcher: agent })));
      expect(refused.code).toBe('SCRAPE_CONNECT');
      expect((await inFlight).counts[0]?.seeders).toBe(6);
      await closing;
      expect(agent.destroyed).toBe(true);
      expect(slow.requests()).toBe(1);

      const other = new GuardedAgent({ policy: LOOPBACK_POLICY });
      const hanging = failureOf(scrapeHttp(`${silent.origin}/scrape`, [a], opts({ dispatcher: other })));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      await other.destroy();
      const err = await hanging;
      expect(err.code).toBe('SCRAPE_CONNECT');
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS / 2);
    } finally {
      await slow.close();
      await silent.close();
    }
  });

  it('destroy() after close() still ends a scrape in flight, also on a pool the LRU already let go', async () => {
    const silent = await startHttpServer(() => undefined);
    const forgotten = await startHttpServer(() => undefined);
    const fresh = await startReplyThenCloseTracker(reply);
    const agent = new GuardedAgent({ policy: LOOPBACK_POLICY, maxPooledOrigins: 1 });
    try {
      const hangingOnEvicted = failureOf(scrapeHttp(`${forgotten.origin}/scrape`, [a], opts({ dispatcher: agent })));
      await new Promise((resolve) => setTimeout(resolve, 50));
      // A second origin evicts the first origin's pool, whose request is still waiting.
      expect((await scrapeHttp(`${fresh.origin}/scrape`, [a], opts({ dispatcher: agent }))).counts[0]?.seeders).toBe(6);
      const hanging = failureOf(scrapeHttp(`${silent.origin}/scrape`, [a], opts({ dispatcher: agent })));
      await new Promise((resolve) => setTimeout(resolve, 50));
      void agent.close();
      const started = performance.now();
      await agent.destroy();
      const [onEvicted, onClosing] = await Promise.all([hangingOnEvicted, hanging]);
      expect(onEvicted.code).toBe('SCRAPE_CONNECT');
      expect(onClosing.code).toBe('SCRAPE_CONNECT');
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS / 2);
    } finally {
      await silent.close();
      await forgotten.close();
      await fresh.close();
    }
  });

  it('follows a redirect whose body is larger than the cap (its body is not needed)', async () => {
    await withServer(replyWith(reply), async (target) => {
      const big = Buffer.alloc(4096, 0x61);
      await withServer(replyWith(big, { location: `${target.origin}/scrape` }, 302), async (redirector) => {
        const result = await scrapeHttp(`${redirector.origin}/scrape`, [a], opts({ maxBodyBytes: 1024 }));
        expect(result.counts[0]?.seeders).toBe(6);
      });
    });
  });
});
