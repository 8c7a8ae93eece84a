import { ScrapeError } from './errors.js';
import { canonicalAddress } from './guard.js';

/**
 * A bound on outbound tracker requests in flight, per host and overall. One uploaded torrent (or
 * a refresh storm of them) must not turn this server into an amplifier aimed at one host, nor
 * open sockets without limit. Requests over the bound wait in FIFO order; a waiting request
 * still honours its AbortSignal (the fan-out deadline), so queueing never delays a result past it.
 */

/** Requests one host may have in flight at once. */
export const DEFAULT_MAX_IN_FLIGHT_PER_HOST = 4;
/** Requests in flight at once across all hosts (the whole process, when the limiter is shared). */
export const DEFAULT_MAX_IN_FLIGHT_OVERALL = 64;
/** Requests allowed to wait for a slot; beyond this, new requests are refused at once. */
export const DEFAULT_MAX_QUEUED = 4096;

export interface LimiterOptions {
  maxPerHost?: number;
  maxOverall?: number;
  maxQueued?: number;
}

export class LimiterQueueFullError extends ScrapeError {
  constructor(limit: number) {
    super('SCRAPE_QUEUE_FULL', `too many tracker requests waiting (limit ${limit})`);
  }
}

interface Waiter {
  host: string;
  grant: () => void;
}

export class RequestLimiter {
  readonly maxPerHost: number;
  readonly maxOverall: number;
  readonly maxQueued: number;
  private inFlight = 0;
  private readonly perHost = new Map<string, number>();
  private readonly queue: Waiter[] = [];
  /** Highest number of requests in flight ever seen (for tests and diagnostics). */
  peakInFlight = 0;

  constructor(options: LimiterOptions = {}) {
    this.maxPerHost = positiveInt(options.maxPerHost ?? DEFAULT_MAX_IN_FLIGHT_PER_HOST, 'maxPerHost');
    this.maxOverall = positiveInt(options.maxOverall ?? DEFAULT_MAX_IN_FLIGHT_OVERALL, 'maxOverall');
    this.maxQueued = positiveInt(options.maxQueued ?? DEFAULT_MAX_QUEUED, 'maxQueued');
  }

  get active(): number {
    return this.inFlight;
  }

  get waiting(): number {
    return this.queue.length;
  }

  activeFor(host: string): number {
    return this.perHost.get(hostKey(host)) ?? 0;
  }

  /**
   * Run `task` once a slot for `host` is free. Rejects with the signal's reason when the signal
   * aborts while waiting (the task then never starts). The slot is released when the task settles.
   */
  async run<T>(host: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(hostKey(host), signal);
    try {
      return await task();
    } finally {
      this.release(hostKey(host));
    }
  }

