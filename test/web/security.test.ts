import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ejs from 'ejs';
import express from 'express';
import fc from 'fast-check';
import helmet, { type HelmetOptions } from 'helmet';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { announcePeers, type BtTracker, startBtTracker } from '../support/trackers.js';
import { asciiText, escapeHtml } from '../../src/web/render.js';
import { HELMET_OPTIONS, recordHeaderEffects } from '../../src/web/security-headers.js';
import { buildApp, makeTorrent } from './support.js';

const JSON_ACCEPT = 'application/json';
/** Bounded waits for something the server does on its own time (loopback: milliseconds). */
const HANGUP_WAIT_MS = 2000;
const POLL_MS = 20;

/** The policy exactly as issue #4 writes it. */
const ISSUE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function directives(policy: string): string[] {
  return policy
    .split(';')
    .map((d) => d.trim().replace(/\s+/g, ' '))
    .filter((d) => d !== '');
}

/** What a person sees: the page without tags, attributes or scripts. */
function visibleText(html: string): string {
  return html.replace(/<[^>]*>/g, ' ');
}

let tracker: BtTracker;

beforeAll(async () => {
  tracker = await startBtTracker();
});

afterAll(async () => {
  await tracker?.stop();
});

describe('headers', () => {
  const { app } = buildApp();

  it.each(['/', '/healthz', '/nope', '/static/style.css'])('%s carries exactly the CSP of the issue', async (path) => {
    const res = await request(app).get(path);
    expect(directives(res.headers['content-security-policy'] ?? '')).toEqual(directives(ISSUE_CSP));
  });

  it('error and result pages carry it too, plus the other helmet headers', async () => {
    const res = await request(app).post('/scrape').send('x').expect(415);
    expect(directives(res.headers['content-security-policy'] ?? '')).toEqual(directives(ISSUE_CSP));
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});

describe('security headers are helmet\'s, recorded once', () => {
  it('every response gets exactly the headers helmet itself sets with the same options', async () => {
    const withHelmet = express();
    withHelmet.disable('x-powered-by');
    withHelmet.use(helmet(HELMET_OPTIONS as HelmetOptions));
    withHelmet.get('/', (_req, res) => {
      res.end('x');
    });
    const reference = await request(withHelmet).get('/').expect(200);
    const { app } = buildApp();
    for (const path of ['/', '/healthz', '/nope', '/static/app.js']) {
      const ours = await request(app).get(path);
      for (const name of Object.keys(reference.headers)) {
        if (['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'etag', 'transfer-encoding'].includes(name)) continue;
        expect([path, name, ours.headers[name]]).toEqual([path, name, reference.headers[name]]);
      }
    }
  });

  it('refuses to record a header middleware that looks at the request', () => {
    const perRequest = (req: IncomingMessage, res: ServerResponse, next: () => void) => {
      res.setHeader('X-Seen', String(req.headers['user-agent']));
      next();
    };
    expect(() => recordHeaderEffects(perRequest)).toThrow(/read the request/);
  });
});

describe('template escaping', () => {
  it("is EJS's own escapeXML, output for output", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('&<>"\'', '&amp;', '')), (text) => {
        expect(escapeHtml(text)).toBe(ejs.escapeXML(text));
      }),
    );
    for (const value of [undefined, null, 0, 42, true]) expect(escapeHtml(value)).toBe(ejs.escapeXML(value as unknown as string));
  });
});

