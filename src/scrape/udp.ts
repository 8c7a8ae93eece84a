import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { cleanTrackerText, networkFailure, ScrapeError, TrackerFailureError, withFamily } from './errors.js';
import {
  addressRange,
  BlockedAddressError,
  canonicalAddress,
  isAddressAllowed,
  type OutboundPolicy,
  type ResolvedAddress,
  resolveAllowed,
} from './guard.js';
import { type AddressLimiter, sharedAddressLimiter } from './limiter.js';
import type { ScrapeCounts } from './types.js';
import {
  decodeReply,
  encodeConnectRequest,
  encodeScrapeRequest,
  INFO_HASH_BYTES,
  MAX_HASHES_PER_SCRAPE,
  replyTxId,
  type UdpScrapeEntry,
  type UdpTrackerReply,
} from './udp-packets.js';

/**
 * UDP tracker scrape (BEP 15) over node:dgram: connect → connection id → scrape, with
 * retransmission inside one deadline (the caller's AbortSignal), every resolved address tried
 * (IPv4 and IPv6), and nothing sent anywhere but an address the outbound policy allows.
 *
 * Scrapes of the same tracker address that overlap in time share one socket (see TrackerSocket),
 * so a busy server does not create, bind, connect and close a socket per scrape.
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
/**
 * How long a scrape with a cached connection id waits before the id is presumed dead and a fresh
 * connect is made, when no retry delays are configured (otherwise: the first retry delay).
 */
export const DEFAULT_STALE_ID_WAIT_MS = 1000;
/** Random transaction ids drawn before giving up on finding one not already in use (2³² space). */
const MAX_TX_ID_DRAWS = 8;
/** BEP 15: a transaction id is a u32. */
const TX_ID_BYTES = 4;
/** Random bytes drawn from the CSPRNG at once for transaction ids (one call per 1024 ids, not per id). */
const TX_ID_POOL_BYTES = 4096;
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
  /** The deadline: when it fires, the call fails with SCRAPE_TIMEOUT and stops sending. */
  signal: AbortSignal;
  policy: OutboundPolicy;
  retryDelaysMs?: readonly number[];
  connectionIdTtlMs?: number;
  connectionCache?: ConnectionIdCache;
  addressStaggerMs?: number;
  maxPacketsInFlight?: number;
  /** Name resolution; every address it returns is checked against `policy` again before use. */
  resolve?: (host: string, policy: OutboundPolicy, signal: AbortSignal) => Promise<ResolvedAddress[]>;
  /**
   * Requests awaiting an answer per resolved address, whatever names led there (each connect or
   * scrape packet holds a slot from its first send to its answer); by default the process-wide
   * limiter that GuardedAgent connections also count against.
   */
  addressLimiter?: AddressLimiter;
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
    throw new ScrapeError('SCRAPE_BAD_PORT', `udp tracker port ${port} is not a port number`);
  }
  if (hashes.length === 0) throw new ScrapeError('SCRAPE_NO_HASH', 'no info-hash to scrape');
  for (let i = 0; i < hashes.length; i++) {
    const length = hashes[i]!.length;
    if (length !== INFO_HASH_BYTES) {
      throw new ScrapeError('SCRAPE_BAD_HASH', `info-hash #${i} is ${length} bytes; BEP 15 takes ${INFO_HASH_BYTES}`);
    }
  }
  const { signal } = opts;
  const bare = unbracket(host);
  if (signal.aborted) throw timeoutError();

  const { distinct, slots } = distinctHashes(hashes);
  const targets = literalTargets(bare, port, opts) ?? (await resolvedTargets(host, port, opts));
  if (signal.aborted) throw timeoutError();

  const settings: AttemptSettings = {
    retryDelaysMs: opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    connectionIdTtlMs: opts.connectionIdTtlMs ?? DEFAULT_CONNECTION_ID_TTL_MS,
    cache: opts.connectionCache ?? sharedConnectionIdCache,
    maxPacketsInFlight: Math.max(1, opts.maxPacketsInFlight ?? DEFAULT_MAX_PACKETS_IN_FLIGHT),
    addressLimiter: opts.addressLimiter ?? sharedAddressLimiter,
  };
  // One cancellation scope for the whole call, fed by the caller's signal; cancelled on the way out
  // too, so a request this call abandoned (a connect nobody awaits any more) stops retransmitting.
  const call = new Cancellation();
  const onAbort = () => call.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const winner = await raceAddresses(targets, opts.addressStaggerMs ?? DEFAULT_ADDRESS_STAGGER_MS, call, signal, (target, scope) =>
      scrapeAddress(target, distinct, settings, scope),
    );
    return {
      counts: slots === null ? winner.value.map(toScrapeCounts) : slots.map((slot) => toScrapeCounts(winner.value[slot])),
      family: winner.target.family,
      address: winner.target.address,
    };
  } finally {
    signal.removeEventListener('abort', onAbort);
    call.cancel();
  }
}

