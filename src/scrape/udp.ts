import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import ipaddr from 'ipaddr.js';
import { TrackerscopeError } from '../errors.js';
import { addressRange, BlockedAddressError, isAddressAllowed, type OutboundPolicy, type ResolvedAddress, resolveAllowed } from './guard.js';
import { cleanTrackerText, ScrapeError, TrackerFailureError } from './http.js';
import type { ScrapeCounts } from './types.js';
import {
  decodeReply,
  encodeConnectRequest,
  encodeScrapeRequest,
  INFO_HASH_BYTES,
  MAX_HASHES_PER_SCRAPE,
  type UdpScrapeEntry,
  type UdpTrackerReply,
} from './udp-packets.js';

/**
 * UDP tracker scrape (BEP 15) over node:dgram: connect → connection id → scrape, with
 * retransmission inside one deadline (the caller's AbortSignal), every resolved address tried
 * (IPv4 and IPv6), and nothing sent anywhere but an address the outbound policy allows.
 */

/**
 * Waits before each retransmission. BEP 15's 15·2ⁿ s suits a background client, not a person
 * waiting for a page: retry after ~1 s and ~2 s more, then wait out the deadline.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = Object.freeze([1000, 2000]);
/** BEP 15: a client may use a connection id until one minute after receiving it. */
export const DEFAULT_CONNECTION_ID_TTL_MS = 60_000;
/**
 * When the next resolved address (e.g. IPv4 after IPv6) is tried while the previous one is still
 * waiting — the Happy Eyeballs idea (RFC 8305), stretched to the first retransmission delay.
 */
export const DEFAULT_ADDRESS_STAGGER_MS = 1000;
/** Scrape packets (of up to MAX_HASHES_PER_SCRAPE hashes) awaiting a reply at once, per tracker. */
export const DEFAULT_MAX_PACKETS_IN_FLIGHT = 4;
/** Connection ids remembered by a cache; the oldest is dropped first. */
export const DEFAULT_MAX_CACHED_CONNECTIONS = 4096;
/** Random transaction ids drawn before giving up on finding one not already in use (2³² space). */
const MAX_TX_ID_DRAWS = 8;
const TX_ID_BYTES = 4;
/**
 * How long a scrape with a cached connection id waits before the id is presumed dead and a fresh
 * connect is made, when no retry delays are configured (otherwise: the first retry delay).
 */
export const DEFAULT_STALE_ID_WAIT_MS = 1000;
const MAX_PORT = 0xffff;

// ---------------------------------------------------------------------------------------------
// Connection id cache

/**
 * Connection ids per tracker endpoint (ip:port), so scraping a tracker again within a minute costs
 * one round trip, not two. Share one instance across calls; inject a fresh one in tests.
 */
export class ConnectionIdCache {
  readonly #entries = new Map<string, { connectionId: bigint; expiresAt: number }>();

