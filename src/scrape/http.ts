import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { isIP, type LookupFunction } from 'node:net';
import { promisify } from 'node:util';
import { gunzip, inflate, inflateRaw } from 'node:zlib';
import { Agent, buildConnector, type Dispatcher, errors, Pool } from 'undici';
import { type BencodeView, decodeView, toText, withTokenTable } from '../bencode/index.js';
import { APP_NAME, APP_VERSION } from '../version.js';
import { asScrapeError, cleanTrackerText, ScrapeError, TrackerFailureError, withFamily } from './errors.js';
import {
  addressRange,
  BlockedAddressError,
  canonicalAddress,
  DnsResolver,
  type HostLookup,
  isAddressAllowed,
  type OutboundPolicy,
  type ResolvedAddress,
  sharedResolver,
} from './guard.js';
import { type AddressLimiter, type ReleaseSlot, sharedAddressLimiter } from './limiter.js';
import type { ScrapeCounts } from './types.js';
import { infoHashParams, originFormOf, requestTargetOf } from './url.js';

// ---------------------------------------------------------------------------------------------
// Limits (every one overridable per call)

/** Largest scrape reply we read, and the most a gzip/deflate body may inflate to. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Time allowed to get a connection: resolving the name, waiting for a free slot at the address,
 * and the TCP (and TLS) handshakes, every address tried included.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
/**
 * When a name has several addresses, how long one of them may take to connect before the next is
 * tried (a dead address must not eat the whole connect time; RFC 8305 uses 250 ms, a scrape
 * tracker far away can need more).
 */
export const DEFAULT_ADDRESS_ATTEMPT_MS = 1000;
/** Time allowed between sending the request and the end of the response headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 5000;
/** Redirects followed before giving up (each hop goes through the same guarded dispatcher). */
export const DEFAULT_MAX_REDIRECTS = 3;
/**
 * Times a request is sent again when the connection it went out on was closed or reset before any
 * byte of the reply came back. opentracker closes every connection right after its reply without
 * saying `Connection: close`, so a kept-alive socket can be reused in the instant before that close
 * arrives (on loopback, a few scrapes in 10 000 at 16 in flight). A scrape is a GET that changes
 * nothing, so sending it again is safe; once covers that race and bounds what a tracker that resets
 * every request costs (two requests instead of one).
 */
export const DEFAULT_CLOSED_CONNECTION_RETRIES = 1;
/**
 * Info-hashes asked for in one HTTP scrape request. Each adds 63 bytes to the request line
 * (`info_hash=` and 20 bytes as %XX); trackers and the proxies before them refuse long request
 * lines (often 4–8 KiB), so larger batches are split into several requests sent in parallel.
 */
export const MAX_HASHES_PER_HTTP_SCRAPE = 50;
/** Largest WebSocket tracker message (a scrape reply is a few hundred bytes a hash). */
export const DEFAULT_MAX_WS_MESSAGE_BYTES = 1024 * 1024;
/**
 * How long an idle kept-alive connection stays open, whatever the tracker's Keep-Alive header
 * says. An open connection holds one of its address's slots (see AddressLimiter): a short idle
 * time frees them for other trackers on that address, and scrapes reuse a connection within a
 * burst (one fan-out, its split requests), not across the minutes the cache covers.
 */
export const DEFAULT_KEEP_ALIVE_IDLE_MS = 1000;
/** Origins a long-lived GuardedAgent remembers (family, last failure); the oldest are forgotten. */
export const MAX_REMEMBERED_ORIGINS = 1024;
/**
 * Origins whose connection pool a GuardedAgent keeps between requests (see GuardedAgent.dispatch);
 * beyond this the least recently used pool is closed. An idle pool holds no socket and no address
 * slot, only a few objects; a fan-out asks at most DEFAULT_MAX_TRACKERS origins, a busy server a
 * few hundred.
 */
export const MAX_POOLED_ORIGINS = 256;

/** Scrape URLs whose parsed form (origin, request target, origin key) is remembered; the oldest are forgotten. */
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
  addressAttemptMs?: number;
  headersTimeoutMs?: number;
  keepAliveIdleMs?: number;
  /** Bounds one WebSocket message when this agent carries a WebSocket (undici `maxPayloadSize`). */
  maxWebSocketMessageBytes?: number;
  /** Refuse more than the policy does (an operator's own deny list; tests of each check). */
  refuseAddress?: (ip: string) => boolean;
  /**
   * Let one exact endpoint through although the policy refuses its address (a LAN tracker an
   * operator trusts, a test's first hop). Every other address stays judged by the policy.
   */
  exemptEndpoint?: (ip: string, port: number) => boolean;
  /** Resolve names with this (tests); by default the process-wide bounded, cached resolver. */
  lookup?: HostLookup;
  /** Connections per resolved address; by default the process-wide limiter. */
  addressLimiter?: AddressLimiter;
  /** See MAX_POOLED_ORIGINS. */
  maxPooledOrigins?: number;
}

/** The address predicate every check of a GuardedAgent uses. */
export type AddressCheck = (ip: string) => boolean;

/** The same, for a connection to `port` (an exemption names an address and a port). */
type EndpointCheck = (ip: string, port: number) => boolean;

/** Addresses whose verdict under the agent's policy a GuardedAgent remembers; the oldest are forgotten. */
export const MAX_JUDGED_ADDRESSES = 1024;

/**
 * The policy's verdict is a pure function of the address text, and parsing an address (ipaddr.js)
 * is most of what judging one costs; every connection judges its candidates and then its peer, so
 * the verdicts are remembered. The operator's own callbacks are asked every time.
 */
function endpointCheck(options: GuardedAgentOptions): EndpointCheck {
  const { policy, refuseAddress, exemptEndpoint } = options;
  const verdicts = new Map<string, boolean>();
  const allowedByPolicy = (ip: string) => {
    let allowed = verdicts.get(ip);
    if (allowed === undefined) {
      allowed = isAddressAllowed(ip, policy);
      remember(verdicts, ip, allowed, MAX_JUDGED_ADDRESSES);
    }
    return allowed;
  };
  return (ip, port) => (allowedByPolicy(ip) || (exemptEndpoint?.(ip, port) ?? false)) && !refuseAddress?.(ip);
}

