import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { gunzip, inflate, inflateRaw } from 'node:zlib';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { type BDict, type BValue, decode, isBytes, isDict, toText } from '../bencode/index.js';
import { APP_NAME, APP_VERSION } from '../version.js';
import { asScrapeError, cleanTrackerText, ScrapeError, TrackerFailureError } from './errors.js';
import { addressRange, BlockedAddressError, isAddressAllowed, type OutboundPolicy } from './guard.js';
import type { ScrapeCounts } from './types.js';
import { infoHashParams } from './url.js';

// ---------------------------------------------------------------------------------------------
// Limits (every one overridable per call)

/** Largest scrape reply we read, and the most a gzip/deflate body may inflate to. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Time allowed for the TCP (and TLS) handshake. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
/** Time allowed between sending the request and the end of the response headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 5000;
/** Redirects followed before giving up (each hop goes through the same guarded dispatcher). */
export const DEFAULT_MAX_REDIRECTS = 3;
/** Largest WebSocket tracker message (a scrape reply is a few hundred bytes a hash). */
export const DEFAULT_MAX_WS_MESSAGE_BYTES = 1024 * 1024;
/** Origins a long-lived GuardedAgent remembers (family, last failure); the oldest are forgotten. */
export const MAX_REMEMBERED_ORIGINS = 1024;
/** Scrape URLs whose parsed form (origin, path, origin key) is remembered; the oldest are forgotten. */
export const MAX_PARSED_SCRAPE_URLS = 1024;

/** A plain User-Agent naming the app, so tracker operators know who is asking. */
export const USER_AGENT = `${APP_NAME}/${APP_VERSION}`;

/** gzip magic bytes (RFC 1952): some trackers gzip the body without saying so. */
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
/** First byte of a zlib stream with the usual 32 KiB window (RFC 1950), to tell zlib from raw deflate. */
const ZLIB_HEADER_CMF = 0x78;

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);
const inflateRawAsync = promisify(inflateRaw);

// ---------------------------------------------------------------------------------------------
// The guarded dispatcher

export interface GuardedAgentOptions {
  policy: OutboundPolicy;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** Bounds one WebSocket message when this agent carries a WebSocket (undici `maxPayloadSize`). */
  maxWebSocketMessageBytes?: number;
  /** Refuse more than the policy does (an operator's own deny list; tests of each check). */
  refuseAddress?: (ip: string) => boolean;
}

/** The address predicate every check of a GuardedAgent uses. */
export type AddressCheck = (ip: string) => boolean;

function addressCheck(options: GuardedAgentOptions): AddressCheck {
  const { policy, refuseAddress } = options;
  return (ip) => isAddressAllowed(ip, policy) && !refuseAddress?.(ip);
}

/**
 * An undici Agent whose every connection is checked against the outbound policy at connect time:
 * names through a filtering `lookup` (every A and AAAA record), literal IPs before any packet,
 * and the socket's actual peer address once connected, so DNS rebinding and odd spellings
 * cannot reach a forbidden address. It also remembers which address family each origin used.
 */
export class GuardedAgent extends Agent {
  readonly policy: OutboundPolicy;
  readonly #record: ConnectRecord;

  constructor(options: GuardedAgentOptions) {
    const record: ConnectRecord = { families: new Map(), failures: new Map() };
    const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    super({
      connect: guardedConnector(addressCheck(options), options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, record),
      headersTimeout,
      // Per chunk only: the caller's AbortSignal is what bounds a dripping body as a whole.
      bodyTimeout: headersTimeout,
      webSocket: { maxPayloadSize: options.maxWebSocketMessageBytes ?? DEFAULT_MAX_WS_MESSAGE_BYTES },
    });
    this.policy = options.policy;
    this.#record = record;
  }

  /** Address family of the most recent connection to this URL's origin, if any. */
  familyOf(url: string | URL): 4 | 6 | null {
    return this.familyOfOrigin(originKey(typeof url === 'string' ? new URL(url) : url));
  }

