import { ScrapeError } from './errors.js';
import type { TrackerProtocol } from './types.js';

/**
 * Where and how to scrape one tracker, derived from its announce URL without ever guessing.
 * `scrape` is null exactly when the tracker cannot be scraped; `reason` then says why.
 */
export type ScrapeTarget =
  | { supported: true; protocol: Exclude<TrackerProtocol, 'other'>; scrape: string }
  | { supported: false; protocol: TrackerProtocol; scrape: null; reason: string };

/** BEP 48: the last path segment of an announce URL must begin with this word... */
export const ANNOUNCE_WORD = 'announce';
/** ...which is replaced by this one to get the scrape URL (BEP 48). */
export const SCRAPE_WORD = 'scrape';
/** BEP 3 / BEP 48: an info-hash is 20 raw bytes. */
export const INFO_HASH_BYTES = 20;

const PROTOCOL_OF_SCHEME: Readonly<Record<string, Exclude<TrackerProtocol, 'other'>>> = {
  'http:': 'http',
  'https:': 'https',
  'udp:': 'udp',
  'ws:': 'ws',
  'wss:': 'wss',
};

function unsupported(protocol: TrackerProtocol, reason: string): ScrapeTarget {
  return { supported: false, protocol, scrape: null, reason };
}

/**
 * Apply the BEP 48 convention to an announce URL.
 *
 * HTTP(S): the text after the URL's last `/` must begin with `announce`; that word becomes
 * `scrape` and everything else is kept byte for byte (no percent-decoding, no normalising), so
 * `/announce.php?passkey=k` → `/scrape.php?passkey=k`. A last `/` outside the path (in the
 * authority or the query, as in `/announce?x=2/4`) means the tracker does not follow the
 * convention: unsupported rather than guessed.
 * UDP (BEP 15) and WebSocket (WebTorrent) trackers scrape over the announce endpoint itself.
 */
export function scrapeUrlFor(announce: string): ScrapeTarget {
  // A fragment is never sent to a server, so it cannot be part of what the tracker sees; cutting
  // it also keeps appended `info_hash` parameters out of it.
  const text = withoutFragment(announce.trim());
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return unsupported('other', 'not a valid URL');
  }
  const protocol = PROTOCOL_OF_SCHEME[url.protocol];
  if (!protocol) return unsupported('other', `the ${url.protocol} scheme is not a tracker protocol`);
  if (url.hostname === '') return unsupported(protocol, 'the URL has no host');
  if (protocol === 'udp') return udpTarget(text, url);
  if (protocol === 'ws' || protocol === 'wss') return { supported: true, protocol, scrape: text };
  return httpTarget(text, protocol);
}

function withoutFragment(text: string): string {
  const hash = text.indexOf('#');
  return hash === -1 ? text : text.slice(0, hash);
}

function udpTarget(text: string, url: URL): ScrapeTarget {
  // BEP 15 has no default port: without one there is nothing to send to.
  if (url.port === '' || url.port === '0') return unsupported('udp', 'the UDP tracker URL has no port');
  return { supported: true, protocol: 'udp', scrape: text };
}

function httpTarget(text: string, protocol: 'http' | 'https'): ScrapeTarget {
  const authorityStart = rawAuthorityStart(text);
  if (authorityStart === -1) return unsupported(protocol, 'the URL has no "//" before its host');
  if (authorityEnd(text, authorityStart) === AMBIGUOUS_AUTHORITY) {
    return unsupported(protocol, "a '\\' in the URL's host part ends the host for some URL parsers and not for others, so which host is meant is unclear");
  }
  const pathStart = text.slice(authorityStart).search(/[/?]/);
  const queryStart = text.indexOf('?', authorityStart);
  const lastSlash = text.lastIndexOf('/');
  if (pathStart === -1 || text[authorityStart + pathStart] !== '/' || lastSlash < authorityStart) {
    return unsupported(protocol, 'the announce URL has no path, so it does not follow the scrape convention (BEP 48)');
  }
  if (queryStart !== -1 && lastSlash > queryStart) {
    return unsupported(protocol, "the announce URL's last '/' is in its query, so it does not follow the scrape convention (BEP 48)");
  }
  const segment = text.slice(lastSlash + 1);
  if (!segment.startsWith(ANNOUNCE_WORD)) {
    return unsupported(protocol, `the last path segment does not begin with "${ANNOUNCE_WORD}", so the tracker does not support scrape (BEP 48)`);
  }
  const scrape = text.slice(0, lastSlash + 1) + SCRAPE_WORD + segment.slice(ANNOUNCE_WORD.length);
  return { supported: true, protocol, scrape };
}

