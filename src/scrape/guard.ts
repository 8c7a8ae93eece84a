import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { dnsFailure, ScrapeError } from './errors.js';

/**
 * Outbound safety: a hostile .torrent must never aim this server at its own network. Every
 * address we connect or send to passes `isAddressAllowed` at connect/send time (so DNS
 * rebinding cannot slip through between the check and the use).
 */
export interface OutboundPolicy {
  /** Lift the private-range refusal (LAN trackers, tests on loopback). */
  allowPrivate: boolean;
}

export const SECURE_POLICY: OutboundPolicy = Object.freeze({ allowPrivate: false });

/** Nothing was sent: the address is the reason, so it is named (it is the resolved address, never a URL). */
export class BlockedAddressError extends ScrapeError {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super('SCRAPE_BLOCKED', `refused to contact ${address} (${range} address) for ${host}`);
  }
}

/**
 * The ipaddr.js range name of an address, after unwrapping IPv4-mapped IPv6 (`::ffff:127.0.0.1`)
 * and reading odd IPv4 spellings (`2130706433`, `0x7f.1`) the way a resolver would.
 * Unparseable input gives `invalid`.
 */
export function addressRange(ip: string): string {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    if (ipaddr.IPv6.isValid(text)) parsed = ipaddr.IPv6.parse(text);
    else if (ipaddr.IPv4.isValid(text)) parsed = ipaddr.IPv4.parse(text);
    else return 'invalid';
  } catch {
    return 'invalid';
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range();
    const range = v6.range();
    // NAT64 (64:ff9b::/96), 6to4 (2002::/16), Teredo and the deprecated IPv4-compatible form
    // (::a.b.c.d) all carry an IPv4 address that the network may route to: judge that address.
    const embedded = embeddedIPv4(v6, range);
    if (embedded) {
      const inner = embedded.range();
      return inner === 'unicast' ? range : inner;
    }
    return range;
  }
  return parsed.range();
}

function embeddedIPv4(v6: ipaddr.IPv6, range: string): ipaddr.IPv4 | null {
  const p = v6.parts;
  const v4From = (hi: number, lo: number) =>
    new ipaddr.IPv4([(hi >> 8) & 0xff, hi & 0xff, (lo >> 8) & 0xff, lo & 0xff]);
  if (range === 'rfc6052' || range === 'rfc6145') return v4From(p[6]!, p[7]!);
  if (range === '6to4') return v4From(p[1]!, p[2]!);
  if (range === 'teredo') return v4From(~p[6]! & 0xffff, ~p[7]! & 0xffff);
  if (range !== 'loopback' && range !== 'unspecified' && p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0) {
    // IPv4-compatible (::a.b.c.d), deprecated but still parsed by some stacks.
    return v4From(p[6]!, p[7]!);
  }
  return null;
}

/** Ranges a public tracker may live in. 6to4/Teredo/NAT64 are judged by their embedded IPv4 above. */
const PUBLIC_RANGES = new Set(['unicast', 'rfc6052', 'rfc6145', '6to4', 'teredo']);

export function isAddressAllowed(ip: string, policy: OutboundPolicy): boolean {
  const range = addressRange(ip);
  if (range === 'invalid') return false;
  if (policy.allowPrivate) return true;
  return PUBLIC_RANGES.has(range);
}