  /** The same, for an origin key a caller has already worked out (no URL parsing per request). */
  familyOfOrigin(key: string): 4 | 6 | null {
    return this.#record.families.get(key) ?? null;
  }

  /**
   * Why the most recent connection attempt to this URL's origin failed, if it did. Callers that
   * only see an opaque failure (undici's WebSocket drops the cause) recover the refusal here.
   */
  connectFailureOf(url: string | URL): Error | null {
    return this.#record.failures.get(originKey(new URL(url))) ?? null;
  }
}

/** What the connector learned, per origin (`scheme//host:port`). */
interface ConnectRecord {
  families: Map<string, 4 | 6>;
  failures: Map<string, Error>;
}

/** Set, as the newest entry, forgetting the oldest beyond `maxEntries`. */
function remember<V>(map: Map<string, V>, key: string, value: V, maxEntries: number = MAX_REMEMBERED_ORIGINS): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > maxEntries) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

const DEFAULT_PORT: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };
/** undici connects WebSockets with their HTTP twin scheme. */
const CONNECT_SCHEME: Readonly<Record<string, string>> = { 'ws:': 'http:', 'wss:': 'https:' };

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function originKey(url: { protocol: string; hostname: string; port: string }): string {
  const scheme = CONNECT_SCHEME[url.protocol] ?? url.protocol;
  return `${scheme}//${unbracket(url.hostname)}:${url.port || DEFAULT_PORT[scheme] || ''}`;
}

function guardedConnector(isAllowed: AddressCheck, timeoutMs: number, record: ConnectRecord): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup(isAllowed) });
  return (options, callback) => {
    const host = unbracket(options.hostname);
    const origin = originKey({ protocol: options.protocol, hostname: host, port: options.port });
    const fail = (err: Error) => {
      remember(record.failures, origin, err);
      callback(err, null);
    };
    // `lookup` is never called for a literal IP: judge it here, before a single packet leaves.
    if (isIP(host) !== 0 && !isAllowed(host)) {
      const refused = new BlockedAddressError(host, host, addressRange(host));
      process.nextTick(() => fail(refused));
      return;
    }
    connect(options, (err, socket) => {
      if (err || !socket) {
        fail(err ?? new ScrapeError('SCRAPE_CONNECT', `could not connect to ${host}`));
        return;
      }
      const refused = refusedPeer(socket, host, isAllowed);
      if (refused) {
        socket.destroy();
        fail(refused);
        return;
      }
      record.failures.delete(origin);
      remember(record.families, origin, socket.remoteFamily === 'IPv6' ? 6 : 4);
      callback(null, socket);
    });
  };
}

/** The peer actually connected to, judged again: the last word whatever resolved it. */
function refusedPeer(socket: Socket, host: string, isAllowed: AddressCheck): BlockedAddressError | null {
  const peer = socket.remoteAddress;
  if (peer !== undefined && isAllowed(peer)) return null;
  return new BlockedAddressError(host, peer ?? 'an unknown address', peer === undefined ? 'unknown' : addressRange(peer));
}

