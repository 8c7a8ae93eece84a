import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { accessSync, constants, chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Debian's opentracker on loopback for tests (see shared/notes/real-trackers.md): whitelist mode,
 * `-u nobody` (it refuses to run as root), chrooted into a temp dir holding the whitelist.
 * Port 0 is not supported, so free ports are picked here and a clash is retried.
 */
export interface RunningOpentracker {
  httpPort: number;
  udpPort: number;
  /** `http://127.0.0.1:PORT/announce` */
  announceUrl: string;
  stop(): Promise<void>;
}

export interface OpentrackerOptions {
  /** Info-hashes (40 hex) the tracker accepts; every other hash gets `failure reason`. */
  whitelist: string[];
  /** Most attempts at a free pair of ports. */
  maxAttempts?: number;
  /** Longest wait for the HTTP port to accept a connection. */
  readyTimeoutMs?: number;
}

const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_READY_TIMEOUT_MS = 5000;
const READY_POLL_MS = 50;
const STOP_GRACE_MS = 2000;
/** What opentracker prints when a port is taken (another process won the race for it). */
const BIND_CLASH = /Address already in use/;
const LOOPBACK = '127.0.0.1';

/** Path of the opentracker binary, or null. */
export function findOpentracker(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'opentracker');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  return null;
}

/**
 * Whether opentracker tests can run. Absent binary: skip locally, but under CI a missing system
 * binary is a broken setup and must fail loudly.
 */
export function opentrackerAvailable(): boolean {
  if (findOpentracker()) return true;
  if (process.env.CI) throw new Error('opentracker is not installed but CI is set: install it (apt-get install opentracker)');
  return false;
}

export async function startOpentracker(options: OpentrackerOptions): Promise<RunningOpentracker> {
  const bin = findOpentracker();
  if (!bin) throw new Error('opentracker is not installed');
  const dir = makeChroot(options.whitelist);
  const attempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  let lastError: Error = new Error('opentracker did not start');
  for (let attempt = 0; attempt < attempts; attempt++) {
    const httpPort = await freeTcpPort();
    const udpPort = await freeUdpPort();
    try {
      const child = await launch(bin, dir, httpPort, udpPort, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      return {
        httpPort,
        udpPort,
        announceUrl: `http://${LOOPBACK}:${httpPort}/announce`,
        stop: async () => {
          await stopChild(child);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err as Error;
      if (!BIND_CLASH.test(lastError.message)) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

/** A hash of our own, last in every whitelist, that only the readiness probe announces. */
const PROBE_HASH = createHash('sha1').update('trackerscope opentracker readiness probe').digest('hex');

function makeChroot(whitelist: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'opentracker-'));
  // opentracker drops to `nobody` after chrooting: the dir and list must be world-readable.
  chmodSync(dir, 0o755);
  const listPath = join(dir, 'wl.txt');
  writeFileSync(listPath, [...whitelist, PROBE_HASH].map((h) => `${h.toLowerCase()}\n`).join(''));
  chmodSync(listPath, 0o644);
  return dir;
}

/** Children still running: killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function launch(
  bin: string,
  dir: string,
  httpPort: number,
  udpPort: number,
  readyTimeoutMs: number,
): Promise<ChildProcess> {
  const args = ['-i', LOOPBACK, '-p', String(httpPort), '-P', String(udpPort), '-d', dir, '-w', 'wl.txt', '-u', 'nobody'];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`opentracker exited (${code ?? signal}): ${output.trim()}`)));
    child.once('error', reject);
  });
  exited.catch(() => undefined);
  try {
    const deadline = Date.now() + readyTimeoutMs;
    await Promise.race([waitForTcp(httpPort, deadline), exited]);
    await Promise.race([waitForWhitelist(httpPort, deadline), exited]);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return child;
}

async function waitForTcp(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (await tcpAnswers(port)) return;
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  throw new Error(`opentracker did not accept connections on ${LOOPBACK}:${port} in time`);
}

/**
 * opentracker reads its whitelist in a separate thread after it starts listening, so for a
 * moment every hash is "not authorized". Announcing the probe hash (its own swarm, never one a
 * test looks at) tells when the list is in; the probe peer then leaves. A `stopped` announce
 * alone would not do: opentracker skips the whitelist check for it.
 */
async function waitForWhitelist(port: number, deadline: number): Promise<void> {
  const announce = (event: string) =>
    `http://${LOOPBACK}:${port}/announce?info_hash=${PROBE_HASH.replace(/../g, '%$&')}&peer_id=${'-TSPROBE-'.padEnd(20, '0')}` +
    `&port=1&uploaded=0&downloaded=0&left=0&event=${event}`;
  while (Date.now() < deadline) {
    const body = await getText(announce('started'), deadline - Date.now()).catch(() => '');
    if (body.startsWith('d') && !body.includes('failure reason')) {
      await getText(announce('stopped'), Math.max(deadline - Date.now(), READY_POLL_MS));
      return;
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  throw new Error('opentracker did not load its whitelist in time');
}

function getText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // No keep-alive: opentracker closes the connection after each reply.
    const req = get(url, { agent: false, timeout: Math.max(timeoutMs, 1) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
  });
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port, timeout: READY_POLL_MS * 4 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, LOOPBACK, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