/**
 * An undici Agent whose every connection is checked against the outbound policy at connect time:
 * it resolves names itself (A and AAAA, through the bounded resolver), judges every address before
 * a packet leaves — literal IPs included, which undici never passes to a `lookup` — tries the
 * allowed ones in turn, and judges the socket's actual peer once connected, so DNS rebinding and
 * odd spellings cannot reach a forbidden address. Each connection holds a slot of its address in
 * the AddressLimiter for as long as it is open, so the bound holds across names, ports and
 * redirect hops. It also remembers which address family each origin used, and keeps one connection
 * pool per origin (up to MAX_POOLED_ORIGINS) rather than one per burst of connections.
 */
export class GuardedAgent extends Agent {
  readonly policy: OutboundPolicy;
  readonly addressLimiter: AddressLimiter;
  readonly #record: ConnectRecord;
  readonly #poolOptions: Pool.Options;
  readonly #maxPooledOrigins: number;
  /** One pool per origin, least recently used first. */
  readonly #pools = new Map<string, Pool>();
  /** The origin of the most recent dispatch: already the newest entry of #pools, nothing to reorder. */
  #newestOrigin: string | undefined;
  /** Pools closing gracefully (evicted, or by close()): destroy() still ends their requests. */
  readonly #closingPools = new Set<Pool>();
  /** Set by close(): its pools finishing their requests, then Agent's own close. */
  #closing: Promise<void> | undefined;

  constructor(options: GuardedAgentOptions) {
    const record: ConnectRecord = { families: new Map(), failures: new Map() };
    const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    const addressLimiter = options.addressLimiter ?? sharedAddressLimiter;
    const keepAlive = options.keepAliveIdleMs ?? DEFAULT_KEEP_ALIVE_IDLE_MS;
    const maxPooledOrigins = options.maxPooledOrigins ?? MAX_POOLED_ORIGINS;
    if (!Number.isInteger(maxPooledOrigins) || maxPooledOrigins < 1) {
      throw new RangeError(`maxPooledOrigins must be a positive integer, got ${maxPooledOrigins}`);
    }
    const poolOptions: Pool.Options = {
      connect: guardedConnector({
        check: endpointCheck(options),
        resolver: options.lookup === undefined ? sharedResolver : new DnsResolver({ lookup: options.lookup }),
        addressLimiter,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        addressAttemptMs: options.addressAttemptMs ?? DEFAULT_ADDRESS_ATTEMPT_MS,
        record,
      }),
      // One origin alone never needs more connections than its address may have: further requests
      // wait in undici's queue (which honours their AbortSignal) instead of in the connector.
      connections: addressLimiter.maxPerAddress,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: keepAlive,
      headersTimeout,
      // Per chunk only: the caller's AbortSignal is what bounds a dripping body as a whole.
      bodyTimeout: headersTimeout,
    };
    super({ ...poolOptions, webSocket: { maxPayloadSize: options.maxWebSocketMessageBytes ?? DEFAULT_MAX_WS_MESSAGE_BYTES } });
    this.policy = options.policy;
    this.addressLimiter = addressLimiter;
    this.#record = record;
    this.#poolOptions = poolOptions;
    this.#maxPooledOrigins = maxPooledOrigins;
  }

  /**
   * Every request goes to its origin's pool, kept across requests. undici's Agent closes and
   * forgets an origin's pool each time its last connection closes, and builds a new one (options
   * cloned through JSON, a Client per connection) for the next request: against a tracker that
   * closes every connection after its reply (opentracker) that is once per scrape, and destroying
   * the old pool creates an Error whose stack trace Node formats. A kept pool reconnects instead.
   */
  override dispatch(options: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const { origin } = options;
    // close() called, Agent's own close not yet: refused as undici refuses on a closed dispatcher.
    if (this.#closing !== undefined && !this.#agentClosed && !this.destroyed) {
      const refusal = new errors.ClientClosedError();
      const legacy = handler as { onError?: (err: Error) => void };
      if (typeof handler.onResponseError === 'function') handler.onResponseError(undefined as never, refusal);
      else if (typeof legacy.onError === 'function') legacy.onError(refusal);
      else throw refusal;
      return false;
    }
    // Closed, destroyed, or no usable origin: Agent's own dispatch reports it through the handler.
    if (this.closed || this.destroyed || (typeof origin !== 'string' && !(origin instanceof URL)) || origin === '') {
      return super.dispatch(options, handler);
    }
    const key = typeof origin === 'string' ? origin : String(origin);
    let pool = this.#pools.get(key);
    if (pool === undefined) pool = this.#openPool(key, origin);
    else if (key !== this.#newestOrigin) {
      this.#pools.delete(key);
      this.#pools.set(key, pool);
    }
    this.#newestOrigin = key;
    return pool.dispatch(options, handler);
  }

  #openPool(key: string, origin: string | URL): Pool {
    const pool = new Pool(origin, this.#poolOptions);
    // The Agent's events, as undici's Agent relays them from its pools (targets built only when listened to).
    pool.on('drain', (o) => {
      this.emit('drain', o);
    });
    pool.on('connect', (o, targets) => {
      if (this.listenerCount('connect') > 0) this.emit('connect', o, [this, ...targets]);
    });
    pool.on('disconnect', (o, targets, err) => {
      if (this.listenerCount('disconnect') > 0) this.emit('disconnect', o, [this, ...targets], err);
    });
    pool.on('connectionError', (o, targets, err) => {
      if (this.listenerCount('connectionError') > 0) this.emit('connectionError', o, [this, ...targets], err);
    });
    this.#pools.set(key, pool);
    if (this.#pools.size > this.#maxPooledOrigins) {
      const [oldestKey, oldest] = this.#pools.entries().next().value as [string, Pool];
      this.#pools.delete(oldestKey);
      // Its requests in flight finish; nothing new reaches it.
      void this.#closeGracefully(oldest);
    }
    return pool;
  }

  /** Origins with a pool kept (for tests and diagnostics). */
  get pooledOrigins(): number {
    return this.#pools.size;
  }