/** A `lookup` for net/tls.connect that resolves A and AAAA and hands back only allowed addresses. */
export function guardedLookup(isAllowed: AddressCheck): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, verbatim: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(new ScrapeError('SCRAPE_DNS', `cannot resolve ${hostname}`, { cause: err }), '', 0);
        return;
      }
      const allowed = addresses.filter((a) => isAllowed(a.address));
      const first = allowed[0];
      if (!first) {
        const seen = addresses[0]?.address ?? 'no address';
        callback(new BlockedAddressError(hostname, seen, addressRange(seen)), '', 0);
        return;
      }
      if (options.all) callback(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

// ---------------------------------------------------------------------------------------------
// The scrape request

export interface HttpScrapeOptions {
  /** Cuts the whole exchange (connect, redirects, headers, every body byte). */
  signal: AbortSignal;
  /** Outbound policy; must equal the dispatcher's when one is given. */
  policy: OutboundPolicy;
  maxBodyBytes?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  maxRedirects?: number;
  userAgent?: string;
  /** A shared guarded agent (keep-alive across scrapes); by default one is made for this call. */
  dispatcher?: GuardedAgent;
}

export interface HttpScrapeResult {
  /** One entry per requested hash, in request order. */
  counts: ScrapeCounts[];
  /** The tracker's `warning message`, if any. */
  warning: string | null;
  /** `flags.min_request_interval` in seconds, if the tracker gave one. */
  minRequestInterval: number | null;
  /** Address family of the connection that gave the final answer. */
  family: 4 | 6 | null;
}

/** Scrape one HTTP(S) tracker for one or more info-hashes in a single request (BEP 48). */
export async function scrapeHttp(scrapeUrl: string, hashes: readonly Uint8Array[], opts: HttpScrapeOptions): Promise<HttpScrapeResult> {
  if (opts.dispatcher && opts.dispatcher.policy.allowPrivate !== opts.policy.allowPrivate) {
    throw new TypeError('scrapeHttp: the dispatcher was built with a different outbound policy');
  }
  const agent = opts.dispatcher ?? new GuardedAgent(opts);
  try {
    const reply = await fetchScrapeReply(requestTarget(scrapeUrl, infoHashParams(hashes)), agent, opts);
    const parsed = parseScrapeReply(reply.body, reply.contentType, hashes);
    return { ...parsed, family: agent.familyOfOrigin(reply.target.originKey) };
  } catch (err) {
    throw asScrapeError(err, opts.signal);
  } finally {
    if (!opts.dispatcher) await agent.destroy().catch(() => undefined);
  }
}

/** Where one request goes, in the form undici's dispatcher takes (no URL parsing per request). */
interface RequestTarget {
  /** `scheme://host[:port]` */
  origin: string;
  /** Path and query, exactly as WHATWG URL serialises them. */
  path: string;
  /** What the guarded connector records the address family under. */
  originKey: string;
}

/** A scrape URL taken apart once: WHATWG URL parsing is the costliest step of building a request. */
interface ParsedScrapeUrl {
  origin: string;
  pathname: string;
  search: string;
  originKey: string;
}

const parsedScrapeUrls = new Map<string, ParsedScrapeUrl>();

function parseScrapeUrl(scrapeUrl: string): ParsedScrapeUrl {
  const known = parsedScrapeUrls.get(scrapeUrl);
  if (known !== undefined) return known;
  const url = new URL(scrapeUrl);
  const parsed = { origin: url.origin, pathname: url.pathname, search: url.search, originKey: originKey(url) };
  remember(parsedScrapeUrls, scrapeUrl, parsed, MAX_PARSED_SCRAPE_URLS);
  return parsed;
}

/**
 * The request for `scrapeUrl` with the info_hash parameters appended, as `new URL(appendInfoHashes(…))`
 * would give it (the percent-encoded parameters are stable under URL serialisation): kept query
 * (passkeys) first, `&` between, nothing doubled after a trailing `&`. A fragment is never sent.
 */
function requestTarget(scrapeUrl: string, params: string): RequestTarget {
  const { origin, pathname, search, originKey: key } = parseScrapeUrl(scrapeUrl);
  const query = search === '' ? `?${params}` : search.endsWith('&') ? search + params : `${search}&${params}`;
  return { origin, path: pathname + query, originKey: key };
}

function targetOfUrl(url: URL): RequestTarget {
  return { origin: url.origin, path: url.pathname + url.search, originKey: originKey(url) };
}

interface RawReply {
  target: RequestTarget;
  body: Buffer;
  contentType: string;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const FOLLOWABLE_SCHEMES = new Set(['http:', 'https:']);

async function fetchScrapeReply(first: RequestTarget, agent: Dispatcher, opts: HttpScrapeOptions): Promise<RawReply> {
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const headers = opts.userAgent === undefined ? DEFAULT_HEADERS : { 'user-agent': opts.userAgent };
  let target = first;
  for (let hop = 0; ; hop++) {
    const response = await agent.request({
      origin: target.origin,
      path: target.path,
      method: 'GET',
      signal: opts.signal,
      headers,
      headersTimeout: timeoutMs,
      // Per chunk only: the caller's AbortSignal is what bounds a dripping body as a whole.
      bodyTimeout: timeoutMs,
    });
    const location = headerValue(response.headers.location);
    if (REDIRECT_STATUSES.has(response.statusCode) && location !== undefined) {
      await response.body.dump().catch(() => undefined);
      if (hop >= maxRedirects) throw new ScrapeError('SCRAPE_REDIRECT', `tracker redirected more than ${maxRedirects} times`);
      target = targetOfUrl(redirectTarget(target, location));
      continue;
    }
    const body = await readBody(response, maxBodyBytes);
    const contentType = headerValue(response.headers['content-type']) ?? '';
    if (response.statusCode < 200 || response.statusCode > 299) throw statusError(response.statusCode, body, contentType);
    return { target, body, contentType };
  }
}

/** The same for every request that does not bring its own User-Agent (undici only reads it). */
const DEFAULT_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'user-agent': USER_AGENT });

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function redirectTarget(from: RequestTarget, location: string): URL {
  let target: URL;
  try {
    target = new URL(location, from.origin + from.path);
  } catch {
    throw new ScrapeError('SCRAPE_REDIRECT', 'tracker redirected to an invalid URL');
  }
  if (!FOLLOWABLE_SCHEMES.has(target.protocol)) {
    throw new ScrapeError('SCRAPE_REDIRECT', `tracker redirected to a ${target.protocol} URL; only http and https are followed`);
  }
  return target;
}

