import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import { pino } from 'pino';
import { type Encodable, encode } from '../../src/bencode/index.js';
import { type Config, DEFAULT_CONFIG } from '../../src/config.js';
import { ScrapeCache } from '../../src/scrape/index.js';
import { createApp } from '../../src/web/app.js';

/** Piece length of the hand-made test torrents (BEP 52's minimum, fine for v1 too). */
export const TEST_PIECE_LENGTH = 16 * 1024;

export interface TestTorrentSpec {
  name?: string;
  /** Default TEST_PIECE_LENGTH. */
  pieceLength?: number;
  /** Content of a single-file torrent (default: a few hundred bytes). */
  content?: Uint8Array;
  /** Multi-file: path elements and sizes (contents are zero bytes). */
  files?: { path: string[]; length: number }[];
  announce?: string;
  announceList?: string[][];
  private?: boolean;
  comment?: string;
  createdBy?: string;
  creationDate?: number;
  urlList?: string[];
  /** Also a v2 file tree (single file only): a hybrid torrent with two swarms. */
  hybrid?: boolean;
}

export interface TestTorrent {
  bytes: Buffer;
  /** v1 info-hash, 40 hex. */
  infoHash: string;
  infoHashBytes: Buffer;
  /** v2 info-hash (hybrid only), 64 hex. */
  infoHashV2: string | null;
  /** What trackers are asked for the v2 swarm: the SHA-256 truncated to 20 bytes. */
  infoHashV2TrackerBytes: Buffer | null;
}

function sha1(bytes: Uint8Array): Buffer {
  return createHash('sha1').update(bytes).digest();
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function v1Pieces(data: Uint8Array, pieceLength: number): Buffer {
  const hashes: Buffer[] = [];
  for (let at = 0; at < data.length; at += pieceLength) hashes.push(sha1(data.subarray(at, at + pieceLength)));
  return Buffer.concat(hashes);
}

/** Piece hashes of `total` zero bytes without holding them: every full piece hashes the same. */
function zeroPieces(total: number, pieceLength: number): Buffer {
  const full = sha1(new Uint8Array(pieceLength));
  const count = Math.ceil(total / pieceLength);
  const hashes: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const size = Math.min(pieceLength, total - i * pieceLength);
    hashes.push(size === pieceLength ? full : sha1(new Uint8Array(size)));
  }
  return Buffer.concat(hashes);
}

/**
 * A real torrent built with the project's own canonical encoder, so the info-hash is the SHA-1 of
 * exactly these `info` bytes.
 */
export function makeTorrent(spec: TestTorrentSpec = {}): TestTorrent {
  const name = spec.name ?? 'test-file.bin';
  const pieceLength = spec.pieceLength ?? TEST_PIECE_LENGTH;
  const info: Record<string, Encodable> = { name, 'piece length': pieceLength };
  if (spec.files) {
    const total = spec.files.reduce((n, f) => n + f.length, 0);
    info.files = spec.files.map((f) => ({ length: f.length, path: f.path }));
    info.pieces = zeroPieces(total, pieceLength);
  } else {
    const content = spec.content ?? Buffer.from('trackerscope test content\n'.repeat(20));
    if (spec.hybrid && content.length > TEST_PIECE_LENGTH) throw new Error('hybrid test torrents hold one block');
    info.length = content.length;
    info.pieces = v1Pieces(content, pieceLength);
    if (spec.hybrid) {
      // BEP 52: a file of one 16 KiB block has that block's SHA-256 as its pieces root and needs no
      // piece layer.
      info['meta version'] = 2;
      info['file tree'] = new Map<string, Encodable>([
        [Buffer.from(name).toString('latin1'), { '': { length: content.length, 'pieces root': sha256(content) } }],
      ]);
    }
  }
  if (spec.private) info.private = 1;
  const root: Record<string, Encodable> = { info };
  if (spec.announce) root.announce = spec.announce;
  if (spec.announceList) root['announce-list'] = spec.announceList;
  if (spec.comment !== undefined) root.comment = spec.comment;
  if (spec.createdBy !== undefined) root['created by'] = spec.createdBy;
  if (spec.creationDate !== undefined) root['creation date'] = spec.creationDate;
  if (spec.urlList) root['url-list'] = spec.urlList;
  if (spec.hybrid) root['piece layers'] = new Map();
  const infoBytes = encode(info);
  const infoHashBytes = sha1(infoBytes);
  const v2 = spec.hybrid ? sha256(infoBytes) : null;
  return {
    bytes: encode(root),
    infoHash: infoHashBytes.toString('hex'),
    infoHashBytes,
    infoHashV2: v2 ? v2.toString('hex') : null,
    infoHashV2TrackerBytes: v2 ? v2.subarray(0, 20) : null,
  };
}

/** A config for tests: loopback trackers allowed, quiet logs, a short deadline. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...DEFAULT_CONFIG,
    allowPrivateTrackers: true,
    logLevel: 'silent',
    scrapeTimeoutMs: 3000,
    rateLimitMax: 1000,
    ...overrides,
  };
}

/** Log lines the app wrote, parsed. */
export interface CapturedLogs {
  lines: Record<string, unknown>[];
  text(): string;
}

export function buildApp(
  overrides: Partial<Config> = {},
  options: { captureLogs?: boolean; cache?: ScrapeCache } = {},
): { app: Express; logs: CapturedLogs } {
  const config = testConfig(overrides);
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = options.captureLogs ? pino({ level: 'debug' }, sink) : pino({ level: 'silent' });
  const app = createApp(config, { logger, cache: options.cache ?? new ScrapeCache({ ttlMs: config.cacheTtlMs }) });
  const logs: CapturedLogs = {
    get lines() {
      return raw
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
  return { app, logs };
}

/** Minimal PNG signature + IHDR start: what a renamed picture begins with. */
export const PNG_BYTES = Buffer.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
]);
/** A ZIP local file header start. */
export const ZIP_BYTES = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]);
