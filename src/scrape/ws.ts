import { WebSocket } from 'undici';
import type { TrackerscopeError } from '../errors.js';
import { asScrapeError, cleanTrackerText, ScrapeError, TrackerFailureError, withFamily } from './errors.js';
import type { OutboundPolicy } from './guard.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_WS_MESSAGE_BYTES, GuardedAgent, USER_AGENT } from './http.js';
import type { ScrapeCounts } from './types.js';
import { assertInfoHash } from './url.js';

export interface WebSocketScrapeOptions {
  /** Cuts the whole exchange: connect, handshake, waiting for the reply. */
  signal: AbortSignal;
  policy: OutboundPolicy;
  maxMessageBytes?: number;
  connectTimeoutMs?: number;
  /** A shared guarded agent; by default one is made (and closed) for this call. */
  dispatcher?: GuardedAgent;
}

export interface WebSocketScrapeResult {
  /** One entry per requested hash, in request order. */
  counts: ScrapeCounts[];
  /** The tracker's `warning message`, if any, cleaned like every tracker text. */
  warning: string | null;
  /** `flags.min_request_interval` (seconds) when the tracker sends it (bittorrent-tracker does). */
  minRequestInterval: number | null;
  family: 4 | 6 | null;
}

/**
 * Scrape a WebTorrent (WebSocket) tracker: one JSON message
 * `{"action":"scrape","info_hash":[<20-char latin1 strings>]}`, one reply whose `files` is keyed
 * by the same latin1 strings. The connection goes through the guarded agent, so the outbound
 * policy is enforced at connect time exactly as for HTTP.
 */
export async function scrapeWebSocket(
  url: string,
  hashes: readonly Uint8Array[],
  opts: WebSocketScrapeOptions,
): Promise<WebSocketScrapeResult> {
  if (opts.dispatcher && opts.dispatcher.policy.allowPrivate !== opts.policy.allowPrivate) {
    throw new TypeError('scrapeWebSocket: the dispatcher was built with a different outbound policy');
  }
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_WS_MESSAGE_BYTES;
  const agent =
    opts.dispatcher ??
    new GuardedAgent({
      policy: opts.policy,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxWebSocketMessageBytes: maxMessageBytes,
    });
  try {
    const reply = await exchange(url, scrapeMessage(hashes), agent, opts.signal, maxMessageBytes);
    const family = agent.familyOf(url);
    try {
      return { ...parseWebSocketReply(reply, hashes), family };
    } catch (err) {
      // The tracker answered, over this family: the row shows it even though the answer is bad.
      throw withFamily(err, family);
    }
  } catch (err) {
    throw asScrapeError(err, opts.signal);
  } finally {
    if (!opts.dispatcher) await agent.destroy().catch(() => undefined);
  }
}

/** The WebTorrent scrape request: hashes as "binary strings" (one char per byte). */
export function scrapeMessage(hashes: readonly Uint8Array[]): string {
  if (hashes.length === 0) throw new ScrapeError('SCRAPE_NO_HASH', 'no info-hash to scrape');
  const infoHash = hashes.map((hash) => Buffer.from(assertInfoHash(hash)).toString('latin1'));
  return JSON.stringify({ action: 'scrape', info_hash: infoHash });
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Send one message, wait for the tracker's scrape reply (other traffic is not ours), close. */
function exchange(url: string, message: string, agent: GuardedAgent, signal: AbortSignal, maxBytes: number): Promise<JsonObject> {
  signal.throwIfAborted();
  return new Promise<JsonObject>((resolve, reject) => {
    const socket = new WebSocket(url, { dispatcher: agent, headers: { 'user-agent': USER_AGENT } });
    socket.binaryType = 'arraybuffer';
    let settled = false;
    const finish = (outcome: { reply: JsonObject } | { error: unknown }) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if ('reply' in outcome) resolve(outcome.reply);
      else reject(outcome.error);
    };
    const onAbort = () => finish({ error: signal.reason });
    signal.addEventListener('abort', onAbort, { once: true });
    let opened = false;
    socket.addEventListener('open', () => {
      opened = true;
      socket.send(message);
    });
    socket.addEventListener('message', (event) => {
      try {
        const reply = readMessage(event.data, maxBytes);
        if (reply) finish({ reply });
      } catch (err) {
        // A refusal or garbage is still an answer: it came over the connection's family.
        finish({ error: withFamily(err, agent.familyOf(url)) });
      }
    });
    // undici reports a failed connection without its cause; the guarded agent kept it.
    socket.addEventListener('error', () => finish({ error: connectionFailure(agent, url, maxBytes, opened) }));
    socket.addEventListener('close', (event) => finish({ error: closedEarly(event.code) }));
  });
}

