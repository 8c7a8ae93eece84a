import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import { announcePeers, type BtTracker, ipv6LoopbackGate, startBtTracker } from '../support/trackers.js';
import { uploadLimits } from '../../src/web/upload.js';
import { buildApp, makeTorrent, PNG_BYTES, type TestTorrent, ZIP_BYTES } from './support.js';

/**
 * Every route and every bad input of issue #4, through the real app (real torrent parser, real
 * scraper) against a real bittorrent-tracker on loopback.
 */

const JSON_ACCEPT = 'application/json';
/** IPv6 tests skip without ::1 only outside CI; under CI they run and fail (see ipv6LoopbackGate). */
const v6 = await ipv6LoopbackGate();
const SWARM = { seeders: 3, leechers: 2, completed: 0 };
/** bittorrent-tracker reports its current seeders as `downloaded` (see test/support/trackers.ts). */
const EXPECTED = { seeders: 3, leechers: 2, completed: 3 };

let tracker: BtTracker;
let torrent: TestTorrent;
const { app } = buildApp();

beforeAll(async () => {
  tracker = await startBtTracker();
  torrent = makeTorrent({
    name: 'Ubuntu test image.iso',
    announceList: [[tracker.httpAnnounce], [tracker.udpAnnounce, 'http://127.0.0.1:9/no-scrape-here']],
    comment: 'made for the web tests',
    createdBy: 'trackerscope tests',
    creationDate: 1_700_000_000,
    urlList: ['https://example.org/seed/'],
  });
  await announcePeers(tracker.httpAnnounce, torrent.infoHashBytes, SWARM);
});

afterAll(async () => {
  await tracker?.stop();
});

function upload(bytes: Uint8Array, filename = 'file.torrent', accept = 'text/html') {
  return request(app).post('/scrape').set('Accept', accept).attach('torrent', Buffer.from(bytes), filename);
}