/** A non-2xx reply; a bencoded `failure reason` in it is still the tracker's own explanation. */
function statusError(status: number, body: Buffer, contentType: string): ScrapeError {
  const failure = failureReasonIn(body, contentType);
  if (failure !== null) return new TrackerFailureError(failure);
  return new ScrapeError('SCRAPE_HTTP_STATUS', `tracker answered HTTP ${status}`);
}

function failureReasonIn(body: Buffer, contentType: string): string | null {
  try {
    parseScrapeReply(body, contentType, []);
  } catch (err) {
    if (err instanceof TrackerFailureError) return err.trackerMessage;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Body: capped read, then inflate within the same cap

async function readBody(response: Dispatcher.ResponseData, maxBytes: number): Promise<Buffer> {
  const declared = Number(headerValue(response.headers['content-length']));
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw tooLarge(maxBytes);
  }
  const raw = await collectBody(response.body, maxBytes);
  return inflateBody(raw, headerValue(response.headers['content-encoding']), maxBytes);
}

/**
 * Every chunk of `body`, failing as soon as more than `maxBytes` arrived. Plain stream events: an
 * async iterator costs a promise per chunk, and a scrape reply is usually one chunk.
 */
function collectBody(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        settle(tooLarge(maxBytes));
        body.destroy();
        return;
      }
      chunks.push(chunk);
    };
    body.on('data', onData);
    body.once('end', () => settle(null));
    body.once('error', (err: Error) => settle(err));
    // Destroyed without an error (should not happen with undici, which passes the abort reason).
    body.once('close', () => settle(new ScrapeError('SCRAPE_CONNECT', 'the connection closed before the reply ended')));
  });
}

function tooLarge(maxBytes: number): ScrapeError {
  return new ScrapeError('SCRAPE_TOO_LARGE', `tracker reply is larger than ${maxBytes} bytes`);
}