describe('templates', () => {
  /** What the browser does with a numeric character reference. */
  const decodeReferences = (html: string) => html.replace(/&#(\d+);/g, (_m, code: string) => String.fromCodePoint(Number(code)));
  const aboveLatin1 = /[^\u0000-\u00FF]/u;
  const aboveAscii = /[^\u0000-\u007F]/u;

  it('have their text above ASCII written as character references, never what is inside a tag', () => {
    expect(asciiText("<p>a — b</p><%= x ? '—' : '…' %><%# — %>…<%% — %%>😀·é")).toBe(
      "<p>a &#8212; b</p><%= x ? '—' : '…' %><%# — %>&#8230;<%% &#8212; %%>&#128512;&#183;&#233;",
    );
    expect(asciiText('<%- page.body %>')).toBe('<%- page.body %>');
  });

  it('shows the same text once the browser has decoded it', () => {
    const tag = fc.constantFrom('<%= page.a %>', "<% if (x) { %>—<% } %>", '<%# … %>', '<%- page.body -%>');
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme' }).map((t) => t.replaceAll('<%', '').replaceAll('&#', '')), tag)), (parts) => {
        const source = parts.join('');
        const rewritten = asciiText(source);
        expect(decodeReferences(rewritten)).toBe(decodeReferences(source));
        expect(aboveAscii.test(rewritten.replace(/<%(?!%)[\s\S]*?%>/g, ''))).toBe(false);
      }),
    );
  });

  it('partials included by a page are compiled once, not on every page', async () => {
    const { app } = buildApp();
    await request(app).get('/').expect(200);
    const compile = vi.spyOn(ejs, 'compile');
    try {
      for (let i = 0; i < 3; i++) await request(app).get('/').expect(200);
      expect(compile).not.toHaveBeenCalled();
    } finally {
      compile.mockRestore();
    }
  });

  it('keeps the pages of a Latin-1 torrent all Latin-1', async () => {
    const { app } = buildApp();
    const t = makeTorrent({ name: 'café · 2024', announce: tracker.httpAnnounce });
    const pages = [await request(app).get('/').expect(200), await request(app).post('/scrape').attach('torrent', t.bytes, 'a.torrent').expect(200)];
    for (const page of pages) {
      expect(page.text).not.toMatch(aboveLatin1);
      expect(page.text).toContain('&#');
    }
  });

  it('keeps the pages of an ASCII torrent all ASCII', async () => {
    const { app } = buildApp();
    const t = makeTorrent({ name: 'plain-2024', announce: tracker.httpAnnounce });
    const pages = [
      await request(app).get('/').expect(200),
      await request(app).post('/scrape').attach('torrent', t.bytes, 'a.torrent').expect(200),
      await request(app).get('/scrape?magnet=zz').expect(400),
    ];
    for (const page of pages) expect(page.text).not.toMatch(aboveAscii);
  });
});

describe('torrent-supplied strings', () => {
  const { app } = buildApp();

  it('a name like <img src=x onerror=alert(1)> is escaped everywhere it appears', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    const t = makeTorrent({
      name: evil,
      files: [{ path: ['<script>alert(2)</script>.txt'], length: 10 }],
      comment: '"><svg onload=alert(3)>',
      createdBy: "</title><script>alert('t')</script>",
      announce: `${tracker.httpAnnounce}?x="><b>bold</b>`,
    });
    const res = await request(app).post('/scrape').attach('torrent', t.bytes, 'evil.torrent').expect(200);
    expect(res.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(res.text).not.toContain('<img src=x');
    expect(res.text).not.toContain('<script>alert');
    expect(res.text).not.toContain('<svg onload');
    expect(res.text).not.toContain('<b>bold</b>');
    expect(res.text).toContain('&lt;script&gt;alert(2)&lt;/script&gt;.txt');
    // The only <script> element is ours.
    expect(res.text.match(/<script\b/g)).toHaveLength(1);
  });

  it('bidi overrides are shown, not obeyed, and every name is isolated with <bdi>', async () => {
    const t = makeTorrent({ name: 'invoice\u202Efdp.exe' });
    const res = await request(app).post('/scrape').attach('torrent', t.bytes, 'a.torrent').expect(200);
    expect(res.text).toContain('<bdi>invoice⟨U+202E⟩fdp.exe</bdi>');
    expect(res.text).not.toContain('\u202E');
  });

  it('a 100 KB name is cut for the page and kept whole in JSON', async () => {
    const name = 'n'.repeat(100_000);
    const t = makeTorrent({ name });
    const res = await request(app).post('/scrape').attach('torrent', t.bytes, 'a.torrent').expect(200);
    expect(res.text).toContain('Name shortened: it is 100,000 characters long.');
    expect(res.text).toContain(`${'n'.repeat(300)}…`);
    // The single file's path is the name too, cut at 500 for its row.
    expect(res.text).toContain(`${'n'.repeat(500)}…`);
    expect(res.text).not.toContain('n'.repeat(501));
    expect(res.text.length).toBeLessThan(20_000);
    const json = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).attach('torrent', t.bytes, 'a.torrent').expect(200);
    expect(json.body.torrent.name).toBe(name);
  });

  it('links only where new URL() gives http(s)', async () => {
    const t = makeTorrent({
      comment: 'javascript:alert(1)',
      urlList: ['javascript:alert(1)', 'data:text/html,<b>x</b>', 'https://mirror.example/files/', 'ftp://old.example/x'],
    });
    const res = await request(app).post('/scrape').attach('torrent', t.bytes, 'a.torrent').expect(200);
    const hrefs = [...res.text.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toContain('https://mirror.example/files/');
    for (const href of hrefs) expect(href).toMatch(/^(\/|https?:|magnet:\?xt=urn:bt)/);
    expect(res.text).toContain('<bdi>javascript:alert(1)</bdi>');
    expect(res.text).toContain('<bdi>ftp://old.example/x</bdi>');

    const linked = makeTorrent({ comment: 'https://tracker.example/details.php?id=42' });
    const page = await request(app).post('/scrape').attach('torrent', linked.bytes, 'a.torrent').expect(200);
    expect(page.text).toContain('href="https://tracker.example/details.php?id=42"');
  });

  it('request query and body never reach the template engine options (CVE-2022-29078 class)', async () => {
    const hash = makeTorrent().infoHash;
    const res = await request(app)
      .get(`/scrape?magnet=${hash}&settings[view%20options][outputFunctionName]=x;throw%20new%20Error(1);//&outputFunctionName=x;throw%20new%20Error(2);//`)
      .expect(200);
    expect(res.text).toContain(hash);
    await request(app)
      .post('/scrape')
      .field('magnet', hash)
      .field('outputFunctionName', 'x;throw new Error(3);//')
      .expect(200);
    // And in the code: nothing goes through res.render (whose options merge request-reachable
    // objects); templates are compiled once, strict, and called with `{ page }` only.
    const webDir = join(import.meta.dirname, '../../src/web');
    const sources = [webDir, join(webDir, 'routes')].flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => readFileSync(join(dir, f), 'utf8')),
    );
    expect(sources.join('\n')).not.toContain('res.render(');
    const render = readFileSync(join(webDir, 'render.ts'), 'utf8');
    expect(render).toContain("strict: true, destructuredLocals: ['page']");
    expect([...render.matchAll(/(?:template|this\.#layout)\((\{[^)]*\})\)/g)].map((m) => m[1])).toEqual([
      '{ page }',
      '{ page: { title: layout.title, body, view, refreshSeconds: layout.refreshSeconds ?? null } }',
    ]);
  });
});