describe('GET /', () => {
  it('serves the upload form that works without JavaScript', async () => {
    const res = await request(app).get('/').expect(200).expect('Content-Type', /text\/html/);
    expect(res.text).toMatch(/<form[^>]+method="post"[^>]+action="\/scrape"[^>]+enctype="multipart\/form-data"/);
    expect(res.text).toMatch(/<input type="file"[^>]+name="torrent"[^>]+accept="\.torrent/);
    expect(res.text).toMatch(/<input[^>]+name="magnet"/);
    expect(res.text).toContain('<button class="button primary" type="submit">');
    expect(res.text).toContain('drop it anywhere on this page');
    expect(res.text).toContain('10.0 MiB');
    // Says what the server will not contact, but only when that is true.
    expect(res.text).not.toContain('never contacted');
    const secure = await request(buildApp({ allowPrivateTrackers: false }).app).get('/').expect(200);
    expect(secure.text).toContain('Trackers on private or local networks are never contacted.');
  });

  it('has no inline script, inline style or event-handler attribute (CSP forbids them)', async () => {
    const res = await request(app).get('/').expect(200);
    expect(res.text).toMatch(/<script src="\/static\/app\.js" defer><\/script>/);
    expect(res.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(res.text).not.toMatch(/\sstyle="/);
    expect(res.text).not.toMatch(/\son[a-z]+="/);
  });

  it('serves the stylesheet, the script and the icon from public/', async () => {
    await request(app).get('/static/style.css').expect(200).expect('Content-Type', /text\/css/);
    await request(app).get('/static/app.js').expect(200).expect('Content-Type', /javascript/);
    await request(app).get('/static/favicon.svg').expect(200).expect('Content-Type', /image\/svg\+xml/);
  });
});

describe('GET /healthz', () => {
  it('answers ok, uncached', async () => {
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('request log', () => {
  it("writes one line per request with our own request id, also sent as X-Request-Id, never the client's", async () => {
    const { app: logged, logs } = buildApp({}, { captureLogs: true });
    const health = await request(logged).get('/healthz?probe=1').set('X-Request-Id', 'client-chosen').expect(200);
    const id = health.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const missing = await request(logged).get('/nope').expect(404);
    expect(missing.headers['x-request-id']).not.toBe(id);
    const lines = logs.lines.filter((l) => l.req !== undefined && l.res !== undefined);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'GET /healthz?[redacted] 200',
        req: { id, method: 'GET', url: '/healthz?[redacted]', remoteAddress: expect.stringMatching(/127\.0\.0\.1/) },
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      }),
      expect.objectContaining({ level: 40, msg: 'GET /nope 404', req: expect.objectContaining({ id: missing.headers['x-request-id'] }) }),
    ]);
    expect(logs.text()).not.toContain('client-chosen');
  });
});

describe('unknown addresses', () => {
  it('404 as a page and as JSON', async () => {
    const page = await request(app).get('/nope').expect(404);
    expect(page.text).toContain('There is no page at this address');
    const json = await request(app).get('/nope').set('Accept', JSON_ACCEPT).expect(404);
    expect(json.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('no page') } });
  });
});

describe('POST /scrape with a .torrent file', () => {
  it('renders the result page with the tracker table and totals', async () => {
    const res = await upload(torrent.bytes).expect(200).expect('Content-Type', /text\/html/);
    const html = res.text;
    expect(html).toContain('Ubuntu test image.iso');
    expect(html).toContain(torrent.infoHash);
    expect(html).toContain(`href="magnet:?xt=urn:btih:${torrent.infoHash}`);
    expect(html).toContain('made for the web tests');
    expect(html).toContain('trackerscope tests');
    expect(html).toContain('2023-11-14 22:13:20 UTC');
    expect(html).toContain('href="https://example.org/seed/"');
    expect(html).toContain('Trackers overlap');
    expect(html).toContain('not added up');

    const rows = [...html.matchAll(/<tr class="row-([a-z]+)">([\s\S]*?)<\/tr>/g)];
    expect(rows).toHaveLength(3);
    const cells = (row: string) => [...row.matchAll(/<td class="num count-cell[^"]*"[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
    const [http, udp, unsupported] = rows;
    expect(http?.[1]).toBe('ok');
    expect(http?.[2]).toContain('HTTP');
    expect(cells(http?.[2] ?? '')).toEqual(['3', '2', '3']);
    expect(udp?.[1]).toBe('ok');
    expect(udp?.[2]).toContain('UDP');
    expect(cells(udp?.[2] ?? '')).toEqual(['3', '2', '3']);
    expect(unsupported?.[1]).toBe('unsupported');
    expect(unsupported?.[2]).toContain('No scrape');
    expect(cells(unsupported?.[2] ?? '')).toEqual(['—', '—', '—']);
    // Which family answered, in words: both trackers are on 127.0.0.1; the unasked one has no tag.
    const familyTag = (row: string) => /<span class="family" title="([^"]*)">([\s\S]*?)<\/span><\/span>/.exec(row);
    for (const row of [http, udp]) {
      expect(familyTag(row?.[2] ?? '')?.slice(1)).toEqual([
        'The tracker answered over IPv4',
        '<span class="visually-hidden">answered over </span>IPv4',
      ]);
    }
    expect(unsupported?.[2]).not.toContain('class="family"');

    expect(html).toMatch(/id="total-seeders">3</);
    expect(html).toMatch(/id="total-leechers">2</);
    expect(html).toMatch(/id="total-completed">3</);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers the JSON contract exactly with Accept: application/json', async () => {
    const res = await upload(torrent.bytes, 'file.torrent', JSON_ACCEPT).expect(200).expect('Content-Type', /json/);
    const body = res.body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['torrent', 'totals', 'trackers']);
    expect(body.torrent).toEqual({
      name: 'Ubuntu test image.iso',
      infoHash: torrent.infoHash,
      infoHashV2: null,
      totalSize: 520,
      pieceLength: 16384,
      pieceCount: 1,
      private: false,
      comment: 'made for the web tests',
      createdBy: 'trackerscope tests',
      creationDate: '2023-11-14T22:13:20.000Z',
      files: [{ path: 'Ubuntu test image.iso', size: 520 }],
      webSeeds: ['https://example.org/seed/'],
      trackers: [[tracker.httpAnnounce], [tracker.udpAnnounce, 'http://127.0.0.1:9/no-scrape-here']],
    });
    const rows = body.trackers as Record<string, unknown>[];
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        [
          'announce',
          'answeredAt',
          'cached',
          'completed',
          'error',
          'infoHash',
          'leechers',
          'family',
          'ms',
          'protocol',
          'scrape',
          'seeders',
          'status',
          'tier',
          'warning',
        ].sort(),
      );
    }
    expect(rows[0]).toMatchObject({
      announce: tracker.httpAnnounce,
      scrape: tracker.httpAnnounce.replace('/announce', '/scrape'),
      tier: 0,
      protocol: 'http',
      infoHash: torrent.infoHash,
      status: 'ok',
      ...EXPECTED,
      error: null,
      family: 4,
    });
    expect(rows[1]).toMatchObject({ announce: tracker.udpAnnounce, tier: 1, protocol: 'udp', status: 'ok', ...EXPECTED, family: 4 });
    // Unknown numbers are null, never 0.
    expect(rows[2]).toMatchObject({
      announce: 'http://127.0.0.1:9/no-scrape-here',
      scrape: null,
      tier: 1,
      status: 'unsupported',
      seeders: null,
      leechers: null,
      completed: null,
      // Not asked: no address family.
      family: null,
    });
    expect(body.totals).toEqual(EXPECTED);
  });

  it.skipIf(!v6.run)('says which family answered: a real tracker on ::1 gives family 6 and an "IPv6" tag', async () => {
    v6.require();
    expect(tracker.udp6Port, 'bittorrent-tracker listens on ::1').not.toBeNull();
    const udp6Announce = `udp://[::1]:${tracker.udp6Port}`;
    const both = makeTorrent({ name: 'two-families.bin', announceList: [[udp6Announce], [tracker.udpAnnounce]] });
    // One swarm behind both sockets: announced over HTTP, scraped over UDP on ::1 and on 127.0.0.1.
    await announcePeers(tracker.httpAnnounce, both.infoHashBytes, SWARM);
    const json = await upload(both.bytes, 'two.torrent', JSON_ACCEPT).expect(200);
    expect(json.body.trackers).toEqual([
      expect.objectContaining({ announce: udp6Announce, status: 'ok', ...EXPECTED, family: 6, cached: false }),
      expect.objectContaining({ announce: tracker.udpAnnounce, status: 'ok', ...EXPECTED, family: 4, cached: false }),
    ]);
    // From the cache the family is still the one that gave the answer.
    const page = await upload(both.bytes, 'two.torrent').expect(200);
    const families = [...page.text.matchAll(/<span class="family" title="The tracker answered over (IPv[46])">/g)].map((m) => m[1]);
    expect(families).toEqual(['IPv6', 'IPv4']);
    expect(page.text).toContain('udp://[::1]:');
  });

  it('says which answers came from the cache, and when their tracker gave them', async () => {
    // A torrent of its own, so the first ask is not already in the cache from another test.
    const fresh = makeTorrent({ name: 'freshness.bin', announceList: [[tracker.httpAnnounce], [tracker.udpAnnounce]] });
    await announcePeers(tracker.httpAnnounce, fresh.infoHashBytes, SWARM);
    const before = Date.now();
    const first = await upload(fresh.bytes, 'f.torrent', JSON_ACCEPT).expect(200);
    const after = Date.now();
    const firstRows = first.body.trackers as { status: string; cached: boolean; answeredAt: string | null; ms: number }[];
    expect(firstRows.map((r) => [r.status, r.cached])).toEqual([
      ['ok', false],
      ['ok', false],
    ]);
    for (const row of firstRows) {
      // The scrape core stamps answers (TrackerStat.answeredAt); until it does, the field is null.
      if (row.answeredAt !== null) {
        expect(row.answeredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(Date.parse(row.answeredAt)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(row.answeredAt)).toBeLessThanOrEqual(after);
      }
    }

    const again = await upload(fresh.bytes, 'f.torrent', JSON_ACCEPT).expect(200);
    const againRows = again.body.trackers as typeof firstRows;
    expect(againRows.map((r) => [r.status, r.cached, r.ms])).toEqual([
      ['ok', true, 0],
      ['ok', true, 0],
    ]);
    // From the cache, the time is the original answer's, not this request's.
    expect(againRows.map((r) => r.answeredAt)).toEqual(firstRows.map((r) => r.answeredAt));

    const page = await upload(fresh.bytes, 'f.torrent').expect(200);
    const times = [...page.text.matchAll(/<td class="num time" data-label="Time">([^<]*)<\/td>/g)].map((m) => m[1]);
    expect(times).toEqual(['cached', 'cached']);
    for (const row of againRows) {
      if (row.answeredAt !== null) expect(page.text).toContain(`From the cache: answered <time datetime="${row.answeredAt}"`);
    }
  });

  it('gives two rows per tracker for a hybrid torrent, one per swarm', async () => {
    const hybrid = makeTorrent({ name: 'hybrid.bin', hybrid: true, announce: tracker.httpAnnounce });
    await announcePeers(tracker.httpAnnounce, hybrid.infoHashBytes, { seeders: 1, leechers: 4, completed: 0 });
    await announcePeers(tracker.httpAnnounce, hybrid.infoHashV2TrackerBytes!, { seeders: 5, leechers: 1, completed: 0 });
    const res = await upload(hybrid.bytes, 'hybrid.torrent', JSON_ACCEPT).expect(200);
    expect(res.body.torrent.infoHash).toBe(hybrid.infoHash);
    expect(res.body.torrent.infoHashV2).toBe(hybrid.infoHashV2);
    const rows = res.body.trackers as { infoHash: string; seeders: number; leechers: number; announce: string }[];
    expect(rows).toHaveLength(2);
    const v1 = rows.find((r) => r.infoHash === hybrid.infoHash);
    const v2 = rows.find((r) => r.infoHash === hybrid.infoHashV2!.slice(0, 40));
    expect(v1).toMatchObject({ announce: tracker.httpAnnounce, seeders: 1, leechers: 4 });
    expect(v2).toMatchObject({ announce: tracker.httpAnnounce, seeders: 5, leechers: 1 });
    // Best of the two swarms per count, not their sum.
    expect(res.body.totals).toEqual({ seeders: 5, leechers: 4, completed: 5 });

    const page = await upload(hybrid.bytes, 'hybrid.torrent').expect(200);
    expect(page.text).toContain('hybrid torrent');
    expect(page.text).toContain('<th scope="col">Swarm</th>');
    expect(page.text.match(/<td class="swarm" data-label="Swarm">v[12]<\/td>/g)).toEqual([
      expect.stringContaining('v1'),
      expect.stringContaining('v2'),
    ]);
  });

  it('lists the files of a multi-file torrent, collapsed when long', async () => {
    const files = Array.from({ length: 30 }, (_, i) => ({ path: ['dir', `part-${i}.bin`], length: 1000 + i }));
    const many = makeTorrent({ name: 'album', files, announce: tracker.httpAnnounce });
    const res = await upload(many.bytes).expect(200);
    expect(res.text).toContain('<details>');
    expect(res.text).toContain('album/<wbr>dir/<wbr>part-29.bin');
    expect(res.text).toContain('1,029 bytes');
    const json = await upload(many.bytes, 'a.torrent', JSON_ACCEPT).expect(200);
    expect(json.body.torrent.files).toHaveLength(30);
    expect(json.body.torrent.totalSize).toBe(files.reduce((n, f) => n + f.length, 0));
  });

  it('says so when a torrent has no trackers at all', async () => {
    const dhtOnly = makeTorrent({ name: 'dht-only' });
    const res = await upload(dhtOnly.bytes).expect(200);
    expect(res.text).toContain('lists no trackers');
    const json = await upload(dhtOnly.bytes, 'a.torrent', JSON_ACCEPT).expect(200);
    expect(json.body.trackers).toEqual([]);
    expect(json.body.totals).toEqual({ seeders: null, leechers: null, completed: null });
  });
});