  /**
   * Close gracefully: the pools finish what they carry, then Agent's close runs, which ends by
   * calling destroy() — that waits for the pools rather than destroying them.
   */
  #closeGracefully(pool: Pool): Promise<unknown> {
    this.#closingPools.add(pool);
    return pool
      .close()
      .catch(() => undefined)
      .finally(() => this.#closingPools.delete(pool));
  }

  /** Agent's own closed state (undici's types declare `closed` a field; it is DispatcherBase's getter). */
  get #agentClosed(): boolean {
    return Reflect.get(Agent.prototype, 'closed', this) as boolean;
  }

  // @ts-expect-error undici's types declare `closed` a field; at runtime it is a getter, overridden here.
  override get closed(): boolean {
    return this.#closing !== undefined || this.#agentClosed;
  }

  /**
   * Close gracefully: the pools finish what they carry, and only then Agent's own close runs (it
   * ends with destroy(), which then finds nothing left). destroy() meanwhile still ends them at once.
   */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (this.#closing === undefined) {
      const pools = [...this.#pools.values()];
      this.#pools.clear();
      this.#newestOrigin = undefined;
      this.#closing = Promise.all(pools.map((pool) => this.#closeGracefully(pool))).then(
        () => new Promise<void>((resolve) => (this.destroyed ? resolve() : super.close(() => resolve()))),
      );
    }
    if (callback === undefined) return this.#closing;
    void this.#closing.then(() => callback());
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const done = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const open = [...this.#pools.values(), ...this.#closingPools];
    this.#pools.clear();
    this.#closingPools.clear();
    this.#newestOrigin = undefined;
    const pools = Promise.all(open.map((pool) => pool.destroy(err).catch(() => undefined)));
    // Always the callback form of the parent: its promise form calls this.destroy again.
    const own = new Promise<void>((resolve) => super.destroy(err, () => resolve()));
    const all = Promise.all([pools, own]).then(() => undefined);
    if (done === undefined) return all;
    void all.then(() => done());
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

interface ConnectorSettings {
  check: EndpointCheck;
  resolver: DnsResolver;
  addressLimiter: AddressLimiter;
  connectTimeoutMs: number;
  addressAttemptMs: number;
  record: ConnectRecord;
}

type ConnectOptions = buildConnector.Options;
type SocketConnector = (options: ConnectOptions, callback: buildConnector.Callback) => Socket | undefined;

function guardedConnector(settings: ConnectorSettings): buildConnector.connector {
  // No timer of its own (timeout 0): connectAttempt bounds every attempt, within the connect budget.
  // No TCP keep-alive probes: they would start after a minute, and an idle connection here closes
  // after DEFAULT_KEEP_ALIVE_IDLE_MS. `noDelay` from the start: undici sets it on every socket anyway,
  // and set after creation Node applies it twice (before and after connecting). One connection per
  // scrape against trackers that close after replying: each system call saved counts.
  const connectSocket = buildConnector({ timeout: 0, keepAlive: false, noDelay: true }) as unknown as SocketConnector;
  return (options, callback) => {
    const host = unbracket(options.hostname);
    const port = Number(options.port) || Number(DEFAULT_PORT[options.protocol] ?? 0);
    const origin = originKey({ protocol: options.protocol, hostname: host, port: options.port });
    guardedConnect(host, port, options, settings, connectSocket).then(
      ({ socket, family }) => {
        if (settings.record.failures.size > 0) settings.record.failures.delete(origin);
        remember(settings.record.families, origin, family);
        callback(null, socket);
      },
      (err: Error) => {
        remember(settings.record.failures, origin, err);
        callback(err, null);
      },
    );
  };
}

/**
 * The time left to connect, and an AbortSignal for the waits that take one (name resolution, a
 * slot at a busy address), made only when such a wait happens: the usual connection (a literal IP
 * or a cached name, a free slot, one address) needs a single timer, its connect attempt's.
 */
class ConnectBudget {
  readonly #deadline: number;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly totalMs: number) {
    this.#deadline = performance.now() + totalMs;
  }

  remainingMs(): number {
    return Math.max(0, this.#deadline - performance.now());
  }

  get spent(): boolean {
    return this.#controller?.signal.aborted === true || this.remainingMs() === 0;
  }

  signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      this.#timer = setTimeout(() => controller.abort(), this.remainingMs());
    }
    return this.#controller.signal;
  }

  release(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Resolve, judge, take an address slot, connect, judge the peer — within one connect budget.
 * Addresses are tried one after another (families alternating, RFC 8305 §4), each for at most
 * `addressAttemptMs` while others remain, so a dead address does not hide a live one.
 * Texts name no host or address: they reach a tracker row, whose URL already says which tracker.
 */
async function guardedConnect(
  host: string,
  port: number,
  options: ConnectOptions,
  settings: ConnectorSettings,
  connectSocket: SocketConnector,
): Promise<{ socket: Socket; family: 4 | 6 }> {
  // Timers cleared once the connection is made, never AbortSignal.timeout: against a tracker that
  // closes every connection after its reply (opentracker) there is one connect per scrape, and
  // AbortSignal.timeout would keep thousands of timers alive, each firing long after it mattered.
  const budget = new ConnectBudget(settings.connectTimeoutMs);
  try {
    return await connectWithinBudget(host, port, options, settings, connectSocket, budget);
  } finally {
    budget.release();
  }
}

async function connectWithinBudget(
  host: string,
  port: number,
  options: ConnectOptions,
  settings: ConnectorSettings,
  connectSocket: SocketConnector,
  budget: ConnectBudget,
): Promise<{ socket: Socket; family: 4 | 6 }> {
  const outOfTime = () => new ScrapeError('SCRAPE_TIMEOUT', `could not connect to the tracker within ${budget.totalMs} ms`);
  let candidates: ResolvedAddress[];
  try {
    const allowed = allowedAddresses(host, port, settings, budget);
    candidates = Array.isArray(allowed) ? allowed : await allowed;
  } catch (err) {
    throw budget.spent ? outOfTime() : err;
  }
  const { addressLimiter } = settings;
  let lastError: unknown;
  for (const [index, candidate] of candidates.entries()) {
    let release: ReleaseSlot;
    if (addressLimiter.tryAcquire(candidate.address)) release = slotReleaser(addressLimiter, candidate.address);
    else {
      try {
        release = await addressLimiter.acquire(candidate.address, budget.signal());
      } catch (err) {
        if (!budget.spent) throw err;
        throw new ScrapeError(
          'SCRAPE_TIMEOUT',
          `the connections allowed to the tracker's address (${addressLimiter.maxPerAddress}) were all in use and none closed within ${budget.totalMs} ms`,
        );
      }
    }
    const remainingMs = budget.remainingMs();
    const attemptMs = index < candidates.length - 1 ? Math.min(settings.addressAttemptMs, remainingMs) : remainingMs;
    let socket: Socket;
    try {
      socket = await connectAttempt(connectSocket, options, candidate.address, attemptMs);
    } catch (err) {
      release();
      lastError = err;
      if (budget.spent) break;
      continue;
    }
    const refused = refusedPeer(socket, host, port, settings.check);
    if (refused) {
      release();
      socket.destroy();
      throw refused;
    }
    if (socket.destroyed) {
      // Its 'close' may already have fired: give the slot back here, never twice (release is idempotent).
      release();
      throw new ScrapeError('SCRAPE_CONNECT', 'the connection to the tracker closed as it opened');
    }
    // `on`, not `once`: each fires once anyway, and `once` wraps every listener anew.
    socket.on('close', release);
    socket.on('end', closeQuietly);
    return { socket, family: socket.remoteFamily === 'IPv6' ? 6 : 4 };
  }
  if (budget.spent) throw outOfTime();
  throw lastError ?? new ScrapeError('SCRAPE_CONNECT', 'could not connect to the tracker');
}

/**
 * The tracker closed its side (FIN). undici would destroy the socket with an Error ("other side
 * closed") whose stack trace Node formats (a stream destroyed with an error reads `err.stack`) —
 * against trackers that close after every reply (opentracker, without `Connection: close`), once
 * per scrape. Destroyed here first, without an error (this listener is registered in the connector,
 * before undici's own), undici's handler finds it destroyed and formats nothing. Everything else is
 * as undici would have it: a complete reply stays complete (one read until close is finished by
 * undici's parser all the same), and a request still waiting for its reply fails with
 * UND_ERR_SOCKET, which is what the resend after a closed connection looks for. A WebSocket whose
 * tracker closed its side closes, as Node would close it once our side had ended too.
 */
function closeQuietly(this: Socket): void {
  this.destroy();
}

/** Gives a slot taken with `tryAcquire` back once, however many times it is called (AddressLimiter.acquire's contract). */
function slotReleaser(limiter: AddressLimiter, address: string): ReleaseSlot {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    limiter.release(address);
  };
}

