import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/** The real entry point in a child process: start-up errors, logging and graceful shutdown. */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Longest wait for the child to start listening or to exit (tsx compiles on the fly). */
const CHILD_TIMEOUT_MS = 15_000;

interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const servers: Server[] = [];
const openSockets: Socket[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const socket of openSockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await new Promise((r) => server.close(() => r(undefined)));
});

function startServer(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  proc.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString('utf8')));
  proc.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, stdout, stderr, exited };
}

function logLines(child: Child): Record<string, unknown>[] {
  return child.stdout
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = CHILD_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function listeningPort(child: Child): Promise<number> {
  return waitFor('the server to listen', () => {
    const line = logLines(child).find((l) => typeof l.msg === 'string' && l.msg.startsWith('trackerscope listening'));
    return line ? (line.port as number) : undefined;
  });
}

function withTimeout<T>(promise: Promise<T>, ms = CHILD_TIMEOUT_MS): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

/** A "tracker" that accepts connections and never answers: scrapes to it run until the deadline. */
async function startBlackHole(): Promise<number> {
  const server = createServer((socket) => openSockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('src/server.ts', () => {
  it('refuses a bad config with the variable named, exit code 1 and no stack trace', async () => {
    const child = startServer({ TRUST_PROXY: 'true' });
    expect(await withTimeout(child.exited)).toBe(1);
    const stderr = child.stderr.join('');
    expect(stderr).toMatch(/^trackerscope: invalid configuration: TRUST_PROXY: true is refused/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('says clearly when the port is taken', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    servers.push(blocker);
    const port = (blocker.address() as { port: number }).port;
    const child = startServer({ PORT: String(port) });
    expect(await withTimeout(child.exited)).toBe(1);
    expect(child.stdout.join('')).toContain(`port ${port} on 127.0.0.1 is already in use`);
  });

  it('answers a stalled upload with 408 within about REQUEST_TIMEOUT_MS, not at the next 30 s check', async () => {
    const requestTimeoutMs = 1000;
    /** src/server.ts checks deadlines every second; Node's default would be every 30 s. */
    const checkIntervalMs = 1000;
    const slackMs = 750;
    const child = startServer({ REQUEST_TIMEOUT_MS: String(requestTimeoutMs) });
    const port = await listeningPort(child);

    const socket = connect(port, '127.0.0.1');
    openSockets.push(socket);
    await once(socket, 'connect');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = once(socket, 'close');
    const started = Date.now();
    // Headers promising a body, then a third of the body, then nothing: a slowloris upload.
    socket.write(
      [
        'POST /scrape HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Content-Type: multipart/form-data; boundary=STALL',
        'Content-Length: 3000',
        '',
        '--STALL\r\nContent-Disposition: form-data; name="torrent"; filename="a.torrent"\r\n\r\nd8:announce',
      ].join('\r\n'),
    );
    await withTimeout(closed, requestTimeoutMs + checkIntervalMs + 3000);
    const elapsed = Date.now() - started;
    expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(elapsed).toBeGreaterThanOrEqual(requestTimeoutMs - 50);
    expect(elapsed).toBeLessThan(requestTimeoutMs + checkIntervalMs + slackMs);
  });

  it('logs one line per request and, on SIGTERM, finishes the request in flight, then exits 0', async () => {
    const blackHole = await startBlackHole();
    const scrapeTimeoutMs = 1500;
    const child = startServer({ ALLOW_PRIVATE_TRACKERS: '1', SCRAPE_TIMEOUT_MS: String(scrapeTimeoutMs) });
    const port = await listeningPort(child);
    const base = `http://127.0.0.1:${port}`;

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);

    const magnet = `magnet:?xt=urn:btih:${'c'.repeat(40)}&tr=${encodeURIComponent(`http://127.0.0.1:${blackHole}/announce?passkey=NOTINLOGS99`)}`;
    const form = new FormData();
    form.set('magnet', magnet);
    const started = Date.now();
    const inFlight = fetch(`${base}/scrape`, { method: 'POST', body: form, headers: { Accept: 'application/json' } });
    await new Promise((r) => setTimeout(r, 300));
    child.proc.kill('SIGTERM');

    const res = await inFlight;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { trackers: { status: string }[] };
    expect(body.trackers[0]?.status).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(scrapeTimeoutMs - 100);

    expect(await withTimeout(child.exited)).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();

    const lines = logLines(child);
    expect(lines.some((l) => l.msg === 'shutting down: no new connections, finishing requests in flight')).toBe(true);
    expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
    const requests = lines.filter((l) => l.req !== undefined && l.res !== undefined);
    expect(requests.map((l) => l.msg)).toEqual(['POST /scrape 200']);
    expect(requests[0]).toMatchObject({ level: 30, req: { method: 'POST', url: '/scrape', remoteAddress: '127.0.0.1' } });
    expect(child.stdout.join('')).not.toContain('NOTINLOGS99');
  });
});