describe('magnet links and info-hashes', () => {
  it('POST /scrape with the magnet field scrapes the tr= trackers', async () => {
    const magnet = `magnet:?xt=urn:btih:${torrent.infoHash}&dn=From%20magnet&tr=${encodeURIComponent(tracker.httpAnnounce)}`;
    const res = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).field('magnet', magnet).expect(200);
    expect(res.body.torrent).toMatchObject({ name: 'From magnet', infoHash: torrent.infoHash, totalSize: null, pieceCount: null });
    expect(res.body.trackers).toHaveLength(1);
    expect(res.body.trackers[0]).toMatchObject({ status: 'ok', ...EXPECTED });

    const page = await request(app).post('/scrape').field('magnet', magnet).expect(200);
    expect(page.text).toContain('From a magnet link');
    // A POST result links to its permalink, which keeps itself fresh.
    expect(page.text).toContain(`href="/scrape?magnet=${encodeURIComponent(`magnet:?xt=urn:btih:${torrent.infoHash}`)}`);
  });

  it('GET /scrape?magnet= is a permalink page that refreshes itself', async () => {
    const magnet = `magnet:?xt=urn:btih:${torrent.infoHash}&tr=${encodeURIComponent(tracker.udpAnnounce)}`;
    const res = await request(app).get('/scrape').query({ magnet }).expect(200);
    expect(res.text).toContain('<noscript><meta http-equiv="refresh" content="60"></noscript>');
    expect(res.text).toContain('data-refresh-seconds="60"');
    expect(res.text).toMatch(/id="total-seeders">3</);
    const json = await request(app).get('/scrape').query({ magnet }).set('Accept', JSON_ACCEPT).expect(200);
    expect(json.body.trackers[0]).toMatchObject({ protocol: 'udp', status: 'ok', ...EXPECTED });
  });

  it('a bare info-hash has no trackers to ask, and the page says so', async () => {
    const res = await request(app).post('/scrape').field('magnet', torrent.infoHash.toUpperCase()).expect(200);
    expect(res.text).toContain('From an info-hash');
    expect(res.text).toContain('lists no trackers');
  });

  it('GET /scrape without a magnet is a 400 with directions', async () => {
    const res = await request(app).get('/scrape').set('Accept', JSON_ACCEPT).expect(400);
    expect(res.body.error.code).toBe('QUERY_INVALID');
    const repeated = await request(app).get('/scrape?magnet=a&magnet=b').set('Accept', JSON_ACCEPT).expect(400);
    expect(repeated.body.error.code).toBe('QUERY_INVALID');
  });

  it('a bad magnet link is a 400 naming the problem', async () => {
    const res = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).field('magnet', 'magnet:?xt=urn:btih:xyz').expect(400);
    expect(res.body.error.code).toBe('MAGNET_BAD_HASH');
    expect(res.body.error.message).toContain('not a magnet link or info-hash we can read');
    const page = await request(app).post('/scrape').field('magnet', 'hello world').expect(400);
    expect(page.text).toContain('expected a magnet link or an info-hash');
  });
});