/**
 * The addresses this connection may use, in the order to try them: a literal IP as it is, a name's
 * A and AAAA records through the resolver; IPv4-mapped forms as the IPv4 address they carry (what
 * the policy judged), duplicates dropped. Throws BlockedAddressError when the policy allows none.
 */
function allowedAddresses(host: string, port: number, settings: ConnectorSettings, budget: ConnectBudget): ResolvedAddress[] | Promise<ResolvedAddress[]> {
  const literal = isIP(host);
  // A literal IP (most trackers, and every connection to a tracker that closes after each reply)
  // is judged at once, without a round trip through the promise machinery.
  if (literal !== 0) return judged(host, port, [{ address: host, family: literal as 4 | 6 }], settings);
  return settings.resolver.resolve(host, budget.signal()).then((found) => judged(host, port, found, settings));
}

function judged(host: string, port: number, found: readonly ResolvedAddress[], settings: ConnectorSettings): ResolvedAddress[] {
  const seen = new Set<string>();
  const allowed: ResolvedAddress[] = [];
  for (const { address } of found) {
    if (!settings.check(address, port)) continue;
    const key = canonicalAddress(address);
    if (seen.has(key)) continue;
    seen.add(key);
    // An IPv4-mapped address is connected to as the IPv4 address it carries; others as given (a zone stays).
    const ip = isIP(key) === 4 ? key : address;
    allowed.push({ address: ip, family: isIP(ip) === 6 ? 6 : 4 });
  }
  if (allowed.length === 0) {
    const first = found[0]?.address ?? 'no address';
    throw new BlockedAddressError(host, first, addressRange(first));
  }
  return allowed.length === 1 ? allowed : alternateFamilies(allowed);
}

/** RFC 8305 §4: keep the resolver's preference, but alternate families so one dead family costs one attempt. */
function alternateFamilies(addresses: ResolvedAddress[]): ResolvedAddress[] {
  const first = addresses[0];
  if (first === undefined) return addresses;
  const preferred = addresses.filter((a) => a.family === first.family);
  const other = addresses.filter((a) => a.family !== first.family);
  const out: ResolvedAddress[] = [];
  for (let i = 0; i < Math.max(preferred.length, other.length); i++) {
    const p = preferred[i];
    const o = other[i];
    if (p) out.push(p);
    if (o) out.push(o);
  }
  return out;
}

/**
 * Connect to one checked IP. The name stays in `host` so TLS still sends SNI for it and verifies
 * the certificate against it. Abandoned (socket destroyed) after `attemptMs`, which the caller
 * keeps within the connect budget.
 */
function connectAttempt(connectSocket: SocketConnector, options: ConnectOptions, address: string, attemptMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      socket?.destroy();
      reject(new ScrapeError('SCRAPE_TIMEOUT', `the tracker did not accept a connection within ${attemptMs} ms`));
    }, attemptMs);
    const socket = connectSocket(options.hostname === address ? options : { ...options, hostname: address }, (err, connected) => {
      if (settled) {
        connected?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (err || !connected) {
        socket?.destroy();
        reject(err ?? new ScrapeError('SCRAPE_CONNECT', 'could not connect to the tracker'));
      } else resolve(connected as Socket);
    });
  });
}

