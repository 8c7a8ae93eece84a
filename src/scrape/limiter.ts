import { TrackerscopeError } from '../errors.js';

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

export class LimiterQueueFullError extends TrackerscopeError {
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
