import { createHash } from 'node:crypto';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { encode } from '../../src/bencode/index.js';

/** A node:http server on loopback that the tests script, counting what reaches it. */
export interface TestHttpServer {
  server: Server;
  port: number;
  /** `http://127.0.0.1:PORT` or `http://[::1]:PORT` */
  origin: string;
  /** Raw request targets (path + query, exactly as received). */
  requests: string[];
  /** Raw `user-agent` headers, in request order. */
  userAgents: (string | undefined)[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Start an HTTP server on loopback, 127.0.0.1 unless `::1` is asked for (port chosen by the OS). */
export async function startHttpServer(handler: Handler, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<TestHttpServer> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const userAgents: (string | undefined)[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    userAgents.push(req.headers['user-agent']);
    handler(req, res);
  });
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A scripted server may stop answering on purpose; the client may then cut the socket.
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    origin: host === '::1' ? `http://[::1]:${port}` : `http://127.0.0.1:${port}`,
    requests,
    userAgents,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface ScrapeEntry {
  hash: Uint8Array;
  complete: number;
  incomplete: number;
  downloaded: number;
  downloaders?: number;
}

/** A well-formed BEP 48 scrape reply (files keyed by the raw 20-byte hash). */
export function scrapeReplyBytes(entries: ScrapeEntry[], extra: Record<string, Uint8Array | Map<string, number>> = {}): Buffer {
  const files = new Map<string, Map<string, number>>();
  for (const e of entries) {
    const stats = new Map<string, number>([
      ['complete', e.complete],
      ['incomplete', e.incomplete],
      ['downloaded', e.downloaded],
    ]);
    if (e.downloaders !== undefined) stats.set('downloaders', e.downloaders);
    files.set(Buffer.from(e.hash).toString('latin1'), stats);
  }
  const top = new Map<string, Map<string, Map<string, number>> | Uint8Array | Map<string, number>>([['files', files]]);
  for (const [key, value] of Object.entries(extra)) top.set(key, value);
  return encode(top);
}

/** Reply with fixed bytes and headers. */
export function replyWith(body: Uint8Array | string, headers: Record<string, string> = {}, status = 200): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };
}

/** Read every `info_hash` parameter of a request target as raw bytes (percent-decoded by byte). */
export function infoHashesOf(target: string): Buffer[] {
  const query = target.split('?').slice(1).join('?');
  return query
    .split('&')
    .filter((pair) => pair.startsWith('info_hash='))
    .map((pair) => percentDecodeBytes(pair.slice('info_hash='.length)));
}

function percentDecodeBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

// ---------------------------------------------------------------------------------------------
// bittorrent-tracker (the WebTorrent project's tracker) in-process, on loopback only

export interface RunningBittorrentTracker {
  port: number;
  /** `http://127.0.0.1:PORT` (also `ws://` when started with `ws: true`). */
  origin: string;
  /** Warnings the server emitted (malformed requests it refused). */
  warnings: Error[];
  /** Announce one peer over HTTP: `left: 0` makes it a seeder, anything else a leecher. */
  announce(hash: Uint8Array, peer: { port: number; left: number; event?: 'started' | 'completed' | 'stopped' }): Promise<void>;
  close(): Promise<void>;
}