/** The peer actually connected to, judged again: the last word whatever resolved it. */
function refusedPeer(socket: Socket, host: string, port: number, check: EndpointCheck): BlockedAddressError | null {
  const peer = socket.remoteAddress;
  if (peer !== undefined && check(peer, port)) return null;
  return new BlockedAddressError(host, peer ?? 'an unknown address', peer === undefined ? 'unknown' : addressRange(peer));
}

/**
 * A `lookup` for net/tls.connect that resolves A and AAAA through the bounded resolver and hands
 * back only allowed addresses (for sockets made outside a GuardedAgent).
 */
export function guardedLookup(isAllowed: AddressCheck, resolver: DnsResolver = sharedResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolver.resolve(hostname).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = addresses.filter((a) => family === 0 || a.family === family);
        const allowed = usable.filter((a) => isAllowed(a.address));
        const first = allowed[0];
        if (!first) {
          const seen = usable[0]?.address ?? 'no address';
          callback(new BlockedAddressError(hostname, seen, addressRange(seen)), '', 0);
          return;
        }
        if (options.all) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };
}

// ---------------------------------------------------------------------------------------------
// The scrape request

export interface HttpScrapeOptions {
  /** Cuts the whole exchange (connect, redirects, headers, every body byte), every split request included. */
  signal: AbortSignal;
  /** Outbound policy; must equal the dispatcher's when one is given. */
  policy: OutboundPolicy;
  maxBodyBytes?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  maxRedirects?: number;
  /** See DEFAULT_CLOSED_CONNECTION_RETRIES. */
  closedConnectionRetries?: number;
  /** Info-hashes per request; larger batches are split (see MAX_HASHES_PER_HTTP_SCRAPE). */
  maxHashesPerRequest?: number;
  userAgent?: string;
  /** A shared guarded agent (keep-alive across scrapes); by default one is made for this call. */
  dispatcher?: GuardedAgent;
}

export interface HttpScrapeResult {
  /** One entry per requested hash, in request order. */
  counts: ScrapeCounts[];
  /** The tracker's `warning message`, if any (distinct ones of split requests joined by "; "). */
  warning: string | null;
  /** `flags.min_request_interval` in seconds, if the tracker gave one (the longest, over split requests). */
  minRequestInterval: number | null;
  /** Address family of the connection that gave the (first) final answer. */
  family: 4 | 6 | null;
}

/**
 * Scrape one HTTP(S) tracker for one or more info-hashes (BEP 48): one request for up to
 * `maxHashesPerRequest` hashes, several in parallel beyond that, all within the one signal.
 */
export async function scrapeHttp(scrapeUrl: string, hashes: readonly Uint8Array[], opts: HttpScrapeOptions): Promise<HttpScrapeResult> {
  if (opts.dispatcher && opts.dispatcher.policy.allowPrivate !== opts.policy.allowPrivate) {
    throw new TypeError('scrapeHttp: the dispatcher was built with a different outbound policy');
  }
  const perRequest = opts.maxHashesPerRequest ?? MAX_HASHES_PER_HTTP_SCRAPE;
  if (!Number.isInteger(perRequest) || perRequest < 1) throw new RangeError(`maxHashesPerRequest must be a positive integer, got ${perRequest}`);
  const retries = opts.closedConnectionRetries ?? DEFAULT_CLOSED_CONNECTION_RETRIES;
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`closedConnectionRetries must be a non-negative integer, got ${retries}`);
  const agent = opts.dispatcher ?? new GuardedAgent(opts);
  try {
    const parsed = parseScrapeUrl(scrapeUrl);
    if (hashes.length <= perRequest) return await scrapeBatch(parsed, hashes, agent, opts);
    return await scrapeInBatches(parsed, hashes, perRequest, agent, opts);
  } catch (err) {
    throw asScrapeError(err, opts.signal);
  } finally {
    if (!opts.dispatcher) await agent.destroy().catch(() => undefined);
  }
}

async function scrapeBatch(parsed: ParsedScrapeUrl, hashes: readonly Uint8Array[], agent: GuardedAgent, opts: HttpScrapeOptions): Promise<HttpScrapeResult> {
  const reply = await fetchScrapeReply(requestTarget(parsed, infoHashParams(hashes)), agent, opts);
  let answer: ParsedScrapeReply;
  try {
    answer = parseScrapeReply(reply.body, reply.contentType, hashes);
  } catch (err) {
    throw withFamily(err, reply.family);
  }
  return { counts: answer.counts, warning: answer.warning, minRequestInterval: answer.minRequestInterval, family: reply.family };
}

/** Split requests in parallel; the first failure cancels the others and is the answer. */
async function scrapeInBatches(
  parsed: ParsedScrapeUrl,
  hashes: readonly Uint8Array[],
  perRequest: number,
  agent: GuardedAgent,
  opts: HttpScrapeOptions,
): Promise<HttpScrapeResult> {
  const siblings = new AbortController();
  const signal = AbortSignal.any([opts.signal, siblings.signal]);
  const batches: (readonly Uint8Array[])[] = [];
  for (let at = 0; at < hashes.length; at += perRequest) batches.push(hashes.slice(at, at + perRequest));
  let results: HttpScrapeResult[];
  try {
    results = await Promise.all(
      batches.map((batch) =>
        scrapeBatch(parsed, batch, agent, { ...opts, signal }).catch((err: unknown) => {
          siblings.abort();
          throw err;
        }),
      ),
    );
  } finally {
    siblings.abort();
  }
  const warnings = [...new Set(results.map((r) => r.warning).filter((w) => w !== null))];
  const intervals = results.map((r) => r.minRequestInterval).filter((i) => i !== null);
  return {
    counts: results.flatMap((r) => r.counts),
    warning: warnings.length > 0 ? warnings.join('; ') : null,
    minRequestInterval: intervals.length > 0 ? Math.max(...intervals) : null,
    family: results.find((r) => r.family !== null)?.family ?? null,
  };
}

/** Where one request goes, in the form undici's dispatcher takes (no URL parsing per request). */
interface RequestTarget {
  /** `scheme://host[:port]` */
  origin: string;
  /** Path and query exactly as written (see requestTargetOf), never normalised. */
  path: string;
  /** What the guarded connector records the address family under. */
  originKey: string;
}

