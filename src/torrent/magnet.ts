import { TrackerscopeError, type Warning } from '../errors.js';
import {
  capTiers,
  DEFAULT_MAX_TRACKERS,
  DEFAULT_MAX_WEB_SEEDS,
  NO_TRACKERS_WARNING,
  tooManyTrackersWarning,
  tooManyWebSeedsWarning,
} from './metainfo.js';
import type { Torrent, TorrentVersion } from './types.js';

/**
 * Magnet links and bare info-hashes. Both give a `Torrent` without metadata: the hashes (and what
 * the link itself says: display name, trackers, web seeds), everything else `null`.
 */

/** Longest magnet link (or pasted text) read. Real links with dozens of trackers stay well below. */
export const DEFAULT_MAX_MAGNET_LENGTH = 16 * 1024;

/** BEP 9 `xt` prefix of a v1 info-hash: 40 hex digits or 32 base32 characters. */
const BTIH_PREFIX = 'urn:btih:';
/**
 * BEP 52 `xt` prefix of a v2 info-hash: a multihash, `12` (SHA2-256) `20` (32 bytes) followed by
 * the 32-byte digest in hex.
 */
const BTMH_PREFIX = 'urn:btmh:';
const SHA256_MULTIHASH_PREFIX = '1220';

const V1_HEX = /^[0-9a-f]{40}$/i;
const V1_BASE32 = /^[a-z2-7]{32}$/i;
const V2_HEX = /^[0-9a-f]{64}$/i;
/** RFC 4648 base32 alphabet (BEP 9 allows base32 for the v1 hash). */
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export type MagnetErrorCode =
  | 'MAGNET_TOO_LONG'
  | 'MAGNET_NOT_MAGNET'
  | 'MAGNET_BAD_ENCODING'
  | 'MAGNET_NO_HASH'
  | 'MAGNET_BAD_HASH'
  | 'MAGNET_CONFLICTING_HASH'
  | 'MAGNET_UNRECOGNISED_INPUT';

export class MagnetError extends TrackerscopeError {
  declare readonly code: MagnetErrorCode;

  constructor(code: MagnetErrorCode, message: string) {
    super(code, message);
  }
}

export interface MagnetOptions {
  /** Longest input accepted (default DEFAULT_MAX_MAGNET_LENGTH). */
  maxLength?: number;
  /** Distinct `tr` URLs kept, in order (default DEFAULT_MAX_TRACKERS, as for .torrent files). */
  maxTrackers?: number;
  /** Distinct `ws` URLs kept, in order (default DEFAULT_MAX_WEB_SEEDS, as for .torrent files). */
  maxWebSeeds?: number;
}

/** `ABCDEF…` (32 base32 characters) → 40 lowercase hex digits. */
function base32ToHex(text: string): string {
  const lower = text.toLowerCase();
  const bytes = new Uint8Array(20);
  let bits = 0;
  let acc = 0;
  let out = 0;
  for (let i = 0; i < lower.length; i++) {
    acc = (acc << 5) | BASE32_ALPHABET.indexOf(lower[i]!);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[out++] = (acc >>> bits) & 0xff;
    }
  }
  return Buffer.from(bytes).toString('hex');
}

/** A v1 hash as written in `xt=urn:btih:` or pasted bare: 40 hex or 32 base32, else null. */
function parseV1Hash(text: string): string | null {
  if (V1_HEX.test(text)) return text.toLowerCase();
  if (V1_BASE32.test(text)) return base32ToHex(text);
  return null;
}

function checkLength(text: string, options: MagnetOptions): void {
  const max = options.maxLength ?? DEFAULT_MAX_MAGNET_LENGTH;
  if (text.length > max) {
    throw new MagnetError('MAGNET_TOO_LONG', `the input is ${text.length} characters long; at most ${max} are read`);
  }
}

function versionOf(v1: string | null, v2: string | null): TorrentVersion {
  if (v1 !== null && v2 !== null) return 'hybrid';
  return v2 !== null ? 'v2' : 'v1';
}

function withoutMetadata(
  source: 'magnet' | 'hash',
  fields: { name: string | null; v1: string | null; v2: string | null; trackers: string[][]; webSeeds: string[] },
  warnings: Warning[],
): Torrent {
  return {
    source,
    hasMetadata: false,
    name: fields.name,
    infoHashV1: fields.v1,
    infoHashV2: fields.v2,
    version: versionOf(fields.v1, fields.v2),
    totalSize: null,
    pieceLength: null,
    pieceCount: null,
    files: [],
    paddingFiles: 0,
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
    webSeeds: fields.webSeeds,
    trackers: fields.trackers,
    warnings,
  };
}

function decodeComponent(value: string, plusIsSpace: boolean): string {
  try {
    return decodeURIComponent(plusIsSpace ? value.replace(/\+/g, ' ') : value);
  } catch {
    throw new MagnetError('MAGNET_BAD_ENCODING', `"${value.slice(0, 80)}" is not valid percent-encoding`);
  }
}

/** `xt`, `xt.1`, `tr.2` …: BEP 9 numbers repeated parameters this way; the number carries nothing. */
function baseKey(key: string): string {
  const dot = key.indexOf('.');
  return (dot === -1 ? key : key.slice(0, dot)).toLowerCase();
}

