import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_MAGNET_LENGTH,
  DEFAULT_MAX_TRACKERS,
  DEFAULT_MAX_WEB_SEEDS,
  MagnetError,
  parseInfoHash,
  parseMagnet,
  parseTorrentInput,
} from '../../src/torrent/index.js';
import { thrown } from './helpers.js';

const V1 = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
// The same 20 bytes in RFC 4648 base32, computed independently (Python's base64.b32encode).
const V1_BASE32 = 'YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK';
const V2 = 'f54aab6bc93bd1f8df0f5757c65bb11c1330f1eb8c9381bcf6d7dfffb0c4649e';

describe('parseMagnet', () => {
  it(`keeps the first ${DEFAULT_MAX_TRACKERS} distinct tr URLs, in order, and says how many were dropped`, () => {
    const urls = Array.from({ length: DEFAULT_MAX_TRACKERS + 50 }, (_, i) => `udp://127.0.0.1:1/${i}`);
    const link = `magnet:?xt=urn:btih:${V1}${[...urls, urls[0]!].map((u) => `&tr=${encodeURIComponent(u)}`).join('')}`;
    expect(link.length).toBeLessThan(DEFAULT_MAX_MAGNET_LENGTH);
    const t = parseMagnet(link);
    expect(t.trackers).toEqual(urls.slice(0, DEFAULT_MAX_TRACKERS).map((u) => [u]));
    expect(t.warnings.map((w) => w.code)).toEqual(['TORRENT_TOO_MANY_TRACKERS']);
    expect(t.warnings[0]!.message).toContain('50 were dropped');
    const small = parseMagnet(link, { maxTrackers: 2 });
    expect(small.trackers).toEqual([[urls[0]], [urls[1]]]);
    expect(small.warnings[0]!.message).toContain(`${urls.length - 2} were dropped`);
  });

  it('caps ws web seeds the same way', () => {
    const seeds = Array.from({ length: DEFAULT_MAX_WEB_SEEDS + 3 }, (_, i) => `http://127.0.0.1:8080/${i}`);
    const t = parseMagnet(`magnet:?xt=urn:btih:${V1}&tr=udp%3A%2F%2F127.0.0.1%3A1${seeds.map((u) => `&ws=${encodeURIComponent(u)}`).join('')}`);
    expect(t.webSeeds).toEqual(seeds.slice(0, DEFAULT_MAX_WEB_SEEDS));
    expect(t.warnings.map((w) => w.code)).toEqual(['TORRENT_TOO_MANY_WEB_SEEDS']);
    expect(t.warnings[0]!.message).toContain('3 were dropped');
  });

  it('reads a v1 magnet: hash, name, trackers (one tier each), web seeds', () => {
    const t = parseMagnet(
      `magnet:?xt=urn:btih:${V1.toUpperCase()}&dn=Big+Buck%20Bunny&tr=udp%3A%2F%2F127.0.0.1%3A6969%2Fannounce` +
        '&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=' +
        '&ws=http%3A%2F%2F127.0.0.1%3A8080%2Fbunny.mp4&xl=1234',
    );
    expect(t).toEqual({
      source: 'magnet',
      hasMetadata: false,
      name: 'Big Buck Bunny',
      infoHashV1: V1,
      infoHashV2: null,
      version: 'v1',
      totalSize: null,
      pieceLength: null,
      pieceCount: null,
      files: [],
      paddingFiles: 0,
      private: false,
      comment: null,
      createdBy: null,
      creationDate: null,
      webSeeds: ['http://127.0.0.1:8080/bunny.mp4'],
      trackers: [['udp://127.0.0.1:6969/announce'], ['http://127.0.0.1:6969/announce']],
      warnings: [],
    });
  });

  it('reads a base32 v1 hash', () => {
    expect(parseMagnet(`magnet:?xt=urn:btih:${V1_BASE32}`).infoHashV1).toBe(V1);
    expect(parseMagnet(`magnet:?xt=urn:btih:${V1_BASE32.toLowerCase()}`).infoHashV1).toBe(V1);
  });

  it('reads v2 (urn:btmh, SHA-256 multihash) and hybrid magnets', () => {
    const v2 = parseMagnet(`magnet:?xt=urn:btmh:1220${V2}`);
    expect(v2.version).toBe('v2');
    expect(v2.infoHashV2).toBe(V2);
    expect(v2.infoHashV1).toBeNull();
    const hybrid = parseMagnet(`magnet:?xt=urn:btih:${V1}&xt=urn:btmh:1220${V2.toUpperCase()}&dn=h`);
    expect(hybrid.version).toBe('hybrid');
    expect([hybrid.infoHashV1, hybrid.infoHashV2]).toEqual([V1, V2]);
  });

  it('accepts numbered parameters (xt.1, tr.2) and ignores other exact topics', () => {
    const t = parseMagnet(`magnet:?xt.1=urn:ed2k:abcd&xt.2=urn:btih:${V1}&tr.1=http%3A%2F%2F127.0.0.1%2Fa&tr.2=http%3A%2F%2F127.0.0.1%2Fb`);
    expect(t.infoHashV1).toBe(V1);
    expect(t.trackers).toEqual([['http://127.0.0.1/a'], ['http://127.0.0.1/b']]);
  });

  it('says when there are no trackers', () => {
    expect(parseMagnet(`magnet:?xt=urn:btih:${V1}`).warnings.map((w) => w.code)).toEqual(['TORRENT_NO_TRACKERS']);
  });

  const refusals: [string, string][] = [
    ['http://127.0.0.1/x.torrent', 'MAGNET_NOT_MAGNET'],
    ['magnet:?dn=nothing', 'MAGNET_NO_HASH'],
    ['magnet:?xt=urn:ed2k:0123', 'MAGNET_NO_HASH'],
    [`magnet:?xt=urn:btih:${V1.slice(1)}`, 'MAGNET_BAD_HASH'],
    [`magnet:?xt=urn:btih:${V1}0`, 'MAGNET_BAD_HASH'],
    [`magnet:?xt=urn:btih:${V1.slice(0, 39)}g`, 'MAGNET_BAD_HASH'],
    ['magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1', 'MAGNET_BAD_HASH'],
    [`magnet:?xt=urn:btmh:1114${V2}`, 'MAGNET_BAD_HASH'],
    [`magnet:?xt=urn:btmh:1220${V2.slice(2)}`, 'MAGNET_BAD_HASH'],
    [`magnet:?xt=urn:btih:${V1}&xt=urn:btih:${'0'.repeat(40)}`, 'MAGNET_CONFLICTING_HASH'],
    [`magnet:?xt=urn:btih:${V1}&dn=%E0%A4%A`, 'MAGNET_BAD_ENCODING'],
  ];
  for (const [uri, code] of refusals) {
    it(`refuses ${uri.slice(0, 60)} → ${code}`, () => {
      const e = thrown(() => parseMagnet(uri));
      expect(e).toBeInstanceOf(MagnetError);
      expect(e.code).toBe(code);
    });
  }

  it('bounds the input length', () => {
    const long = `magnet:?xt=urn:btih:${V1}&tr=${'a'.repeat(DEFAULT_MAX_MAGNET_LENGTH)}`;
    expect(thrown(() => parseMagnet(long)).code).toBe('MAGNET_TOO_LONG');
    expect(parseMagnet(long, { maxLength: long.length }).infoHashV1).toBe(V1);
  });
});