/** A scrape URL taken apart once: WHATWG URL parsing is the costliest step of building a request. */
interface ParsedScrapeUrl {
  /** Scheme, host and port as the WHATWG parser reads them: what is connected to (and guarded). */
  origin: string;
  /** The raw path and query (see requestTargetOf). */
  target: string;
  originKey: string;
}

const parsedScrapeUrls = new Map<string, ParsedScrapeUrl>();

function parseScrapeUrl(scrapeUrl: string): ParsedScrapeUrl {
  const known = parsedScrapeUrls.get(scrapeUrl);
  if (known !== undefined) return known;
  let url: URL;
  try {
    url = new URL(scrapeUrl);
  } catch (err) {
    throw new ScrapeError('SCRAPE_BAD_URL', 'the scrape URL is not a valid URL', { cause: err });
  }
  if (!FOLLOWABLE_SCHEMES.has(url.protocol)) throw new ScrapeError('SCRAPE_BAD_URL', `a ${url.protocol} URL is not an HTTP(S) scrape URL`);
  const target = requestTargetOf(scrapeUrl);
  if (target === null) {
    throw new ScrapeError('SCRAPE_BAD_URL', "the scrape URL's host part is ambiguous (a '\\' in it), so no request is sent");
  }
  const parsed = { origin: url.origin, target, originKey: originKey(url) };
  remember(parsedScrapeUrls, scrapeUrl, parsed, MAX_PARSED_SCRAPE_URLS);
  return parsed;
}

/**
 * The request for a scrape URL with the info_hash parameters appended to its raw target: kept query
 * (passkeys) first, `&` between, nothing doubled after a trailing `?` or `&`. A fragment is never sent.
 */
function requestTarget({ origin, target, originKey: key }: ParsedScrapeUrl, params: string): RequestTarget {
  const query = target.indexOf('?');
  const separator = query === -1 ? '?' : target.endsWith('?') || target.endsWith('&') ? '' : '&';
  return { origin, path: target + separator + params, originKey: key };
}

interface RawReply {
  target: RequestTarget;
  body: Buffer;
  contentType: string;
  /** Address family of the connection the reply came over (see GuardedAgent.familyOfOrigin). */
  family: 4 | 6 | null;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const FOLLOWABLE_SCHEMES = new Set(['http:', 'https:']);

async function fetchScrapeReply(first: RequestTarget, agent: GuardedAgent, opts: HttpScrapeOptions): Promise<RawReply> {
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const headers = opts.userAgent === undefined ? DEFAULT_HEADERS : { 'user-agent': opts.userAgent };
  const retries = opts.closedConnectionRetries ?? DEFAULT_CLOSED_CONNECTION_RETRIES;
  const { signal } = opts;
  let target = first;
  for (let hop = 0; ; hop++) {
    const options: Dispatcher.DispatchOptions = {
      origin: target.origin,
      path: target.path,
      method: 'GET',
      headers,
      headersTimeout: timeoutMs,
      // Per chunk only: the caller's AbortSignal is what bounds a dripping body as a whole.
      bodyTimeout: timeoutMs,
    };
    let outcome = await exchange(agent, options, maxBodyBytes, signal);
    for (let attempt = 0; !outcome.ok && attempt < retries && !outcome.answered && closedUnder(outcome.error) && !signal.aborted; attempt++) {
      outcome = await exchange(agent, options, maxBodyBytes, signal);
    }
    if (!outcome.ok) {
      const error = asScrapeError(outcome.error, signal);
      throw outcome.answered ? withFamily(error, agent.familyOfOrigin(target.originKey)) : error;
    }
    const { reply } = outcome;
    const family = agent.familyOfOrigin(target.originKey);
    try {
      if (reply.redirectTo !== null) {
        if (hop >= maxRedirects) throw new ScrapeError('SCRAPE_REDIRECT', `tracker redirected more than ${maxRedirects} times`);
        target = redirectTarget(target, reply.redirectTo);
        continue;
      }
      const body = await inflateBody(reply.body, headerValue(reply.headers['content-encoding']), maxBodyBytes);
      const contentType = headerValue(reply.headers['content-type']) ?? '';
      if (reply.statusCode < 200 || reply.statusCode > 299) throw statusError(reply.statusCode, body, contentType);
      return { target, body, contentType, family };
    } catch (err) {
      throw withFamily(err, family);
    }
  }
}

/** How undici (UND_ERR_SOCKET: "other side closed") and Node report a connection closed under a request. */
const CLOSED_CONNECTION_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The connection closed under the request (see DEFAULT_CLOSED_CONNECTION_RETRIES): sent again on another. */
function closedUnder(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && CLOSED_CONNECTION_CODES.has(code);
}

/** A reply whose body was read within the cap. */
interface HttpReply {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The body as it came (still compressed, if it is); empty for a redirect. */
  body: Buffer;
  /** The Location of a redirect (its body is read within the cap and dropped), or null. */
  redirectTo: string | null;
}

/** How one exchange ended; `answered` says whether the tracker's reply had begun (then it is never resent). */
type Exchange = { ok: true; reply: HttpReply } | { ok: false; error: unknown; answered: boolean };

const EMPTY_BODY = Buffer.alloc(0);

/**
 * One GET through the dispatcher, its reply's body gathered within `maxBodyBytes`. A dispatch
 * handler of its own rather than `request()`: that builds a Readable stream (and its state, events
 * and buffering) for every reply, which is a good part of what a one-chunk scrape reply costs.
 * undici never inflates here (that is done afterwards, within the same cap). Settles once, never
 * rejects; the caller's signal aborts the exchange whether it is still queued, connecting or reading.
 */
function exchange(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, maxBodyBytes: number, signal: AbortSignal): Promise<Exchange> {
  return new Promise((resolve) => {
    new ReplyCollector(options, maxBodyBytes, signal, resolve).start(dispatcher);
  });
}

class ReplyCollector implements Dispatcher.DispatchHandler {
  readonly #options: Dispatcher.DispatchOptions;
  readonly #maxBodyBytes: number;
  readonly #signal: AbortSignal;
  readonly #settle: (outcome: Exchange) => void;
  readonly #onAbort = () => this.#fail(this.#signal.reason, this.#answered);
  #controller: Dispatcher.DispatchController | undefined;
  #settled = false;
  #answered = false;
  #statusCode = 0;
  #headers: IncomingHttpHeaders = {};
  #redirectTo: string | null = null;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(options: Dispatcher.DispatchOptions, maxBodyBytes: number, signal: AbortSignal, settle: (outcome: Exchange) => void) {
    this.#options = options;
    this.#maxBodyBytes = maxBodyBytes;
    this.#signal = signal;
    this.#settle = settle;
  }

