import fs from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import multer from 'multer';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BUSBOY_MAX_PART_HEADER_BYTES, FORM_SHAPE } from '../../src/web/upload.js';
import { buildApp, makeTorrent } from './support.js';

/**
 * The edges of the web app an attacker pokes at first: what an upload leaves behind, the multipart
 * parser's limits, the static file route, odd methods, and the container it ships in.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const JSON_ACCEPT = 'application/json';
const MIB = 1024 * 1024;

/** A multipart body of the given raw parts (each: header lines and a value). */
function multipart(boundary: string, parts: { headers: string[]; value: string }[]): string {
  const body = parts.map((part) => `--${boundary}\r\n${part.headers.join('\r\n')}\r\n\r\n${part.value}\r\n`).join('');
  return `${body}--${boundary}--\r\n`;
}

function postMultipart(app: Parameters<typeof request>[0], boundary: string, body: string | Buffer) {
  return request(app).post('/scrape').set('Accept', JSON_ACCEPT).set('Content-Type', `multipart/form-data; boundary=${boundary}`).send(body);
}

describe('an upload leaves nothing on disk', () => {
  /** os.tmpdir() follows TMPDIR: pointed at an empty directory of our own, any spill shows up there. */
  const saved = { TMPDIR: process.env.TMPDIR, TMP: process.env.TMP, TEMP: process.env.TEMP };
  let privateTmp: string;
  const spies: { name: string; spy: ReturnType<typeof vi.spyOn> }[] = [];
  let memoryStorage: ReturnType<typeof vi.spyOn>;
  let diskStorage: ReturnType<typeof vi.spyOn>;
  let app: ReturnType<typeof buildApp>['app'];

  beforeAll(async () => {
    privateTmp = await mkdtemp(join(os.tmpdir(), 'trackerscope-hardening-'));
    process.env.TMPDIR = privateTmp;
    process.env.TMP = privateTmp;
    process.env.TEMP = privateTmp;
    expect(os.tmpdir()).toBe(privateTmp);
    memoryStorage = vi.spyOn(multer, 'memoryStorage');
    diskStorage = vi.spyOn(multer, 'diskStorage');
    app = buildApp({ maxUploadBytes: 8 * MIB }).app;
    // Every way node:fs writes a file, watched from here on.
    for (const name of ['createWriteStream', 'writeFile', 'writeFileSync', 'appendFile', 'appendFileSync', 'mkdtemp', 'mkdtempSync'] as const) {
      spies.push({ name, spy: vi.spyOn(fs, name) });
    }
    spies.push({ name: 'promises.writeFile', spy: vi.spyOn(fs.promises, 'writeFile') });
    spies.push({ name: 'promises.open', spy: vi.spyOn(fs.promises, 'open') });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await rm(privateTmp, { recursive: true, force: true });
  });

  it('multer keeps uploads in memory (memoryStorage, never diskStorage)', () => {
    expect(memoryStorage).toHaveBeenCalled();
    expect(diskStorage).not.toHaveBeenCalled();
  });

  it('a 5 MiB upload, a refused oversize one and a cut-short one write nothing', async () => {
    const before = await readdir(os.tmpdir());
    // A real torrent followed by 5 MiB of padding (trailing bytes are accepted with a warning).
    const torrent = makeTorrent({ name: 'big upload' });
    const padded = Buffer.concat([torrent.bytes, Buffer.alloc(5 * MIB, 0x78)]);
    const ok = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).attach('torrent', padded, 'big.torrent').expect(200);
    expect(ok.body.torrent.infoHash).toBe(torrent.infoHash);

    const oversize = Buffer.concat([torrent.bytes, Buffer.alloc(9 * MIB, 0x78)]);
    const tooBig = await request(app).post('/scrape').set('Accept', JSON_ACCEPT).attach('torrent', oversize, 'huge.torrent');
    expect(tooBig.status).toBe(413);

    const cut = `--B\r\nContent-Disposition: form-data; name="torrent"; filename="a.torrent"\r\n\r\n${torrent.bytes.toString('latin1')}`;
    const malformed = await postMultipart(app, 'B', cut);
    expect(malformed.status).toBe(400);

    expect(await readdir(os.tmpdir())).toEqual(before);
    expect(before).toEqual([]);
    for (const { name, spy } of spies) expect(spy, `fs.${name}`).not.toHaveBeenCalled();
  });
});

