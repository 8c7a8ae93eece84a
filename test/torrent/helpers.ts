import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import bencode from 'bencode';
import { expect } from 'vitest';
import { type Encodable, encode } from '../../src/bencode/index.js';
import { TrackerscopeError } from '../../src/errors.js';

/** The repository root (tests refer to files relative to it). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = resolve(REPO_ROOT, 'test/fixtures');
/** libtorrent's test torrents (BSD-3-Clause, see its LICENSE) with libtorrent 2.0.8's view of each. */
export const LIBTORRENT_CORPUS = resolve(FIXTURES, 'libtorrent-corpus');

export const SHA1_LENGTH = 20;

export function sha1Hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `count` distinct 20-byte piece hashes (their values do not matter to a parser). */
export function pieceHashes(count: number): Buffer {
  const out = Buffer.alloc(count * SHA1_LENGTH);
  for (let i = 0; i < count; i++) createHash('sha1').update(`piece ${i}`).digest().copy(out, i * SHA1_LENGTH);
  return out;
}

export interface InfoFields {
  [key: string]: Encodable | undefined;
}

/** A canonical single-file v1 torrent; `info` and root fields can be overridden or removed (undefined). */
export function singleFile(info: InfoFields = {}, root: InfoFields = {}): Buffer {
  const length = typeof info.length === 'number' ? info.length : 1000;
  const pieceLength = typeof info['piece length'] === 'number' ? info['piece length'] : 16384;
  return encode({
    announce: 'http://127.0.0.1:6969/announce',
    ...root,
    info: {
      name: 'file.bin',
      'piece length': pieceLength,
      length,
      pieces: 'pieces' in info ? undefined : pieceHashes(Math.ceil(length / pieceLength)),
      ...info,
    },
  });
}

export interface FileSpec {
  length: number;
  path: string[];
  attr?: string;
}

/** A canonical multi-file v1 torrent with the right number of piece hashes for `files`. */
export function multiFile(files: FileSpec[], info: InfoFields = {}, root: InfoFields = {}): Buffer {
  const pieceLength = typeof info['piece length'] === 'number' ? info['piece length'] : 16384;
  const total = files.reduce((sum, f) => sum + f.length, 0);
  return encode({
    announce: 'http://127.0.0.1:6969/announce',
    ...root,
    info: {
      name: 'folder',
      'piece length': pieceLength,
      pieces: 'pieces' in info ? undefined : pieceHashes(Math.ceil(total / pieceLength)),
      files: files.map((f) => ({ length: f.length, path: f.path, attr: f.attr })),
      ...info,
    },
  });
}

/**
 * The bytes of `info` in a canonical torrent, found by an independent implementation: the `bencode`
 * package's re-encoding equals the original bytes exactly when the document is canonical.
 */
export function canonicalInfo(torrent: Uint8Array): Buffer {
  return Buffer.from(bencode.encode((bencode.decode(torrent) as { info: unknown }).info));
}

/** The error `fn` throws; fails the test when it throws nothing or something that is not ours. */
export function thrown(fn: () => unknown): TrackerscopeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TrackerscopeError);
    return error as TrackerscopeError;
  }
  throw new Error('expected an error, none was thrown');
}