describe('passkeys', () => {
  it('are neither shown on the page nor written to the log; JSON gives the URL as in the torrent', async () => {
    const { app, logs } = buildApp({}, { captureLogs: true });
    const secret = 'SECRETPASSKEY0042';
    const announce = `${tracker.httpAnnounce}?passkey=${secret}`;
    const pathKey = `http://127.0.0.1:${tracker.httpPort}/abcdef0123456789abcdef0123456789/announce`;
    const t = makeTorrent({ name: 'members only', private: true, announceList: [[announce], [pathKey]] });
    await announcePeers(announce, t.infoHashBytes, { seeders: 2, leechers: 1, completed: 0 });

    const page = await request(app).post('/scrape').attach('torrent', t.bytes, 'p.torrent').expect(200);
    expect(visibleText(page.text)).not.toContain(secret);
    expect(visibleText(page.text)).not.toContain('abcdef0123456789abcdef0123456789');
    expect(page.text).toContain('[redacted]');
    expect(page.text).toContain('No live link for a private torrent');
    expect(page.text).not.toContain('href="/scrape?magnet=');
    expect(page.text).toMatch(/id="total-seeders">2</);

    const json = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).attach('torrent', t.bytes, 'p.torrent').expect(200);
    expect(json.body.trackers[0].announce).toBe(announce);
    expect(json.body.torrent.private).toBe(true);

    const magnet = `magnet:?xt=urn:btih:${t.infoHash}&tr=${encodeURIComponent(announce)}`;
    await request(app).get('/scrape').query({ magnet }).expect(200);

    expect(logs.text()).not.toContain(secret);
    expect(logs.text()).not.toContain('abcdef0123456789abcdef0123456789');
    const requestLines = logs.lines.filter((l) => l.req !== undefined && l.res !== undefined);
    expect(requestLines).toHaveLength(3);
    for (const line of requestLines) {
      expect(line).toMatchObject({ res: { statusCode: 200 }, scrape: { trackers: expect.any(Number) } });
      expect(typeof line.responseTime).toBe('number');
    }
    expect(requestLines[2]?.req).toMatchObject({ method: 'GET', url: '/scrape?[redacted]' });
  });

  it('a client that hangs up mid-upload still gets exactly one log line, its query redacted', async () => {
    const { app, logs } = buildApp({}, { captureLogs: true });
    const server = createServer(app);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const secret = 'SECRETPASSKEY0043';
    const boundary = 'hangup-boundary';
    try {
      const arrived = once(server, 'request');
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      // Headers and the start of a file part, announcing far more body than is ever sent.
      socket.write(
        `POST /scrape?passkey=${secret} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Content-Length: 100000\r\n\r\n--${boundary}\r\nContent-Disposition: form-data; name="torrent"; filename="a.torrent"\r\n\r\nd8:announce`,
      );
      await arrived;
      // Let the app get as far as reading the upload, then hang up.
      await sleep(POLL_MS);
      expect(logs.lines).toEqual([]);
      socket.destroy();
      const requestLines = () => logs.lines.filter((l) => l.req !== undefined && l.res !== undefined);
      for (let waited = 0; waited < HANGUP_WAIT_MS && requestLines().length === 0; waited += POLL_MS) await sleep(POLL_MS);
      // Anything late would show up now.
      await sleep(POLL_MS);
      expect(requestLines()).toHaveLength(1);
      expect(requestLines()[0]?.req).toMatchObject({ method: 'POST', url: '/scrape?[redacted]' });
      expect(logs.text()).not.toContain(secret);
    } finally {
      server.close();
    }
  });
});

