import { once } from 'node:events';
import fs from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { STATUS_CODES, createServer, request as httpRequest, type Server } from 'node:http';
import os from 'node:os';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import multer from 'multer';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { errorHandler, uploadTooLargeMessage } from '../../src/web/errors.js';
import {
  type BodyBound,
  BUSBOY_MAX_PART_HEADER_BYTES,
  bodyBoundOf,
  FORM_SHAPE,
  formOverheadBytes,
  scrapeUpload,
  uploadLimits,
} from '../../src/web/upload.js';
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

/** A plain TCP client on loopback: bytes out exactly as given, everything the server sends kept. */
interface RawClient {
  socket: Socket;
  /** Everything received so far, as latin1. */
  received(): string;
  /** Resolves when the connection is gone (the server closed or reset it), with how it ended. */
  closed: Promise<{ error: string | null }>;
  /** Bytes written by the test so far. */
  sent(): number;
  write(data: string | Buffer): Promise<boolean>;
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let sent = 0;
  let error: string | null = null;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => {
    error = err.code ?? err.message;
  });
  const closed = new Promise<{ error: string | null }>((resolve) => socket.once('close', () => resolve({ error })));
  return {
    socket,
    received: () => Buffer.concat(chunks).toString('latin1'),
    closed,
    sent: () => sent,
    write: (data) =>
      new Promise((resolve) => {
        if (socket.destroyed || !socket.writable) {
          resolve(false);
          return;
        }
        const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
        socket.write(data, (err) => {
          if (!err) sent += size;
          resolve(!err);
        });
      }),
  };
}