export async function startBittorrentTracker(opts: { ws?: boolean; intervalMs?: number } = {}): Promise<RunningBittorrentTracker> {
  const { Server } = await import('bittorrent-tracker');
  const server = new Server({ http: true, udp: false, ws: opts.ws ?? false, stats: false, interval: opts.intervalMs });
  const warnings: Error[] = [];
  server.on('warning', (err) => warnings.push(err));
  await new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, { http: '127.0.0.1' }, resolve);
  });
  const { port } = server.http!.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    port,
    origin,
    warnings,
    announce: (hash, peer) => announceOverHttp(`${origin}/announce`, hash, peer),
    close: () =>
      new Promise<void>((resolve) => {
        // A scrape client may keep a connection alive; closing must not wait for it.
        server.http?.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A raw BEP 3 announce (every info_hash byte percent-encoded), checked for a non-failure reply. */
export async function announceOverHttp(
  announceUrl: string,
  hash: Uint8Array,
  peer: { port: number; left: number; event?: 'started' | 'completed' | 'stopped' },
): Promise<void> {
  const peerId = Buffer.alloc(20, 0x2d);
  peerId.write(`-TS0001-${String(peer.port).padStart(12, '0')}`, 'latin1');
  const query = [
    `info_hash=${percentAll(hash)}`,
    `peer_id=${percentAll(peerId)}`,
    `port=${peer.port}`,
    'uploaded=0',
    'downloaded=0',
    `left=${peer.left}`,
    'compact=1',
    `event=${peer.event ?? 'started'}`,
  ].join('&');
  const body = await httpGet(`${announceUrl}?${query}`);
  if (body.includes('failure reason')) throw new Error(`announce refused: ${body}`);
}

function percentAll(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

const ANNOUNCE_TIMEOUT_MS = 5000;

/** GET over node:http to loopback (tests' own requests, outside the code under test). */
export function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // No keep-alive: opentracker closes after each reply, and a reused socket would hang up.
    // `timeout` (unlike req.setTimeout) also bounds the connect itself.
    const req = get(url, { agent: false, timeout: ANNOUNCE_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

// ---------------------------------------------------------------------------------------------
// A minimal WebSocket server (RFC 6455) on loopback for scripted WebTorrent trackers: enough for
// single-frame text messages, so the tests depend on nothing but node.

export interface WebSocketPeer {
  send(text: string | Buffer): void;
  close(): void;
}

export interface TestWebSocketServer extends TestHttpServer {
  /** `ws://127.0.0.1:PORT` */
  wsOrigin: string;
  /** Text messages received from clients. */
  messages: string[];
}

/** RFC 6455 §1.3: the GUID appended to the client's key for Sec-WebSocket-Accept. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;

export async function startWebSocketServer(
  onMessage: (text: string, peer: WebSocketPeer) => void,
  opts: { refuseHandshake?: boolean } = {},
): Promise<TestWebSocketServer> {
  const messages: string[] = [];
  const base = await startHttpServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  base.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    if (opts.refuseHandshake) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${WEBSOCKET_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    const peer: WebSocketPeer = {
      send: (text) => {
        if (!socket.destroyed) socket.write(frame(OPCODE_TEXT, Buffer.from(text)));
      },
      close: () => socket.end(frame(OPCODE_CLOSE, Buffer.alloc(0))),
    };
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let parsed = parseClientFrame(pending); parsed; parsed = parseClientFrame(pending)) {
        pending = pending.subarray(parsed.size);
        if (parsed.opcode === OPCODE_CLOSE) socket.end(frame(OPCODE_CLOSE, Buffer.alloc(0)));
        else if (parsed.opcode === OPCODE_TEXT) {
          const text = parsed.payload.toString('utf8');
          messages.push(text);
          onMessage(text, peer);
        }
      }
    });
  });
  return { ...base, wsOrigin: `ws://127.0.0.1:${base.port}`, messages };
}

/** An unmasked server-to-client frame, FIN set. */
function frame(opcode: number, payload: Buffer): Buffer {
  let header: Buffer;
  if (payload.length < 126) header = Buffer.from([0x80 | opcode, payload.length]);
  else if (payload.length < 0x10000) {
    header = Buffer.alloc(4);
    header.writeUInt8(0x80 | opcode, 0);
    header.writeUInt8(126, 1);
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header.writeUInt8(0x80 | opcode, 0);
    header.writeUInt8(127, 1);
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** One masked client frame from the front of `buf`, or null when it is not all there yet. */
function parseClientFrame(buf: Buffer): { opcode: number; payload: Buffer; size: number } | null {
  if (buf.length < 2) return null;
  const opcode = buf[0]! & 0x0f;
  let length = buf[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return null;
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return null;
    length = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (buf[1]! & 0x80) !== 0;
  const maskEnd = offset + (masked ? 4 : 0);
  if (buf.length < maskEnd + length) return null;
  const payload = Buffer.from(buf.subarray(maskEnd, maskEnd + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ buf[offset + (i % 4)]!;
  return { opcode, payload, size: maskEnd + length };
}