describe('upload limits', () => {
  it('sets every multer/busboy limit, none left at its Infinity default', () => {
    const limits = uploadLimits(10 * 1024 * 1024, 16 * 1024);
    expect(Object.keys(limits).sort()).toEqual(
      ['fieldArrayIndexLimit', 'fieldNameSize', 'fieldNestingDepth', 'fieldSize', 'fields', 'fileSize', 'files', 'headerPairs', 'parts'].sort(),
    );
    for (const value of Object.values(limits)) expect(Number.isSafeInteger(value)).toBe(true);
    expect(limits).toMatchObject({ fileSize: 10 * 1024 * 1024, fieldSize: 16 * 1024, files: 1 });
  });
});

describe('bad uploads', () => {
  async function expectProblem(
    send: (accept: string) => request.Test,
    status: number,
    code: string,
    message: string | RegExp,
  ): Promise<void> {
    const json = await send(JSON_ACCEPT).expect(status);
    expect(json.body.error.code).toBe(code);
    if (typeof message === 'string') expect(json.body.error.message).toContain(message);
    else expect(json.body.error.message).toMatch(message);
    expect(Object.keys(json.body)).toEqual(['error']);
    expect(Object.keys(json.body.error).sort()).toEqual(['code', 'message']);
    const page = await send('text/html').expect(status).expect('Content-Type', /text\/html/);
    expect(page.text).toContain(`Error ${status}`);
    const escaped = (typeof message === 'string' ? message : '').replaceAll('"', '&#34;').replaceAll("'", '&#39;');
    if (escaped) expect(page.text).toContain(escaped);
    // No stack traces, no file paths.
    expect(page.text).not.toMatch(/\bat [\w.]+ \(|node_modules|\.ts:\d+/);
    expect(json.text).not.toMatch(/\bat [\w.]+ \(|node_modules|\.ts:\d+/);
  }

  it('a file over MAX_UPLOAD_BYTES is a 413 with a readable page', async () => {
    const small = buildApp({ maxUploadBytes: 2048 }).app;
    const big = Buffer.concat([torrent.bytes, Buffer.alloc(4096, 0x61)]);
    await expectProblem(
      (accept) => request(small).post('/scrape').set('Accept', accept).attach('torrent', big, 'big.torrent'),
      413,
      'UPLOAD_TOO_LARGE',
      'larger than the 2.00 KiB limit',
    );
  });

  it('two files is a 400', async () => {
    await expectProblem(
      (accept) =>
        request(app)
          .post('/scrape')
          .set('Accept', accept)
          .attach('torrent', torrent.bytes, 'a.torrent')
          .attach('torrent', torrent.bytes, 'b.torrent'),
      400,
      'UPLOAD_TOO_MANY_FILES',
      'exactly one .torrent file',
    );
  });

  it('a file in another field is a 400', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).attach('file', torrent.bytes, 'a.torrent'),
      400,
      'UPLOAD_WRONG_FIELD',
      'field named "torrent"',
    );
  });

  it('text in the torrent field is a 400 that points to the magnet field', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).field('torrent', torrent.infoHash),
      400,
      'UPLOAD_WRONG_FIELD',
      'must carry a file upload, not text',
    );
  });

  it('no file and no magnet is a 400', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).field('other', 'x'),
      400,
      'UPLOAD_NO_INPUT',
      'No torrent was sent',
    );
    // What a browser sends when nothing was chosen: an empty file part and an empty text field.
    await expectProblem(
      (accept) =>
        request(app)
          .post('/scrape')
          .set('Accept', accept)
          .attach('torrent', Buffer.alloc(0), { filename: '', contentType: 'application/octet-stream' })
          .field('magnet', ''),
      400,
      'UPLOAD_NO_INPUT',
      'No torrent was sent',
    );
  });

  it('a zero-byte file is a 400', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).attach('torrent', Buffer.alloc(0), 'empty.torrent'),
      400,
      'UPLOAD_EMPTY',
      'The file is empty',
    );
  });

  it('two magnet fields is a 400 that says to send one', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).field('magnet', torrent.infoHash).field('magnet', torrent.infoHash),
      400,
      'UPLOAD_MANY_MAGNETS',
      'not several',
    );
  });

  it('a file and a magnet together is a 400', async () => {
    await expectProblem(
      (accept) =>
        request(app)
          .post('/scrape')
          .set('Accept', accept)
          .attach('torrent', torrent.bytes, 'a.torrent')
          .field('magnet', torrent.infoHash),
      400,
      'UPLOAD_BOTH_INPUTS',
      'not both',
    );
  });

  it.each([
    ['application/json', '{"torrent":"x"}'],
    ['application/x-www-form-urlencoded', 'magnet=abc'],
    ['text/plain', 'hello'],
  ])('a %s body is a 415', async (type, body) => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).set('Content-Type', type).send(body),
      415,
      'UPLOAD_NOT_MULTIPART',
      'multipart/form-data',
    );
  });

  it('a body without Content-Type is a 415', async () => {
    await expectProblem((accept) => request(app).post('/scrape').set('Accept', accept), 415, 'UPLOAD_NOT_MULTIPART', 'multipart/form-data');
  });

  it.each(['gzip', 'br', 'deflate', 'x-custom', 'identity, gzip', 'GZIP'])(
    'a body with Content-Encoding: %s is a 415 "compressed request bodies are not accepted"',
    async (coding) => {
      await expectProblem(
        (accept) =>
          request(app)
            .post('/scrape')
            .set('Accept', accept)
            .set('Content-Encoding', coding)
            .attach('torrent', torrent.bytes, 'a.torrent'),
        415,
        'UPLOAD_COMPRESSED',
        `Compressed request bodies are not accepted (Content-Encoding: ${coding}). Send the form uncompressed.`,
      );
      const res = await request(app).post('/scrape').set('Content-Encoding', coding).attach('torrent', torrent.bytes, 'a.torrent').expect(415);
      // RFC 9110 §15.5.16: what would have been accepted.
      expect(res.headers['accept-encoding']).toBe('identity');
      expect(res.text).toContain('<h1>Compressed uploads are not accepted</h1>');
    },
  );

  it('Content-Encoding: identity is no coding at all: the upload is read as usual', async () => {
    const res = await request(app)
      .post('/scrape')
      .set('Accept', JSON_ACCEPT)
      .set('Content-Encoding', 'identity')
      .attach('torrent', torrent.bytes, 'a.torrent')
      .expect(200);
    expect(res.body.torrent.infoHash).toBe(torrent.infoHash);
  });

  it('multipart without a boundary is a 400, not a 500 (busboy: "Boundary not found")', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).set('Content-Type', 'multipart/form-data').send('--x\r\n'),
      400,
      'UPLOAD_MALFORMED',
      'Boundary not found',
    );
  });

  it('a multipart body cut short is a 400, not a 500 (busboy: "Unexpected end of form")', async () => {
    const body = [
      '--BOUNDARY',
      'Content-Disposition: form-data; name="torrent"; filename="a.torrent"',
      'Content-Type: application/x-bittorrent',
      '',
      'd8:announce',
    ].join('\r\n');
    await expectProblem(
      (accept) =>
        request(app).post('/scrape').set('Accept', accept).set('Content-Type', 'multipart/form-data; boundary=BOUNDARY').send(body),
      400,
      'UPLOAD_MALFORMED',
      'Unexpected end of form',
    );
  });

  it('a malformed part header is a 400', async () => {
    const body = ['--B', 'this is not a header', '', 'x', '--B--', ''].join('\r\n');
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).set('Content-Type', 'multipart/form-data; boundary=B').send(body),
      400,
      'UPLOAD_MALFORMED',
      'malformed',
    );
  });

  it('a PNG renamed .torrent is a 415 "this is not a torrent file", decided by content', async () => {
    await expectProblem(
      (accept) =>
        request(app)
          .post('/scrape')
          .set('Accept', accept)
          .attach('torrent', PNG_BYTES, { filename: 'holiday.torrent', contentType: 'application/x-bittorrent' }),
      415,
      'NOT_A_TORRENT',
      'This is not a torrent file: the content of "holiday.torrent" (sent as application/x-bittorrent) looks like a PNG image.',
    );
  });

  it('a zip renamed .torrent is a 415', async () => {
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).attach('torrent', ZIP_BYTES, 'archive.torrent'),
      415,
      'NOT_A_TORRENT',
      'looks like a ZIP archive',
    );
  });

  it('a real torrent with a .png name is still read as a torrent (the name is only a hint)', async () => {
    const res = await request(app)
      .post('/scrape')
      .set('Accept', JSON_ACCEPT)
      .attach('torrent', torrent.bytes, { filename: 'picture.png', contentType: 'image/png' })
      .expect(200);
    expect(res.body.torrent.infoHash).toBe(torrent.infoHash);
  });

  it('a truncated torrent is a 422 with the decoder reason and byte offset', async () => {
    const cut = torrent.bytes.subarray(0, 120);
    await expectProblem(
      (accept) => upload(cut, 'cut.torrent', accept),
      422,
      'TORRENT_NOT_BENCODE',
      /^This is not a torrent file: [a-z].* at byte \d+\.$/,
    );
    const json = await upload(cut, 'cut.torrent', JSON_ACCEPT);
    expect(json.body.error.message).not.toMatch(/not a torrent file.*not a torrent file/i);
    // The decoder's code is not part of the sentence; the page keeps it in its technical details.
    expect(json.body.error.message).not.toContain('BENCODE_');
    const page = await upload(cut, 'cut.torrent').expect(422);
    expect(page.text).toMatch(/id="problem-message"><bdi>String of \d+ bytes runs \d+ byte\(s\) past the end of the data at byte \d+\.<\/bdi>/);
    expect(page.text).toContain('Error 422 &#183; <code>TORRENT_NOT_BENCODE</code> &#183; caused by <code>BENCODE_LENGTH_PAST_END</code>');
    expect(page.text.match(/BENCODE_/g)).toHaveLength(1);
  });

  it('the decoder reason reads as a sentence: no error code in it, "at byte N" kept', async () => {
    const unterminated = Buffer.from('d4:infod6:lengthi5');
    const json = await upload(unterminated, 'cut.torrent', JSON_ACCEPT).expect(422);
    expect(json.body.error).toEqual({
      code: 'TORRENT_NOT_BENCODE',
      message: 'This is not a torrent file: unexpected end of data in an integer at byte 18.',
    });
    const page = await upload(unterminated, 'cut.torrent').expect(422);
    expect(page.text).toContain('<bdi>Unexpected end of data in an integer at byte 18.</bdi>');
    expect(page.text).toContain('caused by <code>BENCODE_UNEXPECTED_END</code>');
  });

  it('a file over the per-file length limit reads as a sentence, with the limit in bytes and TiB', async () => {
    const huge = encode({ info: { length: 99_999_999_999_999_999_999n, name: 'x', 'piece length': 16384, pieces: Buffer.alloc(20) } });
    const json = await upload(huge, 'huge.torrent', JSON_ACCEPT).expect(422);
    expect(json.body.error).toEqual({
      code: 'TORRENT_BAD_FILE_LENGTH',
      message: expect.stringMatching(
        /^This is not a torrent file: the length of its single file is 99,999,999,999,999,999,999 bytes, more than the 17,592,186,028,031-byte \(16 TiB\) limit for one file at byte \d+\.$/,
      ),
    });
  });

  it.each([
    ['an integer', 'i42e'],
    ['a string', '4:spam'],
    ['a list', 'li1ei2ee'],
  ])('bencode that is %s, not a dictionary, is named as bencode but not a torrent (415)', async (kind, bytes) => {
    await expectProblem(
      (accept) =>
        request(app)
          .post('/scrape')
          .set('Accept', accept)
          .attach('torrent', Buffer.from(bytes), { filename: 'value.torrent', contentType: 'application/octet-stream' }),
      415,
      'NOT_A_TORRENT',
      `This is not a torrent file: the content of "value.torrent" is bencoded data (${kind}), but not a torrent: a torrent is a bencoded dictionary, starting with "d".`,
    );
  });

  it('text that merely starts with a digit or an "l" is not called bencode', async () => {
    for (const text of ['1984 was a good year', 'lorem ipsum']) {
      const json = await upload(Buffer.from(text), 'notes.torrent', JSON_ACCEPT).expect(415);
      expect(json.body.error.message).toContain('is not bencoded data');
    }
  });

  it('bencode that is not a torrent is a 422 naming what is missing', async () => {
    await expectProblem(
      (accept) => upload(encode({ announce: 'http://x/announce' }), 'x.torrent', accept),
      422,
      'TORRENT_NO_INFO',
      "This is not a torrent file: the torrent has no 'info' dictionary",
    );
  });

  it('a magnet longer than the field limit is a 413', async () => {
    const long = `magnet:?xt=urn:btih:${torrent.infoHash}&tr=${'x'.repeat(70 * 1024)}`;
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).field('magnet', long),
      413,
      'UPLOAD_FIELD_TOO_LONG',
      'magnet link is longer than',
    );
  });

  it('too many fields, nested names and over-long names are 400s', async () => {
    await expectProblem(
      (accept) => {
        let req = request(app).post('/scrape').set('Accept', accept);
        for (let i = 0; i < 10; i++) req = req.field(`f${i}`, 'x');
        return req;
      },
      400,
      'UPLOAD_FORM_LIMIT',
      'fields than this page sends',
    );
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).field('magnet[a]', 'x'),
      400,
      'UPLOAD_FORM_LIMIT',
      'nesting too deep',
    );
    await expectProblem(
      (accept) => request(app).post('/scrape').set('Accept', accept).field('m'.repeat(200), 'x'),
      400,
      'UPLOAD_FORM_LIMIT',
      'field name too long',
    );
  });

  it('the server is still healthy after all of that', async () => {
    await request(app).get('/healthz').expect(200);
  });
});