describe('multipart parser limits answer 4xx, never 500', () => {
  const { app } = buildApp();

  it(`more than ${FORM_SHAPE.parts} parts (parts that are neither field nor file count too) is a 400`, async () => {
    // Parts without Content-Disposition are skipped by busboy, so they hit neither the fields nor
    // the files limit: only `parts` stops them.
    const blank = { headers: ['Content-Type: text/plain'], value: 'x' };
    const atLimit = await postMultipart(app, 'B', multipart('B', Array(FORM_SHAPE.parts).fill(blank)));
    expect(atLimit.status).toBe(400);
    expect(atLimit.body.error.code).toBe('UPLOAD_NO_INPUT');
    const over = await postMultipart(app, 'B', multipart('B', Array(FORM_SHAPE.parts + 1).fill(blank)));
    expect(over.status).toBe(400);
    expect(over.body.error).toEqual({ code: 'UPLOAD_FORM_LIMIT', message: expect.stringContaining('too many parts') });
  });

  it(`more than ${FORM_SHAPE.files} file is a 400, whatever the second file's field`, async () => {
    const torrent = makeTorrent();
    for (const secondField of ['torrent', 'other']) {
      const body = Buffer.concat([
        Buffer.from(`--B\r\nContent-Disposition: form-data; name="torrent"; filename="a.torrent"\r\nContent-Type: application/x-bittorrent\r\n\r\n`),
        torrent.bytes,
        Buffer.from(`\r\n--B\r\nContent-Disposition: form-data; name="${secondField}"; filename="b.torrent"\r\n\r\n`),
        torrent.bytes,
        Buffer.from('\r\n--B--\r\n'),
      ]);
      const res = await postMultipart(app, 'B', body);
      expect(res.status, secondField).toBe(400);
      expect(res.body.error.code, secondField).toBe('UPLOAD_TOO_MANY_FILES');
    }
  });

  /** Longest wait for one of the requests below: a parser that loops or stalls fails here, not at vitest's timeout. */
  const ANSWER_WITHIN_MS = 5000;
  const hash = 'c'.repeat(40);
  const DISPOSITION = 'Content-Disposition: form-data; name="magnet"';
  const CRLF = '\r\n';
  /** The shortest header line there is: a one-letter name and an empty value. */
  const SHORTEST_LINE = 'a:';

  /** A magnet part with these extra header lines. */
  function partWithHeaders(lines: string[]): string {
    return multipart('B', [{ headers: [DISPOSITION, ...lines], value: hash }]);
  }

  /** A magnet part whose header block (its lines and the empty line ending it) is exactly `bytes` long on the wire. */
  function partWithHeaderBlock(bytes: number): string {
    const prefix = 'X-Long: ';
    const filler = bytes - (DISPOSITION.length + CRLF.length) - (prefix.length + CRLF.length) - CRLF.length;
    const body = partWithHeaders([`${prefix}${'v'.repeat(filler)}`]);
    const blockStart = body.indexOf(CRLF) + CRLF.length;
    expect(body.indexOf(CRLF + CRLF, blockStart) + 2 * CRLF.length - blockStart).toBe(bytes);
    return body;
  }

  function post(body: string) {
    return postMultipart(app, 'B', body).timeout(ANSWER_WITHIN_MS);
  }

  it('header lines past headerPairs are not refused: busboy 1.6 does not apply the limit', async () => {
    const some = await post(partWithHeaders(Array.from({ length: FORM_SHAPE.headerPairs + 10 }, (_, i) => `X-Filler-${i}: v`)));
    expect(some.status).toBe(200);
    // More than busboy's own 2,000 pairs, still inside its size limit: parsed to the end (the pairs
    // past 1,999 dropped) and the form read.
    const thousands = await post(partWithHeaders(Array(2500).fill(SHORTEST_LINE)));
    expect(thousands.status).toBe(200);
    expect(thousands.body.torrent.infoHash).toBe(hash);
  });

  it(`a part's header block is bounded at ${BUSBOY_MAX_PART_HEADER_BYTES} bytes: past it, a clean 400`, async () => {
    expect((await post(partWithHeaderBlock(BUSBOY_MAX_PART_HEADER_BYTES - 64))).status).toBe(200);
    const over = await post(partWithHeaderBlock(BUSBOY_MAX_PART_HEADER_BYTES));
    expect(over.status).toBe(400);
    expect(over.body.error).toEqual({ code: 'UPLOAD_MALFORMED', message: expect.stringContaining('Malformed part header') });
  });

  it('a part with very many header lines is a clean 400, not a 500 and not a hang', async () => {
    // Enough of the shortest lines to pass the size limit however busboy counts them.
    const enough = Math.ceil(BUSBOY_MAX_PART_HEADER_BYTES / (SHORTEST_LINE.length + CRLF.length)) + 1;
    for (const count of [enough, 100_000]) {
      const started = performance.now();
      const res = await post(partWithHeaders(Array(count).fill(SHORTEST_LINE)));
      expect(res.status, `${count} lines`).toBe(400);
      expect(res.body.error, `${count} lines`).toEqual({ code: 'UPLOAD_MALFORMED', message: expect.stringContaining('Malformed part header') });
      expect(performance.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
    }
    // The same in the page a browser would get.
    const page = await postMultipart(app, 'B', partWithHeaders(Array(enough).fill(SHORTEST_LINE)))
      .set('Accept', 'text/html')
      .timeout(ANSWER_WITHIN_MS);
    expect(page.status).toBe(400);
    expect(page.text).toContain('Malformed part header');
  });

  it('the app still answers after all of that', async () => {
    await request(app).get('/healthz').expect(200);
  });
});

describe('static files and odd requests', () => {
  let server: Server;
  let port: number;
  const { app } = buildApp();

  beforeAll(async () => {
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  /** A request whose target goes on the wire exactly as written (no URL normalisation on our side). */
  function raw(method: string, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves the stylesheet (so the refusals below are not just a broken route)', async () => {
    const res = await raw('GET', '/static/style.css');
    expect(res.status).toBe(200);
    expect(res.body).toBe(await readFile(join(ROOT, 'public/style.css'), 'utf8'));
  });

  it.each([
    // Only public/ is served: the project root is not one misconfiguration away.
    '/static/package.json',
    '/static/../package.json',
    '/static/style.css/../../package.json',
    '/style.css/../../package.json',
    '/static/%2e%2e/package.json',
    '/%2e%2e/package.json',
    '/static/.%2e/package.json',
    '/static/%2e%2e%2fpackage.json',
    '/static/..%2f..%2fpackage.json',
    '/static/..%5cpackage.json',
    '/static/..%5c..%5cpackage.json',
    '/static/%2e%2e%5cpackage.json',
    '/static/..\\..\\package.json',
    '/static/%252e%252e/package.json',
    '/static/%c0%ae%c0%ae/package.json',
    '/static/..;/package.json',
    '/static/style.css%00/../../package.json',
    '/static/%2e%2e/src/server.ts',
    '/static/%2e%2e/views/layout.ejs',
    '/static/%2fetc%2fpasswd',
    '/static//etc/passwd',
    '/static/%E0%A4%A',
  ])('GET %s is a 404/400 and never a file', async (path) => {
    const res = await raw('GET', path);
    expect([400, 404]).toContain(res.status);
    expect(res.body).not.toContain('"devDependencies"');
    expect(res.body).not.toContain('readConfigOrExit');
    expect(res.body).not.toContain('<%');
    expect(res.body).not.toMatch(/^root:/m);
  });

  it.each([
    ['OPTIONS', '/', 204],
    ['HEAD', '/', 200],
    ['OPTIONS', '/scrape', 204],
    // No magnet: the same 400 a GET gets, without its body.
    ['HEAD', '/scrape', 400],
    ['HEAD', '/healthz', 200],
    ['TRACE', '/', 405],
    ['PROPFIND', '/', 405],
    ['DELETE', '/scrape', 405],
    ['MKCOL', '/static/style.css', 405],
    ['PROPFIND', '/nope', 404],
  ])('%s %s answers %i', async (method, path, status) => {
    const res = await raw(method, path);
    expect(res.status).toBe(status);
    if (method === 'HEAD' || status === 204) expect(res.body).toBe('');
  });

  it('HEAD / is the home page without its body', async () => {
    const res = await request(app).head('/').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text ?? '').toBe('');
  });
});

describe('Dockerfile', () => {
  interface Instruction {
    keyword: string;
    args: string;
  }
  interface Stage {
    image: string;
    name: string | null;
    instructions: Instruction[];
  }

  /** Instructions (continuation lines joined, comments dropped), grouped by FROM. */
  async function stages(): Promise<Stage[]> {
    const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const logical = text
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n')
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
    const found: Stage[] = [];
    for (const line of logical) {
      const [keyword = '', ...rest] = line.split(/\s+/);
      const args = rest.join(' ');
      if (keyword.toUpperCase() === 'FROM') {
        const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
        found.push({ image: from?.[1] ?? '', name: from?.[2] ?? null, instructions: [] });
      } else {
        found.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
      }
    }
    return found;
  }

  it('is multi-stage: named build stages, the runtime copies only their results', async () => {
    const all = await stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const stage of all) expect(stage.name, `FROM ${stage.image}`).toMatch(/^[a-z][\w-]*$/);
    const runtime = all.at(-1)!;
    const copiesFrom = runtime.instructions
      .filter((i) => i.keyword === 'COPY' && i.args.includes('--from='))
      .map((i) => /--from=(\S+)/.exec(i.args)?.[1]);
    expect(copiesFrom.length).toBeGreaterThan(0);
    for (const source of copiesFrom) expect(all.slice(0, -1).map((s) => s.name)).toContain(source);
    // Nothing that builds or installs dev tooling runs in the image that ships.
    for (const i of runtime.instructions) {
      if (i.keyword === 'RUN') expect(i.args).not.toMatch(/npm (ci|install)(?![^&]*--omit=dev)/);
      if (i.keyword === 'COPY') expect(i.args).not.toMatch(/^\.\s+\.$|^\.\s+\.\/?\s*$/);
    }
  });

  it('installs the shipped node_modules with --omit=dev', async () => {
    const all = await stages();
    const runtime = all.at(-1)!;
    const modules = runtime.instructions.find((i) => i.keyword === 'COPY' && /--from=\S+\s+\S*node_modules/.test(i.args));
    expect(modules, 'the runtime copies node_modules from a stage').toBeDefined();
    const source = all.find((s) => s.name === /--from=(\S+)/.exec(modules!.args)?.[1]);
    const install = source?.instructions.find((i) => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args));
    expect(install?.args).toMatch(/--omit=dev/);
  });

  it('runs as a non-root user, checks its health and starts node directly', async () => {
    const runtime = (await stages()).at(-1)!;
    const users = runtime.instructions.filter((i) => i.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const lastUser = users.at(-1)!.args.split(':')[0];
    expect(['root', '0', '']).not.toContain(lastUser);
    const order = runtime.instructions.map((i) => i.keyword);
    expect(order.lastIndexOf('USER')).toBeLessThan(order.indexOf('CMD'));
    const health = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    expect(health?.args).toMatch(/--interval=\d+s/);
    expect(health?.args).toContain('/healthz');
    // Exec form with node itself: `npm start` would stand between SIGTERM and the server.
    expect(runtime.instructions.find((i) => i.keyword === 'CMD')?.args).toMatch(/^\["node",/);
  });
});
