import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SCRAPE_PATH, MAX_API_BODY_BYTES, MAX_TORRENTS_PER_API_SCRAPE } from '../../src/web/routes/api.js';
import { infoHashesOf, scrapeReplyBytes, startHttpServer, type TestHttpServer } from '../support/http-trackers.js';
import { announcePeers, awkwardInfoHash, type BtTracker, startBtTracker, toHex } from '../support/trackers.js';
import { buildApp } from './support.js';

/**
 * POST /api/scrape through the real app (real magnet parser, real scraper) against a real
 * bittorrent-tracker and a scripted, request-counting HTTP tracker, both on loopback.
 */

const SHAPES = [
  { seeders: 2, leechers: 1, completed: 0 },
  { seeders: 4, leechers: 3, completed: 0 },
];
/** What the scripted tracker answers for every hash: distinct from anything bittorrent-tracker says. */
const SCRIPTED = { complete: 7, incomplete: 8, downloaded: 9 };

let tracker: BtTracker;
let counting: TestHttpServer;
const hashes = SHAPES.map((_, i) => awkwardInfoHash(4100 + i));
const hexes = hashes.map(toHex);

beforeAll(async () => {
  tracker = await startBtTracker();
  counting = await startHttpServer((req, res) => {
    const body = scrapeReplyBytes(infoHashesOf(req.url ?? '').map((hash) => ({ hash, ...SCRIPTED })));
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
    res.end(body);
  });
  for (const [i, shape] of SHAPES.entries()) await announcePeers(tracker.httpAnnounce, hashes[i]!, shape);
});

afterAll(async () => {
  await tracker?.stop();
  await counting?.close();
});

function magnet(hex: string, trackers: readonly string[]): string {
  return `magnet:?xt=urn:btih:${hex}${trackers.map((t) => `&tr=${encodeURIComponent(t)}`).join('')}`;
}

function postApi(app: Parameters<typeof request>[0], body: unknown) {
  return request(app).post(API_SCRAPE_PATH).set('Content-Type', 'application/json').send(JSON.stringify(body));
}

interface TrackerJson {
  announce: string;
  status: string;
  seeders: number | null;
  leechers: number | null;
  completed: number | null;
}

function trackerRow(entry: { trackers: TrackerJson[] }, announce: string): TrackerJson {
  const row = entry.trackers.find((t) => t.announce === announce);
  if (!row) throw new Error(`no row for ${announce}`);
  return row;
}