/** Index just past `scheme://` in the raw text, or -1 when the text does not have that shape. */
function rawAuthorityStart(text: string): number {
  const match = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text);
  return match ? match[0].length : -1;
}

/** `authorityEnd` result when a `\` ends the authority for WHATWG parsers but not for RFC 3986 ones. */
const AMBIGUOUS_AUTHORITY = -2;

/**
 * Where the authority that starts at `start` ends: at the first `/`, `?` or `#` (RFC 3986), or at
 * the end of the text. WHATWG parsers (undici's, Node's) also end it at a `\` in http(s) URLs; the
 * two readings then name different hosts, and AMBIGUOUS_AUTHORITY says so.
 */
function authorityEnd(text: string, start: number): number {
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '/' || c === '?' || c === '#') return i;
    if (c === '\\') return AMBIGUOUS_AUTHORITY;
  }
  return text.length;
}

/** C0 controls and space, which WHATWG parsers strip from both ends of a URL before reading it. */
const URL_EDGE_JUNK = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;

/**
 * The request target (RFC 9112 origin-form: path and query) of an absolute URL exactly as it is
 * written — after the authority, before any `#` — never decoded or normalised: `/a/../scrape`,
 * `%2e%2e`, `\`, `'` and `"` reach the tracker as they are, because a tracker may read those
 * bytes (a passkey, a path its router matches literally). Only what a request line cannot carry
 * is percent-encoded: controls, space and non-ASCII (as UTF-8). An empty path is sent as `/`.
 * Returns null when the text is not `scheme://authority…`, or when its authority is ambiguous
 * (see AMBIGUOUS_AUTHORITY), so that the host connected to and the path sent always agree.
 */
export function requestTargetOf(url: string): string | null {
  const text = url.replace(URL_EDGE_JUNK, '');
  const start = rawAuthorityStart(text);
  if (start === -1) return null;
  const end = authorityEnd(text, start);
  if (end === AMBIGUOUS_AUTHORITY) return null;
  return originFormOf(text.slice(end));
}

/** A path-and-query reference as written (`/x?y#z`): fragment cut, unsendable bytes encoded, `/` when empty. */
export function originFormOf(reference: string): string {
  const hash = reference.indexOf('#');
  const target = requestLineSafe(hash === -1 ? reference : reference.slice(0, hash));
  return target.startsWith('/') ? target : `/${target}`;
}

/** Code units a request line cannot carry as they are: C0 controls, space, DEL, anything non-ASCII. */
const UNSENDABLE = /[\u0000-\u0020\u007f-\uffff]/;
const UNSENDABLE_RUNS = /[\u0000-\u0020\u007f-\uffff]+/g;

/** Percent-encode (as UTF-8 bytes) only what a request line cannot carry; every other character stays. */
export function requestLineSafe(text: string): string {
  if (!UNSENDABLE.test(text)) return text;
  // Buffer.from encodes a lone surrogate as U+FFFD, as WHATWG URL parsers do, where encodeURIComponent throws.
  return text.replace(UNSENDABLE_RUNS, (run) => percentEncodeBytes(Buffer.from(run, 'utf8')));
}

/** Every byte as `%XX`: an info-hash is binary, never text (BEP 3). */
export function percentEncodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * Append one `info_hash` parameter per hash to a scrape URL, keeping whatever query it already
 * has (passkeys): `&` when there is a `?`, else `?`. Several hashes in one request scrape several
 * torrents at once (BEP 48).
 */
export function appendInfoHashes(scrapeUrl: string, hashes: readonly Uint8Array[]): string {
  return scrapeUrl + querySeparator(scrapeUrl) + infoHashParams(hashes);
}

/** `info_hash=…&info_hash=…`, one parameter per hash, each byte percent-encoded. */
export function infoHashParams(hashes: readonly Uint8Array[]): string {
  if (hashes.length === 0) throw new ScrapeError('SCRAPE_NO_HASH', 'no info-hash to scrape');
  return hashes.map((hash) => `info_hash=${percentEncodeBytes(assertInfoHash(hash))}`).join('&');
}

/** Every hash sent to a tracker is 20 bytes (v2 hashes arrive already truncated, BEP 52). */
export function assertInfoHash(hash: Uint8Array): Uint8Array {
  if (hash.length !== INFO_HASH_BYTES) {
    throw new ScrapeError('SCRAPE_BAD_HASH', `an info-hash is ${INFO_HASH_BYTES} bytes, got ${hash.length}`);
  }
  return hash;
}

function querySeparator(url: string): string {
  if (!url.includes('?')) return '?';
  return url.endsWith('?') || url.endsWith('&') ? '' : '&';
}