/**
 * Trackers answer a repeated hash once (bittorrent-tracker keys its reply by hash), which would break
 * the one-entry-per-hash length check: ask for each distinct hash once. `slots` maps every requested
 * position to its distinct hash, or is null when there were no repeats.
 */
function distinctHashes(hashes: readonly Uint8Array[]): { distinct: readonly Uint8Array[]; slots: number[] | null } {
  if (hashes.length === 1) return { distinct: hashes, slots: null };
  const slotOf = new Map<string, number>();
  const distinct: Uint8Array[] = [];
  const slots = hashes.map((hash) => {
    const key = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1');
    let slot = slotOf.get(key);
    if (slot === undefined) {
      slot = distinct.push(hash) - 1;
      slotOf.set(key, slot);
    }
    return slot;
  });
  return distinct.length === hashes.length ? { distinct: hashes, slots: null } : { distinct, slots };
}

function toScrapeCounts(entry: UdpScrapeEntry | undefined): ScrapeCounts {
  if (entry === undefined) throw new Error('internal: a scrape reply entry is missing after the length check');
  return { seeders: entry.seeders, leechers: entry.leechers, completed: entry.completed, downloaders: null, unknown: false };
}

// ---------------------------------------------------------------------------------------------
// Addresses

interface Target {
  /** An IP the outbound policy allowed for this call: the only address a packet is sent to. */
  address: string;
  family: 4 | 6;
  port: number;
  /** ip:port for messages, the socket pool and the connection cache. */
  key: string;
  /** The address as the AddressLimiter counts it (worked out once per scrape, not per packet). */
  slotKey: string;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * A literal IP needs no resolver round trip (resolveAllowed would only echo it back): its checked
 * targets at once, or null when the host is a name (or a resolver was injected).
 */
function literalTargets(bare: string, port: number, opts: UdpScrapeOptions): Target[] | null {
  if (opts.resolve !== undefined) return null;
  const family = isIP(bare);
  return family === 0 ? null : sendableTargets(bare, port, [{ address: bare, family: family as 4 | 6 }], opts.policy);
}

/** The checked addresses a name resolves to; like a literal's, judged by `sendableTargets` before use. */
async function resolvedTargets(host: string, port: number, opts: UdpScrapeOptions): Promise<Target[]> {
  const { policy, signal } = opts;
  const resolve = opts.resolve ?? resolveAllowed;
  let resolved: ResolvedAddress[];
  try {
    resolved = await untilAborted(resolve(host, policy, signal), signal);
  } catch (err) {
    if (signal.aborted) throw timeoutError();
    throw err;
  }
  return sendableTargets(host, port, resolved, policy);
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
    if (!targets.some((t) => t.key === key)) targets.push({ address: ip, family: fam, port, key, slotKey: canonicalAddress(ip) });
  }
  if (targets.length === 0) {
    const first = resolved[0];
    if (first === undefined) throw new ScrapeError('SCRAPE_DNS', "the tracker's host name has no address");
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
// Cancellation

/**
 * Stops the requests of one scrape together: the caller's deadline, the address race being decided,
 * a sibling packet failing. A plain flag and listener set, because an AbortController per attempt
 * allocates an EventTarget, `AbortSignal.any` more, and `abort()` a DOMException with a stack trace —
 * all measurable at thousands of scrapes a second. The caller's AbortSignal feeds the call's scope.
 */
class Cancellation {
  #cancelled = false;
  readonly #listeners = new Set<() => void>();
  #detach: (() => void) | undefined;

  get cancelled(): boolean {
    return this.#cancelled;
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#detach?.();
    this.#detach = undefined;
    if (this.#listeners.size === 0) return;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener();
  }

  /** Call `listener` once on cancellation (the caller checks `cancelled` first). */
  on(listener: () => void): void {
    this.#listeners.add(listener);
  }

  off(listener: () => void): void {
    this.#listeners.delete(listener);
  }

  /** A scope cancelled with this one, or on its own (which leaves this one running). */
  child(): Cancellation {
    const child = new Cancellation();
    if (this.#cancelled) {
      child.cancel();
      return child;
    }
    const relay = () => child.cancel();
    this.on(relay);
    child.#detach = () => this.off(relay);
    return child;
  }
}

// ---------------------------------------------------------------------------------------------
// Trying each address within the deadline

/**
 * Start with the first address; start the next one when the previous fails or has not finished
 * after `staggerMs`; the first full answer wins and the others are cancelled. Settles only after
 * every started attempt has settled, so no request of this call is left waiting on a socket.
 */
function raceAddresses<T>(
  targets: readonly Target[],
  staggerMs: number,
  call: Cancellation,
  signal: AbortSignal,
  attempt: (target: Target, scope: Cancellation) => Promise<T>,
): Promise<{ target: Target; value: T }> {
  const only = targets.length === 1 ? targets[0] : undefined;
  if (only !== undefined) {
    // One address (the usual case): nothing to race, so no per-attempt scope or stagger timer.
    return attempt(only, call).then(
      (value) => ({ target: only, value }),
      (error: unknown) => {
        throw error instanceof TrackerFailureError ? error : mostTellingError([error], signal);
      },
    );
  }
  return new Promise((resolve, reject) => {
    const scopes: Cancellation[] = [];
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
      for (const scope of scopes) scope.cancel();
    };
    const finishIfIdle = () => {
      if (settled || running > 0) return;
      if (!decided && started < targets.length && !call.cancelled) return;
      settled = true;
      clearTimeout(staggerTimer);
      call.off(onCallCancelled);
      if (decided?.ok) resolve({ target: decided.target, value: decided.value });
      else reject(decided ? decided.error : mostTellingError(errors, signal));
    };
    const onCallCancelled = () => {
      clearTimeout(staggerTimer);
      finishIfIdle();
    };
    const startNext = () => {
      clearTimeout(staggerTimer);
      const target = targets[started];
      if (decided || target === undefined || call.cancelled) return;
      started++;
      running++;
      const scope = call.child();
      scopes.push(scope);
      attempt(target, scope)
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
    call.on(onCallCancelled);
    startNext();
    finishIfIdle();
  });
}

/** A malformed answer says more than silence; silence at the deadline more than a refused packet. */
function mostTellingError(errors: readonly unknown[], signal: AbortSignal): unknown {
  const withCode = (code: string) => errors.find((e) => e instanceof ScrapeError && e.code === code);
  return withCode('SCRAPE_BAD_REPLY') ?? (signal.aborted ? timeoutError() : undefined) ?? errors[0] ?? timeoutError();
}

/** Texts name no address: they reach a tracker row, whose URL already says which tracker. */
function timeoutError(): ScrapeError {
  return new ScrapeError('SCRAPE_TIMEOUT', 'the UDP tracker did not answer in time');
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
// One address: connection id, scrape packets

interface AttemptSettings {
  retryDelaysMs: readonly number[];
  connectionIdTtlMs: number;
  cache: ConnectionIdCache;
  maxPacketsInFlight: number;
  addressLimiter: AddressLimiter;
}

async function scrapeAddress(target: Target, hashes: readonly Uint8Array[], settings: AttemptSettings, scope: Cancellation): Promise<UdpScrapeEntry[]> {
  const socket = trackerSockets.acquire(target);
  try {
    const session = new ConnectionSession(socket, settings, scope);
    if (hashes.length <= MAX_HASHES_PER_SCRAPE) return await scrapeChunk(socket, session, hashes, settings, scope);
    const chunks: (readonly Uint8Array[])[] = [];
    for (let at = 0; at < hashes.length; at += MAX_HASHES_PER_SCRAPE) chunks.push(hashes.slice(at, at + MAX_HASHES_PER_SCRAPE));
    const answers = await runLimited(chunks, settings.maxPacketsInFlight, scope, (chunk, chunkScope) =>
      scrapeChunk(socket, session, chunk, settings, chunkScope),
    );
    return answers.flat();
  } finally {
    socket.release();
  }
}

/** Run `work` over `items`, at most `limit` at a time; the first failure cancels the rest. */
async function runLimited<I, R>(items: readonly I[], limit: number, scope: Cancellation, work: (item: I, scope: Cancellation) => Promise<R>): Promise<R[]> {
  const batch = scope.child();
  const results: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    for (let index = next++; failure === undefined && index < items.length; index = next++) {
      try {
        results[index] = await work(items[index] as I, batch);
      } catch (error) {
        if (failure === undefined) failure = { error };
        batch.cancel();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  } finally {
    batch.cancel();
  }
  if (failure) throw failure.error;
  return results;
}

type ScrapeAnswer = { kind: 'counts'; counts: UdpScrapeEntry[] } | { kind: 'error'; message: string };

async function scrapeChunk(
  socket: TrackerSocket,
  session: ConnectionSession,
  hashes: readonly Uint8Array[],
  settings: AttemptSettings,
  scope: Cancellation,
): Promise<UdpScrapeEntry[]> {
  let connection = await session.connection();
  if (connection.fromCache) {
    // A cached id may be dead on the tracker's side (restart, rotated secret): opentracker drops
    // such packets silently, others answer an error. Either way: one wait, then connect afresh.
    const staleIdWaitMs = settings.retryDelaysMs[0] ?? DEFAULT_STALE_ID_WAIT_MS;
    const answer = await requestScrape(socket, connection.id, hashes, [], staleIdWaitMs, scope, settings.addressLimiter);
    if (answer?.kind === 'counts') return answer.counts;
    connection = await session.renew(connection.id);
  }
  const answer = await requestScrape(socket, connection.id, hashes, settings.retryDelaysMs, undefined, scope, settings.addressLimiter);
  if (answer === undefined) throw new Error('internal: a scrape without a give-up time returned nothing');
  if (answer.kind === 'error') throw trackerFailure(answer.message, socket.target);
  return answer.counts;
}

function acceptScrape(expected: number): (reply: UdpTrackerReply) => Verdict<ScrapeAnswer> {
  return (reply) => {
    switch (reply.action) {
      case 'scrape':
        return reply.counts.length === expected
          ? { ok: true, value: { kind: 'counts', counts: reply.counts } }
          : { ok: false, reason: `scrape reply has ${reply.counts.length} entries for ${expected} info-hashes` };
      case 'error':
        return { ok: true, value: { kind: 'error', message: reply.message } };
      case 'connect':
        return { ok: false, reason: 'connect reply to a scrape request' };
      case 'invalid':
        return { ok: false, reason: reply.reason };
    }
  };
}

function requestScrape(
  socket: TrackerSocket,
  connectionId: bigint,
  hashes: readonly Uint8Array[],
  retryDelaysMs: readonly number[],
  giveUpAfterMs: number | undefined,
  scope: Cancellation,
  slots: AddressLimiter,
): Promise<ScrapeAnswer | undefined> {
  const txId = socket.newTxId();
  return socket.request<ScrapeAnswer>({
    packet: encodeScrapeRequest(connectionId, txId, hashes),
    txId,
    retryDelaysMs,
    giveUpAfterMs,
    scope,
    slots,
    accept: acceptScrape(hashes.length),
  });
}

type ConnectAnswer = { kind: 'connected'; id: bigint } | { kind: 'error'; message: string };

function acceptConnect(reply: UdpTrackerReply): Verdict<ConnectAnswer> {
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
}

/** The tracker's BEP 15 error reply, which came from `target` (its family is the row's). */
function trackerFailure(message: string, target: Target): TrackerFailureError {
  return withFamily(new TrackerFailureError(cleanTrackerText(message) || 'error reply without a message'), target.family);
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
    private readonly socket: TrackerSocket,
    private readonly settings: AttemptSettings,
    private readonly scope: Cancellation,
  ) {}

  connection(): Promise<Connection> {
    if (this.#current === undefined) {
      const cached = this.settings.cache.get(this.socket.target.key);
      this.#current = cached === undefined ? this.#connect() : Promise.resolve({ id: cached, fromCache: true });
    }
    return this.#current;
  }

  renew(staleId: bigint): Promise<Connection> {
    if (!this.#renewed || this.#current === undefined) {
      this.#renewed = true;
      this.settings.cache.delete(this.socket.target.key, staleId);
      this.#current = this.#connect();
    }
    return this.#current;
  }

  #connect(): Promise<Connection> {
    const txId = this.socket.newTxId();
    const connecting = this.socket
      .request<ConnectAnswer>({
        packet: encodeConnectRequest(txId),
        txId,
        retryDelaysMs: this.settings.retryDelaysMs,
        giveUpAfterMs: undefined,
        scope: this.scope,
        slots: this.settings.addressLimiter,
        accept: acceptConnect,
      })
      .then((answer) => {
        if (answer === undefined) throw new Error('internal: a connect without a give-up time returned nothing');
        if (answer.kind === 'error') throw trackerFailure(answer.message, this.socket.target);
        this.settings.cache.set(this.socket.target.key, answer.id, this.settings.connectionIdTtlMs);
        return { id: answer.id, fromCache: false };
      });
    // Whoever awaits it sees the failure; this only keeps an abandoned one from being "unhandled".
    connecting.catch(() => undefined);
    return connecting;
  }
}

// ---------------------------------------------------------------------------------------------
// The sockets

/** Transaction ids are unpredictable (BEP 15: they are what stops an off-path spoofer), drawn in bulk. */
const txIdPool = Buffer.allocUnsafeSlow(TX_ID_POOL_BYTES);
let txIdPoolOffset = TX_ID_POOL_BYTES;

function randomTxId(): number {
  if (txIdPoolOffset + TX_ID_BYTES > TX_ID_POOL_BYTES) {
    randomFillSync(txIdPool);
    txIdPoolOffset = 0;
  }
  const txId = txIdPool.readUInt32BE(txIdPoolOffset);
  txIdPoolOffset += TX_ID_BYTES;
  return txId;
}

type Verdict<T> = { ok: true; value: T } | { ok: false; reason: string };

interface RequestSpec<T> {
  packet: Uint8Array;
  txId: number;
  /** Waits before each retransmission; after the last send, wait for cancellation (or give up). */
  retryDelaysMs: readonly number[];
  /** After the last send, resolve `undefined` this long after instead of waiting for cancellation. */
  giveUpAfterMs: number | undefined;
  scope: Cancellation;
  /** The per-address bound: the request holds one slot from its first send until it settles. */
  slots: AddressLimiter;
  /** Judge a reply carrying our transaction id: take it, or note why it is malformed and keep waiting. */
  accept: (reply: UdpTrackerReply) => Verdict<T>;
}

interface PendingRequest {
  onReply(reply: UdpTrackerReply): void;
  fail(error: Error): void;
}

/**
 * Open sockets by tracker ip:port. Scrapes of one tracker that overlap in time share its socket;
 * a socket closes once nobody uses it (see TrackerSocket.release), so nothing stays open between
 * bursts of scrapes, and a socket that failed is replaced for the next user.
 */
class TrackerSocketPool {
  readonly #sockets = new Map<string, TrackerSocket>();
  readonly #forget = (socket: TrackerSocket) => {
    if (this.#sockets.get(socket.target.key) === socket) this.#sockets.delete(socket.target.key);
  };

  /** The open socket for this checked target, or a new one; the caller must `release()` it. */
  acquire(target: Target): TrackerSocket {
    let socket = this.#sockets.get(target.key);
    if (socket === undefined || !socket.usable) {
      socket = new TrackerSocket(target, this.#forget);
      this.#sockets.set(target.key, socket);
    }
    socket.retain();
    return socket;
  }
}

const trackerSockets = new TrackerSocketPool();

/**
 * One dgram socket, bound explicitly to the wildcard of the target's family and connected to the
 * checked ip:port: the kernel then sends only there, drops datagrams from anyone else, and reports
 * ICMP "port unreachable" (an unconnected socket never hears of it, turning a refused port into a
 * wait for the deadline). We check each reply's source again anyway, then route it to its request by
 * transaction id; a datagram nobody waits for is ignored.
 */
class TrackerSocket {
  readonly #socket: dgram.Socket;
  readonly #canonicalAddress: string;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #forget: (socket: TrackerSocket) => void;
  /** One callback for every send: a send error (e.g. a pending ICMP error) ends this socket. */
  readonly #afterSend = (err: Error | null) => {
    if (err) this.#fail(err);
  };
  /** Packets sent before `connect` completed, with the transaction they belong to. */
  #queued: { txId: number; packet: Uint8Array }[] = [];
  #users = 0;
  #connected = false;
  #closed = false;
  #failure: ScrapeError | undefined;
  #idleCheck: NodeJS.Immediate | undefined;

  constructor(
    readonly target: Target,
    forget: (socket: TrackerSocket) => void,
  ) {
    this.#forget = forget;
    this.#canonicalAddress = canonicalIp(target.address);
    const v6 = target.family === 6;
    this.#socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    this.#socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    // ICMP errors for the connected peer arrive here; so do bind errors.
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.bind({ port: 0, address: v6 ? '::' : '0.0.0.0' }, () => {
      if (this.#closed) return;
      this.#socket.connect(target.port, target.address, (err?: Error) => this.#onConnected(err));
    });
  }

  /** Whether a new scrape may use this socket (it has not failed or closed). */
  get usable(): boolean {
    return !this.#closed && this.#failure === undefined;
  }

  retain(): void {
    this.#users++;
  }

  /**
   * The last user closes the socket, at the end of the current event-loop turn: a scrape that
   * starts as another one ends (a loop over trackers or torrents) reuses it, and nothing stays open
   * once the process has moved on.
   */
  release(): void {
    this.#users--;
    if (this.#users > 0 || this.#closed || this.#idleCheck !== undefined) return;
    this.#idleCheck = setImmediate(() => {
      this.#idleCheck = undefined;
      if (this.#users === 0) this.#close(null);
    });
  }

  newTxId(): number {
    for (let draw = 0; draw < MAX_TX_ID_DRAWS; draw++) {
      const txId = randomTxId();
      if (!this.#pending.has(txId)) return txId;
    }
    throw new Error('internal: no free transaction id');
  }

  request<T>(spec: RequestSpec<T>): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const { txId, scope } = spec;
      if (this.#failure) return reject(this.#failure);
      if (this.#closed || scope.cancelled) return reject(timeoutError());
      if (this.#pending.has(txId)) return reject(new Error('internal: transaction id already in use'));
      let malformed: string | undefined;
      let timer: NodeJS.Timeout | undefined;
      let sends = 0;
      const { slots } = spec;
      const slotKey = this.target.slotKey;
      let holdsSlot = false;
      let withdraw: (() => void) | undefined;
      const finish = () => {
        clearTimeout(timer);
        scope.off(onCancel);
        this.#pending.delete(txId);
        if (holdsSlot) {
          holdsSlot = false;
          slots.release(slotKey);
        } else {
          withdraw?.();
          withdraw = undefined;
        }
      };
      const fail = (error: Error) => {
        finish();
        reject(error);
      };
      const onCancel = () =>
        fail(
          malformed === undefined
            ? timeoutError()
            : withFamily(new ScrapeError('SCRAPE_BAD_REPLY', `the UDP tracker sent only malformed replies (${malformed})`), this.target.family),
        );
      const transmit = () => {
        this.#send(txId, spec.packet);
        const retryDelay = spec.retryDelaysMs[sends++];
        if (retryDelay !== undefined) timer = setTimeout(transmit, retryDelay);
        else if (spec.giveUpAfterMs !== undefined) {
          timer = setTimeout(() => {
            finish();
            resolve(undefined);
          }, spec.giveUpAfterMs);
        }
      };
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
      scope.on(onCancel);
      if (slots.tryAcquire(slotKey)) {
        holdsSlot = true;
        transmit();
        return;
      }
      // Every slot of this address is taken (by any name, port or protocol): wait for one, or for cancellation.
      try {
        withdraw = slots.enqueue(slotKey, () => {
          withdraw = undefined;
          holdsSlot = true;
          transmit();
        });
      } catch (err) {
        fail(err as Error);
      }
    });
  }

  #send(txId: number, packet: Uint8Array): void {
    if (!this.usable) return;
    if (!this.#connected) {
      this.#queued.push({ txId, packet });
      return;
    }
    this.#socket.send(packet, this.#afterSend);
  }

  #onConnected(err: Error | undefined): void {
    if (this.#closed) return;
    if (err) {
      this.#fail(err);
      return;
    }
    this.#connected = true;
    const queued = this.#queued;
    this.#queued = [];
    // A request cancelled while the socket was connecting has nothing left to send.
    for (const { txId, packet } of queued) if (this.#pending.has(txId)) this.#socket.send(packet, this.#afterSend);
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port !== this.target.port) return;
    if (rinfo.address !== this.target.address && canonicalIp(rinfo.address) !== this.#canonicalAddress) return;
    const txId = replyTxId(msg);
    if (txId === undefined) return;
    this.#pending.get(txId)?.onReply(decodeReply(msg));
  }

  /** This address is done (ICMP unreachable, send or bind failure): every request on it fails. */
  #fail(err: Error): void {
    if (!this.usable) return;
    // In plain words (e.g. "nothing listens on the tracker's UDP port (ECONNREFUSED)"): Node's own
    // message names the address and port, which a row's text never does.
    const error = networkFailure(err, 'udp');
    this.#failure = error;
    this.#close(error);
  }

  #close(error: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#forget(this);
    if (this.#idleCheck !== undefined) clearImmediate(this.#idleCheck);
    this.#idleCheck = undefined;
    this.#queued = [];
    if (this.#pending.size > 0) {
      const reason = error ?? new Error('internal: socket closed');
      for (const pending of [...this.#pending.values()]) pending.fail(reason);
    }
    try {
      this.#socket.close();
    } catch {
      // Already closed by dgram itself (e.g. after a bind failure): nothing left to release.
    }
  }
}