/** One HTTP/1.1 chunk of chunked transfer coding (RFC 9112 §7.1). */
function chunkOf(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('the whole request body is bounded, not only the file part', () => {
  /** A small file limit, so the bound (file + form overhead) is small enough to cross quickly. */
  const MAX_UPLOAD = 4096;
  const limits = uploadLimits(MAX_UPLOAD, 16 * 1024);
  const bound = bodyBoundOf(limits);
  /** Longest wait for an answer or a close: a refusal that hangs fails here, not at vitest's timeout. */
  const WITHIN_MS = 5000;
  const { app } = buildApp({ maxUploadBytes: MAX_UPLOAD });
  const torrent = makeTorrent({ name: 'bounded' });
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  /** A well-formed form with the torrent, after a multipart preamble of `preambleBytes` (RFC 2046 lets one precede the first boundary). */
  function formWithPreamble(preambleBytes: number): Buffer {
    return Buffer.concat([
      Buffer.alloc(preambleBytes, 0x78),
      Buffer.from('\r\n--B\r\nContent-Disposition: form-data; name="torrent"; filename="a.torrent"\r\n\r\n'),
      torrent.bytes,
      Buffer.from('\r\n--B--\r\n'),
    ]);
  }

  it('the bound is the file limit plus a named form-overhead allowance derived from the other limits', () => {
    expect(formOverheadBytes(limits)).toBe(
      FORM_SHAPE.parts * (BUSBOY_MAX_PART_HEADER_BYTES + 78) + FORM_SHAPE.fields * limits.fieldSize + 78,
    );
    expect(bound.maxBodyBytes).toBe(MAX_UPLOAD + formOverheadBytes(limits));
    // The default deployment: 10 MiB files, about 160 KiB of form around them (nginx's 11m leaves room).
    expect(bodyBoundOf(uploadLimits(10 * MIB, 16 * 1024)).maxBodyBytes).toBeLessThan(10.25 * MIB);
  });

  it('a multipart preamble that takes the body over the bound is refused before parsing: the 413 a too-large file gets', async () => {
    // Busboy skips a preamble: with a small one the torrent is read as usual (so the bound is what refuses below).
    const small = await postMultipart(app, 'B', formWithPreamble(1024)).expect(200);
    expect(small.body.torrent.infoHash).toBe(torrent.infoHash);

    const huge = formWithPreamble(bound.maxBodyBytes);
    const json = await postMultipart(app, 'B', huge).expect(413);
    const file = await request(app)
      .post('/scrape')
      .set('Accept', JSON_ACCEPT)
      .attach('torrent', Buffer.concat([torrent.bytes, Buffer.alloc(MAX_UPLOAD)]), 'big.torrent')
      .expect(413);
    expect(json.body).toEqual(file.body);
    expect(json.body).toEqual({ error: { code: 'UPLOAD_TOO_LARGE', message: uploadTooLargeMessage(MAX_UPLOAD) } });
    const page = await postMultipart(app, 'B', huge).set('Accept', 'text/html').expect(413).expect('Content-Type', /text\/html/);
    expect(page.text).toContain('<h1>Too large</h1>');
    expect(page.text).toContain('The file is larger than the 4.00 KiB limit.');
  });

  it('a declared Content-Length over the bound is answered before any body is sent, and the connection closed', async () => {
    const client = await rawClient(port);
    await client.write(
      [
        'POST /scrape HTTP/1.1',
        'Host: 127.0.0.1',
        'Accept: application/json',
        'Content-Type: multipart/form-data; boundary=B',
        `Content-Length: ${200 * MIB}`,
        '',
        '',
      ].join('\r\n'),
    );
    // Not one byte of the 200 MB is sent: the answer can only come from the headers.
    const { error } = await withTimeout(client.closed, WITHIN_MS, 'close after the 413');
    const answer = client.received();
    expect(answer).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(answer).toContain('"code":"UPLOAD_TOO_LARGE"');
    expect(error).toBeNull();
  });

  it('a chunked body (no Content-Length) is counted as it streams and refused at the same bound', async () => {
    // Under the bound, chunked uploads work as ever.
    const ok = await chunkedPost(formWithPreamble(0), 1000);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).torrent.infoHash).toBe(torrent.infoHash);
    // Over it by a little: the same 413, as a whole answer on a connection that stays usable.
    const over = await chunkedPost(formWithPreamble(bound.maxBodyBytes), 16 * 1024);
    expect(over.status).toBe(413);
    expect(JSON.parse(over.body)).toEqual({ error: { code: 'UPLOAD_TOO_LARGE', message: uploadTooLargeMessage(MAX_UPLOAD) } });
  });

  it('a chunked body that never ends gets the 413 and then a closed connection, not an endless read', async () => {
    const client = await rawClient(port);
    await client.write(
      ['POST /scrape HTTP/1.1', 'Host: 127.0.0.1', 'Accept: application/json', 'Content-Type: multipart/form-data; boundary=B', 'Transfer-Encoding: chunked', '', ''].join('\r\n'),
    );
    const chunk = chunkOf(Buffer.alloc(64 * 1024, 0x78));
    /** Far more than the server may read (bound + linger) plus what loopback socket buffers hold. */
    const giveUpAfter = 64 * MIB;
    const started = performance.now();
    let gone = false;
    void client.closed.then(() => {
      gone = true;
    });
    while (!gone && client.sent() < giveUpAfter && performance.now() - started < WITHIN_MS) {
      if (!(await client.write(chunk))) break;
    }
    await withTimeout(client.closed, WITHIN_MS, 'server closing the endless upload');
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(client.received()).toContain('"code":"UPLOAD_TOO_LARGE"');
    expect(client.sent()).toBeLessThan(giveUpAfter);
  });

  it('the app still answers after all of that', async () => {
    await request(app).get('/healthz').expect(200);
  });

  /** POST a body with chunked transfer coding (no Content-Length), `chunkBytes` at a time. */
  function chunkedPost(body: Buffer, chunkBytes: number): Promise<{ status: number; body: string }> {
    return withTimeout(
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/scrape',
            method: 'POST',
            headers: { Accept: JSON_ACCEPT, 'Content-Type': 'multipart/form-data; boundary=B', 'Transfer-Encoding': 'chunked' },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          },
        );
        req.on('error', reject);
        for (let at = 0; at < body.length; at += chunkBytes) req.write(body.subarray(at, at + chunkBytes));
        req.end();
      }),
      WITHIN_MS,
      'chunked POST',
    );
  }
});