describe('methods', () => {
  /** A "tracker" on loopback that only counts who connects, to prove HEAD asks nobody. */
  let counter: TcpServer;
  let connections = 0;
  const sockets: Socket[] = [];
  let countingAnnounce: string;

  beforeAll(async () => {
    counter = createTcpServer((socket) => {
      connections += 1;
      sockets.push(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    countingAnnounce = `http://127.0.0.1:${(counter.address() as { port: number }).port}/announce`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => counter?.close(() => resolve(undefined)));
  });

  const magnetFor = (hash: string) => `magnet:?xt=urn:btih:${hash}&tr=${encodeURIComponent(countingAnnounce)}`;

  it('HEAD /scrape?magnet= answers a GET’s status and headers, with no body and without asking any tracker', async () => {
    for (const [accept, hash] of [
      ['text/html', '1'.repeat(40)],
      [JSON_ACCEPT, '3'.repeat(40)],
    ] as const) {
      // A hash of its own per round: the GET's answer is cached, and the next GET must ask again.
      const magnet = magnetFor(hash);
      const head = await request(app).head('/scrape').query({ magnet }).set('Accept', accept).expect(200);
      expect(head.text ?? '').toBe('');
      expect(connections, 'HEAD contacted the tracker').toBe(0);
      const get = await request(app).get('/scrape').query({ magnet }).set('Accept', accept).expect(200);
      // The GET does ask (so the zero above means something).
      expect(connections).toBeGreaterThan(0);
      connections = 0;
      for (const header of ['content-type', 'cache-control', 'content-security-policy', 'x-content-type-options', 'x-frame-options']) {
        expect(head.headers[header], header).toBe(get.headers[header]);
      }
      expect(head.headers['cache-control']).toBe('no-store');
      expect(head.headers['content-type']).toMatch(accept === JSON_ACCEPT ? /^application\/json; charset=utf-8$/ : /^text\/html; charset=utf-8$/);
    }
  });

  it('HEAD /scrape checks the input like GET: 400 for a missing or bad magnet, with no body', async () => {
    const missing = await request(app).head('/scrape').set('Accept', JSON_ACCEPT).expect(400);
    expect(missing.text ?? '').toBe('');
    expect(missing.headers['content-type']).toMatch(/json/);
    await request(app).head('/scrape').query({ magnet: 'magnet:?xt=urn:btih:xyz' }).expect(400);
    await request(app).head('/scrape').query({ magnet: 'hello world' }).expect(400);
    await request(app).head('/scrape?magnet=a&magnet=b').expect(400);
    expect(connections).toBe(0);
  });

  it('HEAD spends none of the scrape budget', async () => {
    const { app: strict } = buildApp({ rateLimitMax: 1 });
    const magnet = magnetFor('2'.repeat(40));
    for (let i = 0; i < 3; i++) await request(strict).head('/scrape').query({ magnet }).expect(200);
    await request(strict).get('/scrape').query({ magnet }).expect(200);
    await request(strict).get('/scrape').query({ magnet }).expect(429);
    connections = 0;
  });

  const ADDRESSES: [path: string, allow: string][] = [
    ['/', 'GET, HEAD, OPTIONS'],
    ['/scrape', 'GET, HEAD, POST, OPTIONS'],
    ['/healthz', 'GET, HEAD, OPTIONS'],
    ['/static/style.css', 'GET, HEAD, OPTIONS'],
    ['/static/app.js', 'GET, HEAD, OPTIONS'],
  ];

  it.each(ADDRESSES)('OPTIONS %s is a 204 with Allow: %s', async (path, allow) => {
    const res = await request(app).options(path).expect(204);
    expect(res.headers.allow).toBe(allow);
    expect(res.text ?? '').toBe('');
  });

  it.each(ADDRESSES)('PUT, DELETE and PATCH on %s are 405 with Allow: %s, as JSON and as a page', async (path, allow) => {
    for (const method of ['put', 'delete', 'patch'] as const) {
      const json = await request(app)[method](path).set('Accept', JSON_ACCEPT).expect(405);
      expect(json.headers.allow).toBe(allow);
      expect(json.body).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `This address does not take ${method.toUpperCase()} requests; it takes ${allow}.` } });
    }
    const page = await request(app).delete(path).expect(405).expect('Content-Type', /text\/html/);
    expect(page.headers.allow).toBe(allow);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.text).toContain('<h1>Method not allowed</h1>');
    expect(page.text).toContain('Error 405');
    expect(page.text).toContain('href="/">Back to the upload form</a>');
    expect(page.text).not.toContain('id="upload-form"');
  });

  it('the Allow lists are what the routes really take: every listed method is served, nothing else is', async () => {
    const all = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'];
    for (const [path, allow] of ADDRESSES) {
      const listed = allow.split(', ');
      for (const method of all) {
        const res = await request(app)[method.toLowerCase() as 'get'](path).set('Accept', JSON_ACCEPT);
        if (listed.includes(method)) expect(res.status, `${method} ${path}`).not.toBe(405);
        else expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.status, `${method} ${path}`).not.toBe(404);
      }
    }
  });

  it('matches addresses as express routes them (any case, one trailing slash)', async () => {
    const res = await request(app).put('/Scrape/').set('Accept', JSON_ACCEPT).expect(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
  });

  it.each([
    ['PUT', '/nope'],
    ['DELETE', '/static/nope.css'],
    ['OPTIONS', '/nope'],
    ['OPTIONS', '/static/'],
    ['PATCH', '/static/%E0%A4%A'],
  ])('%s %s (no such address) stays a 404', async (method, path) => {
    const res = await request(app)[method.toLowerCase() as 'get'](path).set('Accept', JSON_ACCEPT).expect(404);
    expect(res.headers.allow).toBeUndefined();
    expect(res.body.error.code).toBe('NOT_FOUND');
  });
});