/** Inflate gzip (announced or sniffed by its magic bytes) and deflate, never past `maxBytes`. */
export async function inflateBody(raw: Buffer, contentEncoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const encoding = contentEncoding?.trim().toLowerCase() ?? '';
  const zlibOptions = { maxOutputLength: maxBytes };
  try {
    if (raw.length >= 2 && raw[0] === GZIP_MAGIC_0 && raw[1] === GZIP_MAGIC_1) return await gunzipAsync(raw, zlibOptions);
    if (encoding === 'gzip' || encoding === 'x-gzip') return await gunzipAsync(raw, zlibOptions);
    if (encoding === 'deflate') {
      return raw[0] === ZLIB_HEADER_CMF ? await inflateAsync(raw, zlibOptions) : await inflateRawAsync(raw, zlibOptions);
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ScrapeError('SCRAPE_TOO_LARGE', `tracker reply inflates to more than ${maxBytes} bytes`, { cause: err });
    }
    throw new ScrapeError('SCRAPE_BAD_REPLY', 'tracker reply is compressed but does not inflate', { cause: err });
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Parsing the scrape reply (pure)

export interface ParsedScrapeReply {
  counts: ScrapeCounts[];
  warning: string | null;
  minRequestInterval: number | null;
}

/** Bytes that may trail a bencoded reply from sloppy trackers (a final newline) without meaning. */
const TRAILING_WHITESPACE = new Set([0x09, 0x0a, 0x0d, 0x20]);

/**
 * Read a BEP 48 scrape reply: `files` keyed by raw 20-byte hash. A requested hash missing from
 * `files` means the tracker does not know the torrent: numbers null, `unknown` true, never 0.
 */
export function parseScrapeReply(body: Uint8Array, contentType: string, hashes: readonly Uint8Array[]): ParsedScrapeReply {
  const value = decodeReply(body, contentType);
  if (!isDict(value)) throw badReply(`tracker reply is a bencoded ${bencodeKind(value)}, not a dictionary`);
  const failure = textField(value, 'failure reason') ?? textField(value, 'failure_reason');
  if (failure !== null) throw new TrackerFailureError(failure);
  const files = filesOf(value);
  return {
    counts: hashes.map((hash) => countsFor(files, hash)),
    warning: textField(value, 'warning message'),
    minRequestInterval: minRequestIntervalOf(value),
  };
}

function badReply(message: string): ScrapeError {
  return new ScrapeError('SCRAPE_BAD_REPLY', message);
}

function decodeReply(body: Uint8Array, contentType: string): BValue {
  let end = body.length;
  while (end > 0 && TRAILING_WHITESPACE.has(body[end - 1]!)) end--;
  let start = 0;
  while (start < end && TRAILING_WHITESPACE.has(body[start]!)) start++;
  if (start === end) throw badReply('tracker sent an empty reply');
  const first = body[start]!;
  const type = contentType.toLowerCase();
  if (first === 0x3c /* < */ || type.includes('html')) {
    throw badReply('tracker replied with an HTML page, not a scrape response');
  }
  if (first === 0x7b /* { */ || first === 0x5b /* [ */ || type.includes('json')) {
    throw badReply('tracker replied with JSON, not a bencoded scrape response');
  }
  try {
    return decode(body.subarray(start, end));
  } catch (err) {
    throw new ScrapeError('SCRAPE_BAD_REPLY', `tracker reply is not bencoded (${(err as Error).message})`, { cause: err });
  }
}

function bencodeKind(value: BValue): string {
  if (isBytes(value)) return 'string';
  if (Array.isArray(value)) return 'list';
  return 'integer';
}

/** Tracker text, decoded (UTF-8 or latin1), stripped of control characters and cut to a sane size. */
function textField(dict: BDict, key: string): string | null {
  const value = dict.get(key);
  if (!isBytes(value)) return null;
  return cleanTrackerText(toText(value));
}

/** BEP 3 / BEP 48: `files` keys are raw 20-byte info-hashes. */
const INFO_HASH_KEY_LENGTH = 20;
/** Keys shown when describing an unexpected reply. */
const MAX_KEYS_SHOWN = 5;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `files` re-keyed by the raw hash (as a latin1 string). Besides raw 20-byte keys this accepts
 * the key that JS trackers built on node-bencode send: the hash read as a latin1 string, then
 * written as UTF-8 (node-bencode cannot write binary keys, webtorrent/node-bencode#88), which is
 * what bittorrent-tracker's HTTP scrape does. That reading is exact, not a guess: it only
 * applies to valid UTF-8 decoding to 20 characters below U+0100, and a raw key wins.
 */
function filesOf(reply: BDict): Map<string, BValue> {
  const files = reply.get('files');
  if (files === undefined) {
    const looksLikeAnnounce = reply.has('peers') || reply.has('interval');
    throw badReply(
      looksLikeAnnounce
        ? 'tracker sent an announce reply, not a scrape reply'
        : `tracker reply has no "files" dictionary (keys: ${describeKeys(reply)})`,
    );
  }
  if (!isDict(files)) throw badReply('tracker reply\'s "files" is not a dictionary');
  const byHash = new Map<string, BValue>();
  for (const [key, entry] of files) {
    if (key.length === INFO_HASH_KEY_LENGTH) byHash.set(key, entry);
  }
  for (const [key, entry] of files) {
    const hash = key.length === INFO_HASH_KEY_LENGTH ? null : hashFromUtf8Key(key);
    if (hash !== null && !byHash.has(hash)) byHash.set(hash, entry);
  }
  if (files.size > 0 && byHash.size === 0) {
    throw badReply(`tracker reply's "files" is keyed by ${describeKeys(files)}, not by 20-byte info-hashes`);
  }
  return byHash;
}

function hashFromUtf8Key(key: string): string | null {
  let text: string;
  try {
    text = STRICT_UTF8.decode(Buffer.from(key, 'latin1'));
  } catch {
    return null;
  }
  if (text.length !== INFO_HASH_KEY_LENGTH) return null;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return null;
  return text;
}

function describeKeys(dict: BDict): string {
  const keys = [...dict.keys()].slice(0, MAX_KEYS_SHOWN).map(describeKey);
  if (keys.length === 0) return 'none';
  return dict.size > MAX_KEYS_SHOWN ? `${keys.join(', ')}, …` : keys.join(', ');
}

/** Longest key quoted when describing an unexpected reply. */
const MAX_KEY_CHARS_SHOWN = 40;

function describeKey(key: string): string {
  if (/^[\x20-\x7e]*$/.test(key)) return JSON.stringify(key.slice(0, MAX_KEY_CHARS_SHOWN));
  return `a ${key.length}-byte binary key`;
}

function countsFor(files: Map<string, BValue>, hash: Uint8Array): ScrapeCounts {
  const entry = files.get(Buffer.from(hash).toString('latin1'));
  if (entry === undefined) return { seeders: null, leechers: null, completed: null, downloaders: null, unknown: true };
  if (!isDict(entry)) throw badReply('a "files" entry of the tracker reply is not a dictionary');
  return {
    seeders: countField(entry, 'complete'),
    leechers: countField(entry, 'incomplete'),
    completed: countField(entry, 'downloaded'),
    downloaders: countField(entry, 'downloaders'),
    unknown: false,
  };
}

function countField(entry: BDict, key: string): number | null {
  const value = entry.get(key);
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw badReply(`tracker reply's "${key}" is not a count`);
  }
  return value;
}

function minRequestIntervalOf(reply: BDict): number | null {
  const flags = reply.get('flags');
  if (!isDict(flags)) return null;
  const interval = flags.get('min_request_interval');
  return typeof interval === 'number' && Number.isSafeInteger(interval) && interval > 0 ? interval : null;
}