describe('a refusal before anything reads the body closes the connection instead of draining it', () => {
  /** Far more than any bound: were it drained, this test would push it all through loopback. */
  const DECLARED_BYTES = 500_000_000;
  /** Most a refused client may get to send before the server closes (socket buffers, not the body). */
  const MOST_SENT_BYTES = 16 * MIB;
  const WITHIN_MS = 5000;
  const CHUNK = Buffer.alloc(64 * 1024, 0x78);
  const { app } = buildApp({ rateLimitMax: 1 });
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    // Spend the one request of the budget, so the next POST /scrape meets the rate limiter first.
    await request(server).get('/scrape?magnet=zz').expect(400);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  /** Sends headers declaring a huge body, then body bytes until the server closes or MOST_SENT_BYTES is passed. */
  async function refusedWhileSending(method: string, path: string): Promise<{ status: string; sent: number; connection: string }> {
    const client = await rawClient(port);
    await client.write(
      [
        `${method} ${path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Content-Type: multipart/form-data; boundary=B',
        `Content-Length: ${DECLARED_BYTES}`,
        '',
        '',
      ].join('\r\n'),
    );
    let gone = false;
    void client.closed.then(() => {
      gone = true;
    });
    while (!gone && client.sent() < MOST_SENT_BYTES) {
      if (!(await client.write(CHUNK))) break;
    }
    await withTimeout(client.closed, WITHIN_MS, `${method} ${path}: connection close`);
    const head = client.received();
    return {
      status: head.slice(0, head.indexOf('\r\n')),
      sent: client.sent(),
      connection: /\r\nconnection: ([^\r]*)/i.exec(head)?.[1] ?? '',
    };
  }

  it('429 from the rate limiter, 405 and 404 each answer and close, reading next to nothing', async () => {
    for (const [method, path, status] of [
      ['POST', '/scrape', '429'],
      ['POST', '/', '405'],
      ['POST', '/nope', '404'],
    ] as const) {
      const refused = await refusedWhileSending(method, path);
      expect(refused.status).toBe(`HTTP/1.1 ${status} ${STATUS_CODES[Number(status)]}`);
      expect(refused.connection.toLowerCase()).toBe('close');
      expect(refused.sent).toBeLessThan(MOST_SENT_BYTES);
    }
  });

  it('a bodiless request still keeps its connection after a 404 (a pipelined one is answered)', async () => {
    const client = await rawClient(port);
    await client.write('GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await withTimeout(client.closed, WITHIN_MS, 'pipelined GETs');
    const statuses = [...client.received().matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['404', '200']);
  });
});

describe('after a refusal, lingering is bounded in time as well as in bytes', () => {
  let server: Server;
  let port: number;
  const limits = uploadLimits(1024, 1024);
  /** Bytes would allow a long drip; the clock must end it. */
  const bound: BodyBound = { maxBodyBytes: 8 * 1024, lingerBytes: 64 * MIB, lingerMs: 300 };

  beforeAll(async () => {
    const app = express();
    app.post('/scrape', scrapeUpload(limits, bound), (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorHandler(pino({ level: 'silent' }), { maxUploadBytes: 1024, maxMagnetBytes: 1024 }));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  });

  it('a client dripping bytes after its 413 is cut off about lingerMs later', async () => {
    const client = await rawClient(port);
    await client.write(
      ['POST /scrape HTTP/1.1', 'Host: 127.0.0.1', 'Accept: application/json', 'Content-Type: multipart/form-data; boundary=B', 'Transfer-Encoding: chunked', '', ''].join('\r\n'),
    );
    await client.write(chunkOf(Buffer.alloc(bound.maxBodyBytes + 1, 0x78)));
    const refusedAt = performance.now();
    let gone = false;
    void client.closed.then(() => {
      gone = true;
    });
    /** Far past lingerMs: the drip would go on this long if nothing cut it. */
    const dripForMs = 5000;
    while (!gone && performance.now() - refusedAt < dripForMs) {
      await client.write(chunkOf(Buffer.from('x')));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await withTimeout(client.closed, dripForMs, 'cut after lingerMs');
    const lasted = performance.now() - refusedAt;
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(lasted).toBeGreaterThanOrEqual(bound.lingerMs - 50);
    expect(lasted).toBeLessThan(bound.lingerMs + 1500);
  });

  it('a compressed body is refused on its header alone (415, Accept-Encoding: identity), the connection stays clean', async () => {
    const client = await rawClient(port);
    const body = 'x'.repeat(100);
    await client.write(
      [
        'POST /scrape HTTP/1.1',
        'Host: 127.0.0.1',
        'Accept: application/json',
        'Content-Type: multipart/form-data; boundary=B',
        'Content-Encoding: gzip',
        `Content-Length: ${body.length}`,
        '',
        body,
      ].join('\r\n'),
    );
    // The small body is read and dropped, so the same connection serves the next request.
    await client.write(['POST /scrape HTTP/1.1', 'Host: 127.0.0.1', 'Accept: application/json', 'Content-Length: 0', 'Connection: close', '', ''].join('\r\n'));
    await withTimeout(client.closed, 5000, 'both answers');
    const answers = client.received().match(/HTTP\/1\.1 \d{3}/g);
    expect(answers).toEqual(['HTTP/1.1 415', 'HTTP/1.1 415']);
    expect(client.received()).toContain('"code":"UPLOAD_COMPRESSED"');
    expect(client.received()).toMatch(/\r\nAccept-Encoding: identity\r\n/i);
    expect(client.received()).toContain('"code":"UPLOAD_NOT_MULTIPART"');
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