  start(dispatcher: Dispatcher): void {
    if (this.#signal.aborted) {
      this.#fail(this.#signal.reason, false);
      return;
    }
    this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    try {
      dispatcher.dispatch(this.#options, this);
    } catch (err) {
      this.#fail(err, false);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Aborted while it waited for a connection: it goes no further.
    if (this.#settled) controller.abort(this.#signal.reason instanceof Error ? this.#signal.reason : new Error('aborted'));
  }

  /** undici calls this at the first byte of the reply (llhttp on_message_begin): from here it is never resent. */
  onResponseStarted(): void {
    this.#answered = true;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx informational responses precede the real one.
    if (statusCode < 200 || this.#settled) return;
    this.#answered = true;
    this.#statusCode = statusCode;
    this.#headers = headers;
    const location = headerValue(headers.location);
    if (REDIRECT_STATUSES.has(statusCode) && location !== undefined) {
      this.#redirectTo = location;
      return;
    }
    const declared = Number(headerValue(headers['content-length']));
    if (Number.isFinite(declared) && declared > this.#maxBodyBytes) this.#refuse(controller, tooLarge(this.#maxBodyBytes));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBodyBytes) {
      // A redirect's body is not needed: the connection goes, the redirect is still followed.
      if (this.#redirectTo !== null) {
        this.#succeed();
        controller.abort(tooLarge(this.#maxBodyBytes));
      } else this.#refuse(controller, tooLarge(this.#maxBodyBytes));
      return;
    }
    if (this.#redirectTo === null) this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#succeed();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#fail(error, this.#answered);
  }

  #refuse(controller: Dispatcher.DispatchController, error: ScrapeError): void {
    this.#fail(error, true);
    controller.abort(error);
  }

  #succeed(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY_BODY : Buffer.concat(chunks, this.#bytes);
    this.#settle({ ok: true, reply: { statusCode: this.#statusCode, headers: this.#headers, body, redirectTo: this.#redirectTo } });
  }

  #fail(error: unknown, answered: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#settle({ ok: false, error, answered });
    // The caller's signal fired: stop the request where it is (connected or not yet).
    if (error === this.#signal.reason && this.#controller !== undefined && !this.#controller.aborted) {
      this.#controller.abort(error instanceof Error ? error : new Error('aborted'));
    }
  }
}

/** The same for every request that does not bring its own User-Agent (undici only reads it). */
const DEFAULT_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'user-agent': USER_AGENT });

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const SCHEME_AND_AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Two leading slashes or backslashes: WHATWG parsers read all four spellings as `//host`. */
const NETWORK_PATH = /^[/\\]{2}/;

/**
 * Where a redirect goes. The host comes from the WHATWG reading of the Location (what is
 * connected to, and guarded, on the next hop). The path and query are the Location's own text
 * when it spells them out (`http://host/…`, `//host/…`, `/path`), sent as written like the scrape
 * URL itself; only a relative reference (`x`, `../x`, `?q`) is merged with the current path, as
 * RFC 3986 §5.2 defines. A Location whose host part parsers read differently (a `\` in it) is refused.
 */
function redirectTarget(from: RequestTarget, location: string): RequestTarget {
  const text = location.trim();
  let url: URL;
  try {
    url = new URL(text, from.origin + from.path);
  } catch {
    throw new ScrapeError('SCRAPE_REDIRECT', 'tracker redirected to an invalid URL');
  }
  if (!FOLLOWABLE_SCHEMES.has(url.protocol)) {
    throw new ScrapeError('SCRAPE_REDIRECT', `tracker redirected to a ${url.protocol} URL; only http and https are followed`);
  }
  let path: string | null;
  if (SCHEME_AND_AUTHORITY.test(text)) path = requestTargetOf(text);
  else if (NETWORK_PATH.test(text)) path = text.startsWith('//') ? requestTargetOf(url.protocol + text) : null;
  else if (text.startsWith('/')) path = originFormOf(text);
  else path = url.pathname + url.search;
  if (path === null) throw new ScrapeError('SCRAPE_REDIRECT', "tracker redirected to a URL whose host part is ambiguous (a '\\' in it)");
  return { origin: url.origin, path, originKey: originKey(url) };
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
// Body: inflated within the same cap as it was read

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

/**
 * Deepest nesting read in a scrape reply. A reply is three levels deep (reply → `files` → a hash's
 * counts), `flags` two; anything far deeper is not a scrape reply. Kept small on purpose: the
 * decoder allocates its nesting stacks at this size for every reply, and small ones are cheap.
 */
export const MAX_SCRAPE_REPLY_DEPTH = 16;

/** Bytes that may trail a bencoded reply from sloppy trackers (a final newline) without meaning. */
const TRAILING_WHITESPACE = new Set([0x09, 0x0a, 0x0d, 0x20]);

/**
 * Read a BEP 48 scrape reply: `files` keyed by raw 20-byte hash. A requested hash missing from
 * `files` means the tracker does not know the torrent: numbers null, `unknown` true, never 0.
 * Read from the token view (no Map per dictionary: this runs once per scrape).
 */
export function parseScrapeReply(body: Uint8Array, contentType: string, hashes: readonly Uint8Array[]): ParsedScrapeReply {
  const bencoded = bencodedPart(body, contentType);
  return withTokenTable(() => {
    let view: BencodeView;
    try {
      view = decodeView(bencoded, { maxDepth: MAX_SCRAPE_REPLY_DEPTH });
    } catch (err) {
      throw new ScrapeError('SCRAPE_BAD_REPLY', `tracker reply is not bencoded (${(err as Error).message})`, { cause: err });
    }
    const reply = view.root;
    if (!view.isDict(reply)) throw badReply(`tracker reply is a bencoded ${bencodeKind(view, reply)}, not a dictionary`);
    const failure = textField(view, reply, 'failure reason') ?? textField(view, reply, 'failure_reason');
    if (failure !== null) throw new TrackerFailureError(failure);
    const files = filesOf(view, reply);
    return {
      counts: hashes.map((hash) => countsFor(view, files, hash)),
      warning: textField(view, reply, 'warning message'),
      minRequestInterval: minRequestIntervalOf(view, reply),
    };
  });
}

function badReply(message: string): ScrapeError {
  return new ScrapeError('SCRAPE_BAD_REPLY', message);
}

/** The body without surrounding whitespace, after refusing what is plainly not bencode (empty, HTML, JSON). */
function bencodedPart(body: Uint8Array, contentType: string): Uint8Array {
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
  return start === 0 && end === body.length ? body : body.subarray(start, end);
}

function bencodeKind(view: BencodeView, i: number): string {
  if (view.isBytes(i)) return 'string';
  if (view.isList(i)) return 'list';
  return 'integer';
}

/** Tracker text, decoded (UTF-8 or latin1), stripped of control characters and cut to a sane size. */
function textField(view: BencodeView, dict: number, key: string): string | null {
  const at = view.get(dict, key);
  if (!view.isBytes(at)) return null;
  return cleanTrackerText(toText(view.bytesOf(at)));
}

/** BEP 3 / BEP 48: `files` keys are raw 20-byte info-hashes. */
const INFO_HASH_KEY_LENGTH = 20;
/** Keys shown when describing an unexpected reply. */
const MAX_KEYS_SHOWN = 5;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `files` entries (token indexes) by raw hash (as a latin1 string). Besides raw 20-byte keys this
 * accepts the key that JS trackers built on node-bencode send: the hash read as a latin1 string, then
 * written as UTF-8 (node-bencode cannot write binary keys, webtorrent/node-bencode#88), which is
 * what bittorrent-tracker's HTTP scrape does. That reading is exact, not a guess: it only
 * applies to valid UTF-8 decoding to 20 characters below U+0100, and a raw key wins. A repeated
 * key keeps its first value.
 */
function filesOf(view: BencodeView, reply: number): Map<string, number> {
  const files = view.get(reply, 'files');
  if (files === -1) {
    const looksLikeAnnounce = view.get(reply, 'peers') !== -1 || view.get(reply, 'interval') !== -1;
    throw badReply(
      looksLikeAnnounce
        ? 'tracker sent an announce reply, not a scrape reply'
        : `tracker reply has no "files" dictionary (keys: ${describeKeys(view, reply)})`,
    );
  }
  if (!view.isDict(files)) throw badReply('tracker reply\'s "files" is not a dictionary');
  const entries = view.entries(files);
  const byHash = new Map<string, number>();
  let otherKeys = false;
  for (const [key, entry] of entries) {
    if (view.end(key) - view.dataStart(key) !== INFO_HASH_KEY_LENGTH) otherKeys = true;
    else {
      const hash = view.latin1(key);
      if (!byHash.has(hash)) byHash.set(hash, entry);
    }
  }
  if (otherKeys) {
    for (const [key, entry] of entries) {
      const hash = view.end(key) - view.dataStart(key) === INFO_HASH_KEY_LENGTH ? null : hashFromUtf8Key(view.bytesOf(key));
      if (hash !== null && !byHash.has(hash)) byHash.set(hash, entry);
    }
  }
  if (entries.length > 0 && byHash.size === 0) {
    throw badReply(`tracker reply's "files" is keyed by ${describeKeys(view, files)}, not by 20-byte info-hashes`);
  }
  return byHash;
}

function hashFromUtf8Key(key: Uint8Array): string | null {
  let text: string;
  try {
    text = STRICT_UTF8.decode(key);
  } catch {
    return null;
  }
  if (text.length !== INFO_HASH_KEY_LENGTH) return null;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return null;
  return text;
}

/** The distinct keys of a dictionary, the first MAX_KEYS_SHOWN of them described. */
function describeKeys(view: BencodeView, dict: number): string {
  const distinct = [...new Set(view.entries(dict).map(([key]) => view.latin1(key)))];
  const keys = distinct.slice(0, MAX_KEYS_SHOWN).map(describeKey);
  if (keys.length === 0) return 'none';
  return distinct.length > MAX_KEYS_SHOWN ? `${keys.join(', ')}, …` : keys.join(', ');
}

/** Longest key quoted when describing an unexpected reply. */
const MAX_KEY_CHARS_SHOWN = 40;

function describeKey(key: string): string {
  if (/^[\x20-\x7e]*$/.test(key)) return JSON.stringify(key.slice(0, MAX_KEY_CHARS_SHOWN));
  return `a ${key.length}-byte binary key`;
}

function countsFor(view: BencodeView, files: Map<string, number>, hash: Uint8Array): ScrapeCounts {
  const entry = files.get(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1'));
  if (entry === undefined) return { seeders: null, leechers: null, completed: null, downloaders: null, unknown: true };
  if (!view.isDict(entry)) throw badReply('a "files" entry of the tracker reply is not a dictionary');
  return {
    seeders: countField(view, entry, 'complete'),
    leechers: countField(view, entry, 'incomplete'),
    completed: countField(view, entry, 'downloaded'),
    downloaders: countField(view, entry, 'downloaders'),
    unknown: false,
  };
}

function countField(view: BencodeView, entry: number, key: string): number | null {
  const at = view.get(entry, key);
  if (at === -1) return null;
  const value = view.isInt(at) ? view.int(at) : null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw badReply(`tracker reply's "${key}" is not a count`);
  }
  return value;
}

function minRequestIntervalOf(view: BencodeView, reply: number): number | null {
  const flags = view.get(reply, 'flags');
  if (!view.isDict(flags)) return null;
  const at = view.get(flags, 'min_request_interval');
  const interval = view.isInt(at) ? view.int(at) : null;
  return typeof interval === 'number' && Number.isSafeInteger(interval) && interval > 0 ? interval : null;
}