describe('POST /api/scrape', () => {
  it('scrapes every torrent, asks a shared tracker once with all hashes, and answers as the single-torrent JSON does', async () => {
    const { app } = buildApp();
    const scrapedBefore = counting.requests.length;
    const inputs = [magnet(hexes[0]!, [tracker.httpAnnounce, `${counting.origin}/announce`]), magnet(hexes[1]!, [tracker.udpAnnounce, `${counting.origin}/announce`])];
    const res = await postApi(app, { torrents: inputs }).expect(200).expect('Content-Type', /application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    const scrapes = counting.requests.slice(scrapedBefore);
    expect(scrapes).toHaveLength(1);
    expect(infoHashesOf(scrapes[0] ?? '').map(toHex).sort()).toEqual([...hexes].sort());

    const { results } = res.body as { results: ({ input: string; trackers: TrackerJson[]; torrent: { infoHash: string }; totals: unknown } & Record<string, unknown>)[] };
    expect(results.map((r) => r.input)).toEqual(inputs);
    results.forEach((entry, i) => {
      const shape = SHAPES[i]!;
      expect(entry.torrent.infoHash).toBe(hexes[i]);
      const bt = trackerRow(entry, i === 0 ? tracker.httpAnnounce : tracker.udpAnnounce);
      // bittorrent-tracker reports its current seeders as `downloaded`.
      expect(bt).toMatchObject({ status: 'ok', seeders: shape.seeders, leechers: shape.leechers, completed: shape.seeders });
      expect(trackerRow(entry, `${counting.origin}/announce`)).toMatchObject({ status: 'ok', seeders: 7, leechers: 8, completed: 9 });
    });

    // The single-torrent JSON for the same input: same torrent, trackers and totals (from the cache now).
    const single = await request(app).get('/scrape').query({ magnet: inputs[0] }).set('Accept', 'application/json').expect(200);
    const { input, ...fromApi } = results[0]!;
    expect(input).toBe(inputs[0]);
    expect(Object.keys(fromApi).sort()).toEqual(Object.keys(single.body as object).sort());
    expect(fromApi.torrent).toEqual(single.body.torrent);
    expect(fromApi.totals).toEqual(single.body.totals);
    const strip = (rows: TrackerJson[]) => rows.map(({ announce, status, seeders, leechers, completed }) => ({ announce, status, seeders, leechers, completed }));
    expect(strip(fromApi.trackers)).toEqual(strip(single.body.trackers as TrackerJson[]));
    expect(counting.requests.slice(scrapedBefore)).toHaveLength(1);
  });

  it('a bad input is an error entry beside the good ones; duplicates are folded; a bare info-hash works', async () => {
    const { app } = buildApp();
    const good = magnet(hexes[0]!, [tracker.httpAnnounce]);
    const res = await postApi(app, { torrents: [good, 'not a magnet', good, hexes[1]] }).expect(200);
    const { results } = res.body as { results: Record<string, unknown>[] };
    expect(results.map((r) => r.input)).toEqual([good, 'not a magnet', hexes[1]]);
    expect(results[0]).toHaveProperty('trackers');
    const bad = results[1] as { error: { code: string; message: string } };
    expect(bad.error.code).toMatch(/^MAGNET_/);
    expect(bad.error.message).toMatch(/^That is not a magnet link or info-hash we can read/);
    expect(results[1]).not.toHaveProperty('trackers');
    expect(results[2]).toMatchObject({ torrent: { infoHash: hexes[1] }, trackers: [] });
  });

  it.each([
    ['a text/plain body', (app: Parameters<typeof request>[0]) => request(app).post(API_SCRAPE_PATH).set('Content-Type', 'text/plain').send('{"torrents":[]}'), 415, 'API_NOT_JSON'],
    ['no body at all', (app: Parameters<typeof request>[0]) => request(app).post(API_SCRAPE_PATH), 415, 'API_NOT_JSON'],
    ['malformed JSON', (app: Parameters<typeof request>[0]) => request(app).post(API_SCRAPE_PATH).set('Content-Type', 'application/json').send('{"torrents": ['), 400, 'API_MALFORMED_JSON'],
    ['a list instead of an object', (app: Parameters<typeof request>[0]) => postApi(app, [hexes[0]]), 400, 'API_BAD_BODY'],
    ['torrents not a list', (app: Parameters<typeof request>[0]) => postApi(app, { torrents: hexes[0] }), 400, 'API_BAD_BODY'],
    ['a number in the list', (app: Parameters<typeof request>[0]) => postApi(app, { torrents: [hexes[0], 1] }), 400, 'API_BAD_BODY'],
    ['an empty list', (app: Parameters<typeof request>[0]) => postApi(app, { torrents: [] }), 400, 'API_NO_TORRENTS'],
    [
      'one torrent too many',
      (app: Parameters<typeof request>[0]) =>
        postApi(app, { torrents: Array.from({ length: MAX_TORRENTS_PER_API_SCRAPE + 1 }, (_, i) => toHex(awkwardInfoHash(5000 + i))) }),
      413,
      'API_TOO_MANY_TORRENTS',
    ],
    [
      'a body over the byte limit',
      (app: Parameters<typeof request>[0]) => postApi(app, { torrents: [hexes[0]], padding: 'x'.repeat(MAX_API_BODY_BYTES) }),
      413,
      'API_BODY_TOO_LARGE',
    ],
    [
      'a gzip body',
      (app: Parameters<typeof request>[0]) =>
        request(app)
          .post(API_SCRAPE_PATH)
          .set('Content-Type', 'application/json')
          .set('Content-Encoding', 'gzip')
          .send(gzipSync(JSON.stringify({ torrents: [hexes[0]] }))),
      415,
      'API_COMPRESSED',
    ],
  ])('%s is refused as a whole, as JSON whatever Accept says', async (_name, send, status, code) => {
    const { app } = buildApp();
    const res = await send(app).set('Accept', 'text/html').expect(status).expect('Content-Type', /application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    if (code === 'API_COMPRESSED') expect(res.headers['accept-encoding']).toBe('identity');
  });

  it('55 copies of one input are one torrent, under the limit', async () => {
    const { app } = buildApp();
    const res = await postApi(app, { torrents: Array.from({ length: MAX_TORRENTS_PER_API_SCRAPE + 5 }, () => hexes[0]) }).expect(200);
    expect(res.body.results).toHaveLength(1);
  });

  it('takes POST and OPTIONS only', async () => {
    const { app } = buildApp();
    const options = await request(app).options(API_SCRAPE_PATH).expect(204);
    expect(options.headers.allow).toBe('POST, OPTIONS');
    const get = await request(app).get(API_SCRAPE_PATH).expect(405).expect('Content-Type', /application\/json/);
    expect(get.headers.allow).toBe('POST, OPTIONS');
    expect(get.body.error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('shares the scrape rate limit: one unit per call, however many torrents it carries', async () => {
    const { app } = buildApp({ rateLimitMax: 2 });
    await postApi(app, { torrents: hexes }).expect(200);
    await request(app).get('/scrape').query({ magnet: hexes[0] }).set('Accept', 'application/json').expect(200);
    const refused = await postApi(app, { torrents: [hexes[0]] }).expect(429).expect('Content-Type', /application\/json/);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });
});