describe('parseInfoHash and parseTorrentInput', () => {
  it('reads bare v1 (hex, base32) and v2 (64 hex) hashes', () => {
    expect(parseInfoHash(` ${V1.toUpperCase()} `)).toMatchObject({ source: 'hash', infoHashV1: V1, infoHashV2: null, version: 'v1' });
    expect(parseInfoHash(V1_BASE32).infoHashV1).toBe(V1);
    expect(parseInfoHash(V2)).toMatchObject({ source: 'hash', infoHashV1: null, infoHashV2: V2, version: 'v2' });
    for (const bad of ['', 'xyz', V1.slice(1), `${V2}0`]) expect(thrown(() => parseInfoHash(bad)).code).toBe('MAGNET_BAD_HASH');
  });

  it('recognises a magnet link or a bare hash, and nothing else', () => {
    expect(parseTorrentInput(`  magnet:?xt=urn:btih:${V1}\n`).source).toBe('magnet');
    expect(parseTorrentInput(V1).source).toBe('hash');
    expect(parseTorrentInput(V2).infoHashV2).toBe(V2);
    expect(thrown(() => parseTorrentInput('https://127.0.0.1/file.torrent')).code).toBe('MAGNET_UNRECOGNISED_INPUT');
    expect(thrown(() => parseTorrentInput('x'.repeat(DEFAULT_MAX_MAGNET_LENGTH + 1))).code).toBe('MAGNET_TOO_LONG');
  });
});