  private acquire(host: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    // Waiters never fit (drain grants every waiter that does), so room now means no one is ahead.
    if (this.hasRoom(host)) {
      this.take(host);
      return Promise.resolve();
    }
    if (this.queue.length >= this.maxQueued) return Promise.reject(new LimiterQueueFullError(this.maxQueued));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        host,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.take(host);
          resolve();
        },
      };
      const onAbort = () => {
        const index = this.queue.indexOf(waiter);
        if (index !== -1) this.queue.splice(index, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private hasRoom(host: string): boolean {
    return this.inFlight < this.maxOverall && (this.perHost.get(host) ?? 0) < this.maxPerHost;
  }

  private take(host: string): void {
    this.inFlight += 1;
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
  }

  private release(host: string): void {
    this.inFlight -= 1;
    const left = (this.perHost.get(host) ?? 1) - 1;
    if (left <= 0) this.perHost.delete(host);
    else this.perHost.set(host, left);
    this.drain();
  }

  /** Grant slots to the oldest waiters that fit; a waiter for a busy host does not block others. */
  private drain(): void {
    for (let i = 0; i < this.queue.length && this.inFlight < this.maxOverall; ) {
      const waiter = this.queue[i]!;
      if (this.hasRoom(waiter.host)) {
        this.queue.splice(i, 1);
        waiter.grant();
      } else {
        i += 1;
      }
    }
  }
}

/** Host names are case-insensitive; IPv6 literals may come with or without brackets. */
function hostKey(host: string): string {
  const lower = host.toLowerCase();
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * The process-wide limiter `scrapeAll` uses when the caller passes none, so the overall bound
 * holds across every concurrent scrape, not per call.
 */
export const sharedLimiter = new RequestLimiter();

// ---------------------------------------------------------------------------------------------
// Per resolved address

/**
 * TCP connections (and UDP requests awaiting an answer) open to one IP address at once, whatever
 * names, ports, spellings or redirects led there: twenty wildcard names of one victim still get
 * this many, not twenty.
 */
export const DEFAULT_MAX_PER_ADDRESS = 4;

export interface AddressLimiterOptions {
  maxPerAddress?: number;
  maxQueued?: number;
}

/** A granted slot: call once to give it back (further calls do nothing). */
export type ReleaseSlot = () => void;

/**
 * Counts what is open to each IP address (keyed by `canonicalAddress`, so `::ffff:127.0.0.1`
 * and `127.0.0.1` are one address) and makes the rest wait in FIFO order. It bounds what reaches
 * an address at the moment of connecting or sending, after resolution, so the names a torrent
 * uses make no difference. One instance is shared by the whole process unless a caller brings its own.
 */
export class AddressLimiter {
  readonly maxPerAddress: number;
  readonly maxQueued: number;
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();
  #queued = 0;
  /** Most slots ever held at once for one address (for tests and diagnostics). */
  peakPerAddress = 0;

  constructor(options: AddressLimiterOptions = {}) {
    this.maxPerAddress = positiveInt(options.maxPerAddress ?? DEFAULT_MAX_PER_ADDRESS, 'maxPerAddress');
    this.maxQueued = positiveInt(options.maxQueued ?? DEFAULT_MAX_QUEUED, 'maxQueued');
  }

  /** The key an address is counted under; every method also accepts the address itself. */
  static keyOf(address: string): string {
    return canonicalAddress(address);
  }

  activeFor(address: string): number {
    return this.#active.get(canonicalAddress(address)) ?? 0;
  }

  get waiting(): number {
    return this.#queued;
  }

  /** Take a slot now if one is free (nobody is then waiting for this address). */
  tryAcquire(address: string): boolean {
    const key = canonicalAddress(address);
    const active = this.#active.get(key) ?? 0;
    if (active >= this.maxPerAddress) return false;
    this.#take(key, active);
    return true;
  }

  /**
   * Wait for a slot: `grant` is called once it is taken for the caller (who must `release` it).
   * Returns a function that withdraws the request if it has not been granted yet.
   * Throws LimiterQueueFullError when too many are already waiting.
   */
  enqueue(address: string, grant: () => void): () => void {
    if (this.#queued >= this.maxQueued) throw new LimiterQueueFullError(this.maxQueued);
    const key = canonicalAddress(address);
    let queue = this.#waiting.get(key);
    if (queue === undefined) {
      queue = [];
      this.#waiting.set(key, queue);
    }
    queue.push(grant);
    this.#queued++;
    return () => {
      const waiters = this.#waiting.get(key);
      const index = waiters?.indexOf(grant) ?? -1;
      if (waiters === undefined || index === -1) return;
      waiters.splice(index, 1);
      this.#queued--;
      if (waiters.length === 0) this.#waiting.delete(key);
    };
  }

  /** Give back a slot taken by `tryAcquire` or granted by `enqueue`; the oldest waiter gets it. */
  release(address: string): void {
    const key = canonicalAddress(address);
    const left = (this.#active.get(key) ?? 1) - 1;
    if (left <= 0) this.#active.delete(key);
    else this.#active.set(key, left);
    const waiters = this.#waiting.get(key);
    const next = waiters?.shift();
    if (next === undefined) return;
    this.#queued--;
    if (waiters?.length === 0) this.#waiting.delete(key);
    this.#take(key, Math.max(left, 0));
    next();
  }

  /**
   * A slot for `address`, waiting as long as it takes or until `signal` fires (then rejecting with
   * its reason, having taken nothing). Resolves with the function that gives the slot back.
   */
  acquire(address: string, signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const releaseOnce = (): ReleaseSlot => {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.release(address);
      };
    };
    if (this.tryAcquire(address)) return Promise.resolve(releaseOnce());
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = () => {
        withdraw();
        reject(signal?.reason);
      };
      const withdraw = this.enqueue(address, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(releaseOnce());
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #take(key: string, active: number): void {
    this.#active.set(key, active + 1);
    if (active + 1 > this.peakPerAddress) this.peakPerAddress = active + 1;
  }
}

/** The process-wide per-address bound every GuardedAgent and UDP scrape uses unless given another. */
export const sharedAddressLimiter = new AddressLimiter();