describe('error pages of a failed scrape offer the upload form again', () => {
  const FORM = /<form class="card upload" id="upload-form" method="post" action="\/scrape" enctype="multipart\/form-data">/;

  function magnetInput(html: string): string {
    const input = /<input class="text-input"[^>]*>/.exec(html)?.[0];
    expect(input, 'the magnet field').toBeDefined();
    return input ?? '';
  }

  it('a file that is not a torrent: the heading says so once, the reason follows, the form is below', async () => {
    const res = await request(app)
      .post('/scrape')
      .attach('torrent', PNG_BYTES, { filename: 'holiday.torrent', contentType: 'application/x-bittorrent' })
      .expect(415);
    expect(res.text).toContain('<h1>Not a torrent file</h1>');
    expect(res.text).toContain(
      '<p class="problem-message" id="problem-message"><bdi>The content of &#34;holiday.torrent&#34; (sent as application/x-bittorrent) looks like a PNG image. A .torrent file starts with a bencoded dictionary (&#34;d&#34;).</bdi></p>',
    );
    expect(res.text).toMatch(FORM);
    expect(res.text.match(/id="upload-form"/g)).toHaveLength(1);
    expect(res.text).toMatch(/<input type="file" id="torrent-file" name="torrent"/);
    // Nothing was typed, and the file was the problem, not the magnet field.
    expect(magnetInput(res.text)).not.toContain('value=');
    expect(magnetInput(res.text)).not.toContain('aria-invalid');
    expect(res.text).toContain('<h2 id="retry-heading">Try again</h2>');
    // The form is the way on: no second "try another" button competing with it.
    expect(res.text).not.toContain('class="problem-actions"');
  });

  it('a broken torrent: "Not a valid torrent file" over the decoder reason with its byte offset', async () => {
    const res = await upload(encode({ announce: 'http://x/announce' }), 'x.torrent').expect(422);
    expect(res.text).toContain('<h1>Not a valid torrent file</h1>');
    expect(res.text).toMatch(/id="problem-message"><bdi>The torrent has no &#39;info&#39; dictionary at byte \d+\.<\/bdi>/);
    expect(res.text).toMatch(FORM);
  });

  it('a bad magnet link: put back into the field, escaped, marked invalid and described by the message', async () => {
    const typed = `magnet:?xt=urn:btih:xyz&dn="><script>alert(1)</script>`;
    const res = await request(app).post('/scrape').field('magnet', `  ${typed}  `).expect(400);
    expect(res.text).toContain('<h1>Not a magnet link or info-hash</h1>');
    expect(res.text).toContain('id="problem-message"><bdi>The info-hash after urn:btih must be 40 hex digits or 32 base32 characters.</bdi>');
    const input = magnetInput(res.text);
    expect(input).toContain('value="magnet:?xt=urn:btih:xyz&amp;dn=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(input).toContain('aria-invalid="true" aria-describedby="problem-message"');
    expect(res.text).not.toContain('<script>alert(1)');
    expect(res.text).toMatch(FORM);
  });

  it('a bad permalink: the query text goes back into the field', async () => {
    const res = await request(app).get('/scrape').query({ magnet: 'hello world' }).expect(400);
    expect(magnetInput(res.text)).toContain('value="hello world"');
    expect(magnetInput(res.text)).toContain('aria-invalid="true"');
    const empty = await request(app).get('/scrape').expect(400);
    expect(empty.text).toMatch(FORM);
    expect(magnetInput(empty.text)).not.toContain('value=');
  });

  it('a magnet over the length limit is not put back (a cut copy would be wrong)', async () => {
    const long = `magnet:?xt=urn:btih:${torrent.infoHash}&tr=${'x'.repeat(70 * 1024)}`;
    const res = await request(app).post('/scrape').field('magnet', long).expect(413);
    expect(res.text).toMatch(FORM);
    expect(magnetInput(res.text)).not.toContain('value=');
    expect(magnetInput(res.text)).toContain('aria-invalid="true"');
  });

  it('too many scrapes: the form is there for when the limit has reset', async () => {
    const { app: strict } = buildApp({ rateLimitMax: 1 });
    await request(strict).post('/scrape').field('magnet', torrent.infoHash).expect(200);
    const res = await request(strict).post('/scrape').field('magnet', torrent.infoHash).expect(429);
    expect(res.text).toMatch(FORM);
    expect(res.text).toContain('<h2 id="retry-heading">Try again when the limit has reset</h2>');
    // The body was never read (the limiter answers first), so nothing can be put back.
    expect(magnetInput(res.text)).not.toContain('value=');
    const permalink = await request(strict).get('/scrape').query({ magnet: torrent.infoHash }).expect(429);
    expect(magnetInput(permalink.text)).toContain(`value="${torrent.infoHash}"`);
  });

  it('JSON answers and pages other than a scrape get no form', async () => {
    const json = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).field('magnet', 'hello').expect(400);
    expect(Object.keys(json.body)).toEqual(['error']);
    const missing = await request(app).get('/nope').expect(404);
    expect(missing.text).not.toContain('id="upload-form"');
    expect(missing.text).toContain('href="/">Back to the upload form</a>');
  });

  it('the home page and the error page share one form', async () => {
    const home = await request(app).get('/').expect(200);
    const failed = await request(app).post('/scrape').field('other', 'x').expect(400);
    const formOf = (html: string) => /<form[\s\S]*?<\/form>/.exec(html)?.[0];
    expect(formOf(home.text)).toBeDefined();
    expect(formOf(failed.text)).toBe(formOf(home.text));
  });
});