describe('rate limit on scrapes', () => {
  /** Non-multipart posts are refused fast with 415 but still count: the budget is checked first. */
  const hit = (app: ReturnType<typeof buildApp>['app'], forwardedFor?: string, accept = 'text/html') => {
    const req = request(app).post('/scrape').set('Accept', accept);
    return forwardedFor === undefined ? req : req.set('X-Forwarded-For', forwardedFor);
  };

  it('answers 429 with draft-8 headers, Retry-After and a page that says when to retry', async () => {
    const { app } = buildApp({ rateLimitMax: 2, rateLimitWindowMs: 60_000 });
    const first = await hit(app).expect(415);
    expect(first.headers['ratelimit-policy']).toMatch(/^"2-in-1min"; q=2; w=60; pk=:[A-Za-z0-9+/=]+:$/);
    expect(first.headers.ratelimit).toMatch(/^"2-in-1min"; r=1; t=\d+$/);
    await hit(app).expect(415);
    const limited = await hit(app).expect(429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.text).toContain('Slow down a little');
    expect(limited.text).toMatch(/Please try again in \d+ seconds? \(at \d\d:\d\d:\d\d UTC\)/);
    const json = await hit(app, undefined, JSON_ACCEPT).expect(429);
    expect(json.body.error.code).toBe('RATE_LIMITED');
    expect(json.body.error.message).toContain('2 scrapes in a minute');
  });

  it('GET /scrape draws on the same budget as POST /scrape', async () => {
    const { app } = buildApp({ rateLimitMax: 2 });
    await hit(app).expect(415);
    await request(app).get('/scrape').expect(400);
    await request(app).get('/scrape').expect(429);
    await hit(app).expect(429);
    // Pages that never contact a tracker are not limited.
    await request(app).get('/').expect(200);
    await request(app).get('/healthz').expect(200);
  });

  it('the budget comes back after the window', async () => {
    const { app } = buildApp({ rateLimitMax: 1, rateLimitWindowMs: 1000 });
    await hit(app).expect(415);
    await hit(app).expect(429);
    await new Promise((r) => setTimeout(r, 1100));
    await hit(app).expect(415);
  });

  it('without TRUST_PROXY a spoofed X-Forwarded-For gains nothing', async () => {
    const { app } = buildApp({ rateLimitMax: 2, trustProxy: false });
    await hit(app, '198.51.100.1').expect(415);
    await hit(app, '198.51.100.2').expect(415);
    await hit(app, '198.51.100.3').expect(429);
    await hit(app).expect(429);
  });

  it.each([
    ['a hop count', 1],
    ['loopback', ['loopback']],
    ['a subnet', ['127.0.0.0/8', '::1/128']],
  ])('with TRUST_PROXY as %s each client behind the proxy gets its own budget', async (_label, trustProxy) => {
    const { app } = buildApp({ rateLimitMax: 2, trustProxy: trustProxy as number | string[] });
    await hit(app, '203.0.113.10').expect(415);
    await hit(app, '203.0.113.10').expect(415);
    await hit(app, '203.0.113.10').expect(429);
    // Another client of the proxy is not affected.
    await hit(app, '203.0.113.11').expect(415);
    // A client that writes its own X-Forwarded-For: the proxy appends the real address, and only
    // the hops we trust are read, so the made-up entry does not buy a new budget.
    await hit(app, '192.0.2.99, 203.0.113.10').expect(429);
    await hit(app, '192.0.2.98, 203.0.113.10').expect(429);
  });

  it('keys IPv6 clients by their /56', async () => {
    const { app } = buildApp({ rateLimitMax: 2, trustProxy: 1 });
    await hit(app, '2001:db8:aa:100::1').expect(415);
    await hit(app, '2001:db8:aa:1ff::2').expect(415);
    // Same /56 (2001:db8:aa:100::/56), different /64: same client.
    await hit(app, '2001:db8:aa:1ab::3').expect(429);
    // Next /56: someone else.
    await hit(app, '2001:db8:aa:200::1').expect(415);
  });
});