/** A scrape reply, or null for a message that is not one; throws for a refusal or garbage. */
function readMessage(data: unknown, maxBytes: number): JsonObject | null {
  const text = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
  if (Buffer.byteLength(text) > maxBytes) throw tooLarge(maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ScrapeError('SCRAPE_BAD_REPLY', 'WebSocket tracker sent a message that is not JSON');
  }
  if (!isObject(parsed)) throw new ScrapeError('SCRAPE_BAD_REPLY', 'WebSocket tracker sent JSON that is not an object');
  const failure = parsed['failure reason'] ?? parsed.failure_reason;
  if (typeof failure === 'string') throw new TrackerFailureError(cleanTrackerText(failure));
  return parsed.action === 'scrape' ? parsed : null;
}

function connectionFailure(agent: GuardedAgent, url: string, maxBytes: number, opened: boolean): TrackerscopeError {
  const cause = agent.connectFailureOf(url);
  if (cause) return asScrapeError(cause);
  if (!opened) return new ScrapeError('SCRAPE_CONNECT', 'the tracker did not accept the WebSocket handshake');
  // undici drops the connection when a message passes the agent's size limit and reports it
  // like any other drop, with no cause to tell the two apart: say both.
  return new ScrapeError(
    'SCRAPE_CONNECT',
    `the WebSocket tracker dropped the connection before answering, or sent a message over ${maxBytes} bytes`,
  );
}

function tooLarge(maxBytes: number): ScrapeError {
  return new ScrapeError('SCRAPE_TOO_LARGE', `tracker message is larger than ${maxBytes} bytes`);
}

function closedEarly(code: number): ScrapeError {
  return new ScrapeError('SCRAPE_CONNECT', `the tracker closed the WebSocket (code ${code}) without a scrape reply`);
}

/**
 * Read `files` (keyed by latin1 hash strings); a hash not listed is unknown: null, never 0. A
 * `warning message` (bittorrent-tracker sends one the way HTTP trackers do) is kept.
 */
export function parseWebSocketReply(
  reply: JsonObject,
  hashes: readonly Uint8Array[],
): { counts: ScrapeCounts[]; warning: string | null; minRequestInterval: number | null } {
  const files = reply.files;
  if (!isObject(files)) throw new ScrapeError('SCRAPE_BAD_REPLY', 'WebSocket tracker reply has no "files" object');
  const counts = hashes.map((hash): ScrapeCounts => {
    const key = Buffer.from(hash).toString('latin1');
    const entry = Object.hasOwn(files, key) ? files[key] : undefined;
    if (entry === undefined) return { seeders: null, leechers: null, completed: null, downloaders: null, unknown: true };
    if (!isObject(entry)) throw new ScrapeError('SCRAPE_BAD_REPLY', 'a "files" entry of the WebSocket tracker reply is not an object');
    return {
      seeders: countOf(entry, 'complete'),
      leechers: countOf(entry, 'incomplete'),
      completed: countOf(entry, 'downloaded'),
      downloaders: countOf(entry, 'downloaders'),
      unknown: false,
    };
  });
  const flags = reply.flags;
  const interval = isObject(flags) ? flags.min_request_interval : undefined;
  return {
    counts,
    warning: warningOf(reply),
    minRequestInterval: typeof interval === 'number' && Number.isSafeInteger(interval) && interval > 0 ? interval : null,
  };
}

/** `warning message` as a string, cleaned; empty after cleaning (or not a string) is no warning. */
function warningOf(reply: JsonObject): string | null {
  const warning = reply['warning message'];
  if (typeof warning !== 'string') return null;
  const clean = cleanTrackerText(warning);
  return clean === '' ? null : clean;
}

function countOf(entry: JsonObject, key: string): number | null {
  const value = entry[key];
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ScrapeError('SCRAPE_BAD_REPLY', `WebSocket tracker reply's "${key}" is not a count`);
  }
  return value;
}