  constructor(
    readonly maxEntries: number = DEFAULT_MAX_CACHED_CONNECTIONS,
    /** Monotonic milliseconds; injectable for tests. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(key: string): bigint | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.connectionId;
  }

  set(key: string, connectionId: bigint, ttlMs: number): void {
    this.#entries.delete(key);
    if (ttlMs <= 0 || this.maxEntries <= 0) return;
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size < this.maxEntries) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { connectionId, expiresAt: this.now() + ttlMs });
  }

  /** Forget `connectionId` for this endpoint (a newer id stored meanwhile is kept). */
  delete(key: string, connectionId: bigint): void {
    if (this.#entries.get(key)?.connectionId === connectionId) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** The process-wide cache used when a call does not bring its own. */
export const sharedConnectionIdCache = new ConnectionIdCache();

export function connectionKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Public API

export interface UdpScrapeOptions {
  /** The deadline: when it fires, every socket is closed and the call fails with SCRAPE_TIMEOUT. */
  signal: AbortSignal;
  policy: OutboundPolicy;
  retryDelaysMs?: readonly number[];
  connectionIdTtlMs?: number;
  connectionCache?: ConnectionIdCache;
  addressStaggerMs?: number;
  maxPacketsInFlight?: number;
  /** Name resolution; every address it returns is checked against `policy` again before use. */
  resolve?: (host: string, policy: OutboundPolicy, signal: AbortSignal) => Promise<ResolvedAddress[]>;
}

export interface UdpScrapeResult {
  /** One entry per requested hash, in request order. */
  counts: ScrapeCounts[];
  /** Address family that answered. */
  family: 4 | 6;
  /** The IP address that answered. */
  address: string;
}

/**
 * Scrape `hashes` (20 raw bytes each) from the UDP tracker at host:port. BEP 15 has no way to say
 * "unknown torrent": a tracker that does not know a hash answers zeros, and zeros are reported.
 */
export async function scrapeUdp(host: string, port: number, hashes: readonly Uint8Array[], opts: UdpScrapeOptions): Promise<UdpScrapeResult> {
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) {
    throw new TrackerscopeError('SCRAPE_BAD_PORT', `udp tracker port ${port} is not a port number`);
  }
  if (hashes.length === 0) throw new TrackerscopeError('SCRAPE_NO_HASH', 'no info-hash to scrape');
  hashes.forEach((hash, i) => {
    if (hash.length !== INFO_HASH_BYTES) {
      throw new TrackerscopeError('SCRAPE_BAD_HASH', `info-hash #${i} is ${hash.length} bytes; BEP 15 takes ${INFO_HASH_BYTES}`);
    }
  });
  const { signal } = opts;
  const where = connectionKey(host.replace(/^\[(.*)\]$/, '$1'), port);
  if (signal.aborted) throw timeoutError(where);

  // Trackers answer a repeated hash once (bittorrent-tracker keys its reply by hash), which would
  // break the one-entry-per-hash length check: ask for each distinct hash once.
  const slotOf = new Map<string, number>();
  const distinct: Uint8Array[] = [];
  const slots = hashes.map((hash) => {
    const key = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
    let slot = slotOf.get(key);
    if (slot === undefined) {
      slot = distinct.push(hash) - 1;
      slotOf.set(key, slot);
    }
    return slot;
  });

  const resolve = opts.resolve ?? resolveAllowed;
  let resolved: ResolvedAddress[];
  try {
    resolved = await untilAborted(resolve(host, opts.policy, signal), signal);
  } catch (err) {
    if (signal.aborted) throw timeoutError(where);
    throw err;
  }
  const targets = sendableTargets(host, port, resolved, opts.policy);

  const settings: AttemptSettings = {
    retryDelaysMs: opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    connectionIdTtlMs: opts.connectionIdTtlMs ?? DEFAULT_CONNECTION_ID_TTL_MS,
    cache: opts.connectionCache ?? sharedConnectionIdCache,
    maxPacketsInFlight: Math.max(1, opts.maxPacketsInFlight ?? DEFAULT_MAX_PACKETS_IN_FLIGHT),
  };
  const winner = await raceAddresses(targets, opts.addressStaggerMs ?? DEFAULT_ADDRESS_STAGGER_MS, signal, where, (target, attemptSignal) =>
    scrapeAddress(target, distinct, settings, attemptSignal),
  );
  return {
    counts: slots.map((slot) => toScrapeCounts(winner.value[slot])),
    family: winner.target.family,
    address: winner.target.address,
  };
}

function toScrapeCounts(entry: UdpScrapeEntry | undefined): ScrapeCounts {
  if (entry === undefined) throw new Error('internal: a scrape reply entry is missing after the length check');
  return { seeders: entry.seeders, leechers: entry.leechers, completed: entry.completed, downloaders: null, unknown: false };
}

// ---------------------------------------------------------------------------------------------
// Addresses

interface Target {
  address: string;
  family: 4 | 6;
  port: number;
  /** ip:port for messages and the connection cache. */
  key: string;
}

/**
 * Turn resolved addresses into the exact IPs we will send to: IPv4-mapped IPv6 becomes plain IPv4
 * (sent from an IPv4 socket), duplicates go, and each is checked against the policy once more —
 * whatever the resolver was, nothing unchecked is ever sent to.
 */
function sendableTargets(host: string, port: number, resolved: readonly ResolvedAddress[], policy: OutboundPolicy): Target[] {
  const targets: Target[] = [];
  for (const { address, family } of resolved) {
    let ip = address;
    let fam = family;
    if (family === 6 && ipaddr.IPv6.isValid(address)) {
      const v6 = ipaddr.IPv6.parse(address);
      if (v6.isIPv4MappedAddress()) {
        ip = v6.toIPv4Address().toString();
        fam = 4;
      }
    }
    if (!isAddressAllowed(ip, policy)) continue;
    const key = connectionKey(ip, port);
    if (!targets.some((t) => t.key === key)) targets.push({ address: ip, family: fam, port, key });
  }
  if (targets.length === 0) {
    const first = resolved[0];
    if (first === undefined) throw new ScrapeError('SCRAPE_DNS', `cannot resolve ${host}`);
    throw new BlockedAddressError(host, first.address, addressRange(first.address));
  }
  return targets;
}

function canonicalIp(ip: string): string {
  try {
    return ipaddr.parse(ip).toNormalizedString();
  } catch {
    return ip;
  }
}

// ---------------------------------------------------------------------------------------------
// Trying each address within the deadline

/**
 * Start with the first address; start the next one when the previous fails or has not finished
 * after `staggerMs`; the first full answer wins and the others are cancelled. Settles only after
 * every started attempt has settled, so every socket is closed when the caller gets the result.
 */
function raceAddresses<T>(
  targets: readonly Target[],
  staggerMs: number,
  signal: AbortSignal,
  where: string,
  attempt: (target: Target, signal: AbortSignal) => Promise<T>,
): Promise<{ target: Target; value: T }> {
  return new Promise((resolve, reject) => {
    const controllers: AbortController[] = [];
    const errors: unknown[] = [];
    let started = 0;
    let running = 0;
    let settled = false;
    let decided: { ok: true; target: Target; value: T } | { ok: false; error: unknown } | undefined;
    let staggerTimer: NodeJS.Timeout | undefined;

    const decide = (outcome: NonNullable<typeof decided>) => {
      if (decided) return;
      decided = outcome;
      clearTimeout(staggerTimer);
      for (const controller of controllers) controller.abort();
    };
    const finishIfIdle = () => {
      if (settled || running > 0) return;
      if (!decided && started < targets.length && !signal.aborted) return;
      settled = true;
      clearTimeout(staggerTimer);
      if (decided?.ok) resolve({ target: decided.target, value: decided.value });
      else reject(decided ? decided.error : mostTellingError(errors, signal, where));
    };
    const startNext = () => {
      clearTimeout(staggerTimer);
      const target = targets[started];
      if (decided || target === undefined || signal.aborted) return;
      started++;
      running++;
      const controller = new AbortController();
      controllers.push(controller);
      attempt(target, AbortSignal.any([signal, controller.signal]))
        .then(
          (value) => decide({ ok: true, target, value }),
          (error: unknown) => {
            errors.push(error);
            if (error instanceof TrackerFailureError) decide({ ok: false, error });
            else startNext();
          },
        )
        .finally(() => {
          running--;
          finishIfIdle();
        });
      if (started < targets.length) staggerTimer = setTimeout(startNext, staggerMs);
    };
    startNext();
    finishIfIdle();
  });
}

/** A malformed answer says more than silence; silence at the deadline more than a refused packet. */
function mostTellingError(errors: readonly unknown[], signal: AbortSignal, where: string): unknown {
  const withCode = (code: string) => errors.find((e) => e instanceof ScrapeError && e.code === code);
  return withCode('SCRAPE_BAD_REPLY') ?? (signal.aborted ? timeoutError(where) : undefined) ?? errors[0] ?? timeoutError(where);
}

function timeoutError(where: string): ScrapeError {
  return new ScrapeError('SCRAPE_TIMEOUT', `udp tracker ${where} did not answer in time`);
}

/** Settle with `promise`, or reject as soon as `signal` fires (DNS lookups cannot be cancelled). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// ---------------------------------------------------------------------------------------------
// One address: socket, connection id, scrape packets

interface AttemptSettings {
  retryDelaysMs: readonly number[];
  connectionIdTtlMs: number;
  cache: ConnectionIdCache;
  maxPacketsInFlight: number;
}

async function scrapeAddress(target: Target, hashes: readonly Uint8Array[], settings: AttemptSettings, signal: AbortSignal): Promise<UdpScrapeEntry[]> {
  const link = new TrackerLink(target);
  try {
    await link.open(signal);
    const session = new ConnectionSession(link, settings, signal);
    const chunks: Uint8Array[][] = [];
    for (let at = 0; at < hashes.length; at += MAX_HASHES_PER_SCRAPE) chunks.push(hashes.slice(at, at + MAX_HASHES_PER_SCRAPE));
    const answers = await runLimited(chunks, settings.maxPacketsInFlight, signal, (chunk, chunkSignal) =>
      scrapeChunk(link, session, chunk, settings, chunkSignal),
    );
    return answers.flat();
  } finally {
    await link.close();
  }
}

/** Run `work` over `items`, at most `limit` at a time; the first failure cancels the rest. */
async function runLimited<I, R>(items: readonly I[], limit: number, signal: AbortSignal, work: (item: I, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const stop = new AbortController();
  const combined = AbortSignal.any([signal, stop.signal]);
  const results: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    for (let index = next++; failure === undefined && index < items.length; index = next++) {
      try {
        results[index] = await work(items[index] as I, combined);
      } catch (error) {
        if (failure === undefined) failure = { error };
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

type ScrapeAnswer = { kind: 'counts'; counts: UdpScrapeEntry[] } | { kind: 'error'; message: string };

async function scrapeChunk(
  link: TrackerLink,
  session: ConnectionSession,
  hashes: readonly Uint8Array[],
  settings: AttemptSettings,
  signal: AbortSignal,
): Promise<UdpScrapeEntry[]> {
  let connection = await session.connection();
  if (connection.fromCache) {
    // A cached id may be dead on the tracker's side (restart, rotated secret): opentracker drops
    // such packets silently, others answer an error. Either way: one wait, then connect afresh.
    const staleIdWaitMs = settings.retryDelaysMs[0] ?? DEFAULT_STALE_ID_WAIT_MS;
    const answer = await requestScrape(link, connection.id, hashes, [], staleIdWaitMs, signal);
    if (answer?.kind === 'counts') return answer.counts;
    connection = await session.renew(connection.id);
  }
  const answer = await requestScrape(link, connection.id, hashes, settings.retryDelaysMs, undefined, signal);
  if (answer === undefined) throw new Error('internal: a scrape without a give-up time returned nothing');
  if (answer.kind === 'error') throw trackerFailure(answer.message);
  return answer.counts;
}

function requestScrape(
  link: TrackerLink,
  connectionId: bigint,
  hashes: readonly Uint8Array[],
  retryDelaysMs: readonly number[],
  giveUpAfterMs: number | undefined,
  signal: AbortSignal,
): Promise<ScrapeAnswer | undefined> {
  const txId = link.newTxId();
  return link.request<ScrapeAnswer>({
    packet: encodeScrapeRequest(connectionId, txId, hashes),
    txId,
    retryDelaysMs,
    giveUpAfterMs,
    signal,
    accept: (reply) => {
      switch (reply.action) {
        case 'scrape':
          return reply.counts.length === hashes.length
            ? { ok: true, value: { kind: 'counts', counts: reply.counts } }
            : { ok: false, reason: `scrape reply has ${reply.counts.length} entries for ${hashes.length} info-hashes` };
        case 'error':
          return { ok: true, value: { kind: 'error', message: reply.message } };
        case 'connect':
          return { ok: false, reason: 'connect reply to a scrape request' };
        case 'invalid':
          return { ok: false, reason: reply.reason };
      }
    },
  });
}

function trackerFailure(message: string): TrackerFailureError {
  return new TrackerFailureError(cleanTrackerText(message) || 'error reply without a message');
}

interface Connection {
  id: bigint;
  fromCache: boolean;
}

/** The connection id one attempt uses, shared by its scrape packets; renewed at most once. */
class ConnectionSession {
  #current: Promise<Connection> | undefined;
  #renewed = false;

  constructor(
    private readonly link: TrackerLink,
    private readonly settings: AttemptSettings,
    private readonly signal: AbortSignal,
  ) {}

  connection(): Promise<Connection> {
    if (this.#current === undefined) {
      const cached = this.settings.cache.get(this.link.target.key);
      this.#current = cached === undefined ? this.#connect() : Promise.resolve({ id: cached, fromCache: true });
    }
    return this.#current;
  }

  renew(staleId: bigint): Promise<Connection> {
    if (!this.#renewed || this.#current === undefined) {
      this.#renewed = true;
      this.settings.cache.delete(this.link.target.key, staleId);
      this.#current = this.#connect();
    }
    return this.#current;
  }

  #connect(): Promise<Connection> {
    const txId = this.link.newTxId();
    const connecting = this.link
      .request<{ kind: 'connected'; id: bigint } | { kind: 'error'; message: string }>({
        packet: encodeConnectRequest(txId),
        txId,
        retryDelaysMs: this.settings.retryDelaysMs,
        giveUpAfterMs: undefined,
        signal: this.signal,
        accept: (reply) => {
          switch (reply.action) {
            case 'connect':
              return { ok: true, value: { kind: 'connected', id: reply.connectionId } };
            case 'error':
              return { ok: true, value: { kind: 'error', message: reply.message } };
            case 'scrape':
              return { ok: false, reason: 'scrape reply to a connect request' };
            case 'invalid':
              return { ok: false, reason: reply.reason };
          }
        },
      })
      .then((answer) => {
        if (answer === undefined) throw new Error('internal: a connect without a give-up time returned nothing');
        if (answer.kind === 'error') throw trackerFailure(answer.message);
        this.settings.cache.set(this.link.target.key, answer.id, this.settings.connectionIdTtlMs);
        return { id: answer.id, fromCache: false };
      });
    // Whoever awaits it sees the failure; this only keeps an abandoned one from being "unhandled".
    connecting.catch(() => undefined);
    return connecting;
  }
}

// ---------------------------------------------------------------------------------------------
// The socket

type Verdict<T> = { ok: true; value: T } | { ok: false; reason: string };

interface RequestSpec<T> {
  packet: Uint8Array;
  txId: number;
  /** Waits before each retransmission; after the last send, wait for the signal (or give up). */
  retryDelaysMs: readonly number[];
  /** After the last send, resolve `undefined` this long after instead of waiting for the signal. */
  giveUpAfterMs: number | undefined;
  signal: AbortSignal;
  /** Judge a reply carrying our transaction id: take it, or note why it is malformed and keep waiting. */
  accept: (reply: UdpTrackerReply) => Verdict<T>;
}

interface PendingRequest {
  onReply(reply: UdpTrackerReply): void;
  fail(error: Error): void;
}

/**
 * One dgram socket bound to the wildcard of the target's family and connected to the checked
 * ip:port: the kernel then sends only there and drops datagrams from anyone else, and we check the
 * source again anyway. Replies are dispatched to requests by transaction id.
 */
class TrackerLink {
  readonly #socket: dgram.Socket;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #canonicalAddress: string;
  #failure: Error | undefined;
  #onOpenFailure: ((error: Error) => void) | undefined;
  #closed = false;

  constructor(readonly target: Target) {
    this.#canonicalAddress = canonicalIp(target.address);
    this.#socket = dgram.createSocket({ type: target.family === 6 ? 'udp6' : 'udp4', ipv6Only: target.family === 6 });
    this.#socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    this.#socket.on('error', (err) => this.#onError(err));
  }

  open(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        signal.removeEventListener('abort', onAbort);
        this.#onOpenFailure = undefined;
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => done(timeoutError(this.target.key));
      if (signal.aborted) return done(timeoutError(this.target.key));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#onOpenFailure = done;
      const wildcard = this.target.family === 6 ? '::' : '0.0.0.0';
      this.#socket.bind({ port: 0, address: wildcard }, () => {
        if (this.#onOpenFailure !== done) return;
        this.#socket.connect(this.target.port, this.target.address, (err?: Error) => {
          if (this.#onOpenFailure !== done) return;
          done(err ? this.#networkError(err) : undefined);
        });
      });
    });
  }

  newTxId(): number {
    for (let draw = 0; draw < MAX_TX_ID_DRAWS; draw++) {
      const txId = randomBytes(TX_ID_BYTES).readUInt32BE(0);
      if (!this.#pending.has(txId)) return txId;
    }
    throw new Error('internal: no free transaction id');
  }

  request<T>(spec: RequestSpec<T>): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const { txId, signal } = spec;
      let malformed: string | undefined;
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const finish = () => {
        finished = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(txId);
      };
      const fail = (error: Error) => {
        finish();
        reject(error);
      };
      const onAbort = () =>
        fail(
          malformed === undefined
            ? timeoutError(this.target.key)
            : new ScrapeError('SCRAPE_BAD_REPLY', `udp tracker ${this.target.key} sent only malformed replies (${malformed})`),
        );
      if (this.#failure) return reject(this.#failure);
      if (this.#closed || signal.aborted) return reject(timeoutError(this.target.key));
      if (this.#pending.has(txId)) return reject(new Error('internal: transaction id already in use'));
      this.#pending.set(txId, {
        onReply: (reply) => {
          const verdict = spec.accept(reply);
          if (!verdict.ok) {
            malformed = verdict.reason;
            return;
          }
          finish();
          resolve(verdict.value);
        },
        fail,
      });
      signal.addEventListener('abort', onAbort, { once: true });
      let sends = 0;
      const transmit = () => {
        this.#send(spec.packet, fail);
        if (finished) return;
        const retryDelay = spec.retryDelaysMs[sends++];
        if (retryDelay !== undefined) timer = setTimeout(transmit, retryDelay);
        else if (spec.giveUpAfterMs !== undefined) {
          timer = setTimeout(() => {
            finish();
            resolve(undefined);
          }, spec.giveUpAfterMs);
        }
      };
      transmit();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing = new Error('internal: socket closed');
    for (const pending of [...this.#pending.values()]) pending.fail(closing);
    this.#onOpenFailure?.(closing);
    await new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  #send(packet: Uint8Array, fail: (error: Error) => void): void {
    if (this.#closed) return;
    try {
      this.#socket.send(packet, (err) => {
        if (err) fail(this.#networkError(err));
      });
    } catch (err) {
      fail(this.#networkError(err as Error));
    }
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port !== this.target.port) return;
    if (rinfo.address !== this.target.address && canonicalIp(rinfo.address) !== this.#canonicalAddress) return;
    const reply = decodeReply(msg);
    if (reply.txId === undefined) return;
    this.#pending.get(reply.txId)?.onReply(reply);
  }

  /** ICMP "port unreachable" and friends arrive here on a connected socket: this address is done. */
  #onError(err: Error): void {
    const error = this.#networkError(err);
    this.#failure = error;
    this.#onOpenFailure?.(error);
    for (const pending of [...this.#pending.values()]) pending.fail(error);
  }

  #networkError(err: Error): ScrapeError {
    const code = (err as { code?: string }).code ?? 'error';
    return new ScrapeError('SCRAPE_CONNECT', `udp tracker ${this.target.key} is unreachable (${code}: ${err.message})`, { cause: err });
  }
}