/**
 * Parse a magnet link (BEP 9; BEP 52 for `urn:btmh`). `dn` gives the name, each `tr` its own tier
 * (as clients do), `ws` the web seeds. Exact topics other than btih/btmh (ed2k, sha1 …) are ignored.
 */
export function parseMagnet(uri: string, options: MagnetOptions = {}): Torrent {
  checkLength(uri, options);
  const text = uri.trim();
  if (!/^magnet:\?/i.test(text)) throw new MagnetError('MAGNET_NOT_MAGNET', 'the text is not a magnet link');

  let v1: string | null = null;
  let v2: string | null = null;
  let name: string | null = null;
  const announces: string[] = [];
  const webSeeds: string[] = [];

  const setHash = (kind: 'v1' | 'v2', hash: string) => {
    const current = kind === 'v1' ? v1 : v2;
    if (current !== null && current !== hash) {
      throw new MagnetError('MAGNET_CONFLICTING_HASH', `the link names two different ${kind} info-hashes`);
    }
    if (kind === 'v1') v1 = hash;
    else v2 = hash;
  };

  const query = text.slice(text.indexOf('?') + 1);
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = baseKey(eq === -1 ? part : part.slice(0, eq));
    const raw = eq === -1 ? '' : part.slice(eq + 1);
    if (key === 'xt') {
      const topic = decodeComponent(raw, false).trim();
      const lower = topic.toLowerCase();
      if (lower.startsWith(BTIH_PREFIX)) {
        const hash = parseV1Hash(topic.slice(BTIH_PREFIX.length));
        if (hash === null) {
          throw new MagnetError('MAGNET_BAD_HASH', 'the info-hash after urn:btih must be 40 hex digits or 32 base32 characters');
        }
        setHash('v1', hash);
      } else if (lower.startsWith(BTMH_PREFIX)) {
        const multihash = lower.slice(BTMH_PREFIX.length);
        const digest = multihash.slice(SHA256_MULTIHASH_PREFIX.length);
        if (!multihash.startsWith(SHA256_MULTIHASH_PREFIX) || !V2_HEX.test(digest)) {
          throw new MagnetError('MAGNET_BAD_HASH', 'the info-hash after urn:btmh must be a SHA-256 multihash: 1220 then 64 hex digits');
        }
        setHash('v2', digest);
      }
    } else if (key === 'dn') {
      // Form-style `+` for spaces is what most link generators write in the display name.
      const dn = decodeComponent(raw, true).trim();
      if (dn !== '' && name === null) name = dn;
    } else if (key === 'tr') {
      announces.push(decodeComponent(raw, false));
    } else if (key === 'ws') {
      webSeeds.push(decodeComponent(raw, false));
    }
  }

  if (v1 === null && v2 === null) {
    throw new MagnetError('MAGNET_NO_HASH', 'the magnet link has no BitTorrent info-hash (xt=urn:btih or urn:btmh)');
  }
  const warnings: Warning[] = [];
  const maxTrackers = options.maxTrackers ?? DEFAULT_MAX_TRACKERS;
  const trackers = capTiers(
    announces.map((url) => [url]),
    maxTrackers,
  );
  if (trackers.dropped > 0) warnings.push(tooManyTrackersWarning(maxTrackers, trackers.dropped));
  if (trackers.tiers.length === 0) warnings.push({ ...NO_TRACKERS_WARNING });
  const maxWebSeeds = options.maxWebSeeds ?? DEFAULT_MAX_WEB_SEEDS;
  const seeds = capTiers([webSeeds], maxWebSeeds);
  if (seeds.dropped > 0) warnings.push(tooManyWebSeedsWarning(maxWebSeeds, seeds.dropped));
  return withoutMetadata('magnet', { name, v1, v2, trackers: trackers.tiers, webSeeds: seeds.tiers[0] ?? [] }, warnings);
}

/** A bare info-hash: 40 hex or 32 base32 (v1), or 64 hex (v2, the full SHA-256). */
export function parseInfoHash(text: string, options: MagnetOptions = {}): Torrent {
  checkLength(text, options);
  const trimmed = text.trim();
  const v1 = parseV1Hash(trimmed);
  const v2 = v1 === null && V2_HEX.test(trimmed) ? trimmed.toLowerCase() : null;
  if (v1 === null && v2 === null) {
    throw new MagnetError(
      'MAGNET_BAD_HASH',
      'an info-hash is 40 hex digits or 32 base32 characters (v1), or 64 hex digits (v2)',
    );
  }
  return withoutMetadata('hash', { name: null, v1, v2, trackers: [], webSeeds: [] }, [{ ...NO_TRACKERS_WARNING }]);
}

/** Text a person pasted: a magnet link or a bare info-hash. */
export function parseTorrentInput(text: string, options: MagnetOptions = {}): Torrent {
  checkLength(text, options);
  const trimmed = text.trim();
  if (/^magnet:/i.test(trimmed)) return parseMagnet(trimmed, options);
  if (V1_HEX.test(trimmed) || V1_BASE32.test(trimmed) || V2_HEX.test(trimmed)) return parseInfoHash(trimmed, options);
  throw new MagnetError(
    'MAGNET_UNRECOGNISED_INPUT',
    'expected a magnet link or an info-hash (40 or 64 hex digits, or 32 base32 characters)',
  );
}