/** Throws BlockedAddressError unless the address may be contacted. */
export function assertAddressAllowed(host: string, ip: string, policy: OutboundPolicy): void {
  if (!isAddressAllowed(ip, policy)) throw new BlockedAddressError(host, ip, addressRange(ip));
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * One IP address however it was spelled (`::ffff:127.0.0.1` and `127.0.0.1`, `::1` and
 * `0:0::1`): the key under which traffic to an address is counted. Text that is not an address
 * is returned lower-cased.
 */
export function canonicalAddress(ip: string): string {
  if (isIPv4(ip)) return ip;
  let text = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  try {
    return ipaddr.process(text).toString();
  } catch {
    return ip.toLowerCase();
  }
}

// ---------------------------------------------------------------------------------------------
// Name resolution: bounded, shared, briefly cached

/**
 * dns.lookup (getaddrinfo) runs on libuv's thread pool — 4 threads unless UV_THREADPOOL_SIZE says
 * otherwise — which zlib (our gzip inflation), fs and crypto share, and a lookup cannot be
 * cancelled once it runs. Twenty slow names from one torrent would hold every thread for the
 * resolver's whole timeout: at most this many lookups run at once, the rest wait their turn.
 */
export const MAX_CONCURRENT_DNS_LOOKUPS = 2;
/** How long a successful lookup is reused: long enough for one fan-out and its redirects, short enough to follow DNS changes. */
export const DNS_CACHE_TTL_MS = 10_000;
/** Names whose addresses are remembered; the oldest are forgotten first. */
export const MAX_CACHED_DNS_NAMES = 256;
/** Lookups allowed to wait for a turn; beyond this a new one is refused at once. */
export const MAX_QUEUED_DNS_LOOKUPS = 4096;

/** Every A and AAAA address of a name, in the resolver's order. */
export type HostLookup = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/** getaddrinfo through node:dns, both families, in the order the system resolver gives. */
export const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface DnsResolverOptions {
  lookup?: HostLookup;
  maxConcurrent?: number;
  ttlMs?: number;
  maxCached?: number;
  maxQueued?: number;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
}

/** One name being resolved, shared by every caller that asks for it meanwhile. */
interface PendingLookup {
  name: string;
  promise: Promise<readonly ResolvedAddress[]>;
  settle: (outcome: { addresses: readonly ResolvedAddress[] } | { error: unknown }) => void;
  /** Callers still waiting for it; when the last one gives up before it started, it never starts. */
  callers: number;
  started: boolean;
}

/**
 * Resolves names with at most `maxConcurrent` lookups running, in arrival order; a caller whose
 * signal fires stops waiting at once (and a lookup nobody waits for any more never starts).
 * Concurrent requests for one name share one lookup, and successful answers are reused for
 * `ttlMs`. Addresses come back unfiltered: every user judges them against its policy.
 */
export class DnsResolver {
  readonly maxConcurrent: number;
  readonly ttlMs: number;
  readonly maxCached: number;
  readonly maxQueued: number;
  readonly #lookup: HostLookup;
  readonly #now: () => number;
  readonly #cache = new Map<string, { addresses: readonly ResolvedAddress[]; expiresAt: number }>();
  readonly #pending = new Map<string, PendingLookup>();
  readonly #queue: PendingLookup[] = [];
  #running = 0;
  /** Most lookups ever running at once (for tests and diagnostics). */
  peakRunning = 0;
  /** Lookups actually started (cache hits and shared lookups not counted). */
  lookups = 0;

  constructor(options: DnsResolverOptions = {}) {
    this.maxConcurrent = positiveInt(options.maxConcurrent ?? MAX_CONCURRENT_DNS_LOOKUPS, 'maxConcurrent');
    this.ttlMs = Math.max(0, options.ttlMs ?? DNS_CACHE_TTL_MS);
    this.maxCached = Math.max(0, options.maxCached ?? MAX_CACHED_DNS_NAMES);
    this.maxQueued = positiveInt(options.maxQueued ?? MAX_QUEUED_DNS_LOOKUPS, 'maxQueued');
    this.#lookup = options.lookup ?? systemLookup;
    this.#now = options.now ?? (() => performance.now());
  }

  get running(): number {
    return this.#running;
  }

  /** Forget every cached answer (after a DNS change; tests that need a cold cache). */
  clear(): void {
    this.#cache.clear();
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Every address of `name` (A and AAAA). Throws SCRAPE_DNS when it does not resolve, the
   * signal's reason when the signal fires first, SCRAPE_QUEUE_FULL when too many lookups wait.
   */
  resolve(name: string, signal?: AbortSignal): Promise<readonly ResolvedAddress[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const key = name.toLowerCase();
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      if (this.#now() < cached.expiresAt) return Promise.resolve(cached.addresses);
      this.#cache.delete(key);
    }
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      if (this.#running >= this.maxConcurrent && this.#queue.length >= this.maxQueued) {
        return Promise.reject(new ScrapeError('SCRAPE_QUEUE_FULL', `too many name lookups waiting (limit ${this.maxQueued})`));
      }
      pending = this.#newPending(name, key);
    }
    return this.#wait(pending, signal);
  }

  #newPending(name: string, key: string): PendingLookup {
    let settle!: PendingLookup['settle'];
    const promise = new Promise<readonly ResolvedAddress[]>((resolve, reject) => {
      settle = (outcome) => ('addresses' in outcome ? resolve(outcome.addresses) : reject(outcome.error));
    });
    // Callers see the outcome through #wait; this only keeps an abandoned failure from being "unhandled".
    promise.catch(() => undefined);
    const pending: PendingLookup = { name, promise, settle, callers: 0, started: false };
    this.#pending.set(key, pending);
    if (this.#running < this.maxConcurrent) this.#start(key, pending);
    else this.#queue.push(pending);
    return pending;
  }

  #wait(pending: PendingLookup, signal: AbortSignal | undefined): Promise<readonly ResolvedAddress[]> {
    pending.callers++;
    if (signal === undefined) return pending.promise;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        pending.callers--;
        if (pending.callers === 0 && !pending.started) this.#abandon(pending);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      pending.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Nobody waits for a lookup still in the queue: drop it, so it never takes a thread. */
  #abandon(pending: PendingLookup): void {
    const index = this.#queue.indexOf(pending);
    if (index !== -1) this.#queue.splice(index, 1);
    const key = pending.name.toLowerCase();
    if (this.#pending.get(key) === pending) this.#pending.delete(key);
    pending.settle({ error: new ScrapeError('SCRAPE_DNS', "the lookup of the tracker's host name was abandoned: nobody waits for it any more") });
  }

  #start(key: string, pending: PendingLookup): void {
    pending.started = true;
    this.#running++;
    this.lookups++;
    if (this.#running > this.peakRunning) this.peakRunning = this.#running;
    let lookup: Promise<readonly { address: string; family: number }[]>;
    try {
      lookup = this.#lookup(pending.name);
    } catch (err) {
      lookup = Promise.reject(err);
    }
    lookup
      .then(
        (found) => {
          const addresses = Object.freeze(
            found.map((a): ResolvedAddress => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
          );
          if (addresses.length === 0) {
            pending.settle({ error: noAddress() });
            return;
          }
          this.#remember(key, addresses);
          pending.settle({ addresses });
        },
      )
      .catch((err: unknown) => pending.settle({ error: dnsFailure(err) }))
      .finally(() => {
        if (this.#pending.get(key) === pending) this.#pending.delete(key);
        this.#running--;
        const next = this.#queue.shift();
        if (next !== undefined) this.#start(next.name.toLowerCase(), next);
      });
  }

  #remember(key: string, addresses: readonly ResolvedAddress[]): void {
    if (this.ttlMs === 0 || this.maxCached === 0) return;
    this.#cache.delete(key);
    this.#cache.set(key, { addresses, expiresAt: this.#now() + this.ttlMs });
    if (this.#cache.size > this.maxCached) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
  }
}

/** A name that resolved to nothing: like a missing name to the row, but worded for what happened. */
function noAddress(): ScrapeError {
  return new ScrapeError('SCRAPE_DNS', "the tracker's host name has no address");
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** The resolver every scrape uses unless given its own: the lookup bound holds process-wide. */
export const sharedResolver = new DnsResolver();

/**
 * Resolve a host (A and AAAA) and keep the addresses the policy allows. A literal IP is checked
 * as it is. Throws BlockedAddressError when the name resolves only to forbidden addresses, and a
 * SCRAPE_DNS error when it does not resolve. Names go through `resolver` (by default the shared,
 * bounded one).
 */
export async function resolveAllowed(
  host: string,
  policy: OutboundPolicy,
  signal?: AbortSignal,
  resolver: DnsResolver = sharedResolver,
): Promise<ResolvedAddress[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  let found: readonly ResolvedAddress[];
  const literal = isIP(bare);
  if (literal !== 0) {
    found = [{ address: bare, family: literal as 4 | 6 }];
  } else {
    found = await resolver.resolve(bare, signal);
    signal?.throwIfAborted();
  }
  const allowed = found.filter((a) => isAddressAllowed(a.address, policy));
  if (allowed.length === 0) {
    const first = found[0];
    if (!first) throw noAddress();
    throw new BlockedAddressError(bare, first.address, addressRange(first.address));
  }
  return allowed;
}
