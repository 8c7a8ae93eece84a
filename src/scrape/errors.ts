import { TrackerscopeError } from '../errors.js';

/**
 * Every code a scrape can fail with. The scraper turns SCRAPE_BLOCKED into status `blocked`,
 * SCRAPE_TIMEOUT into `timeout` and the rest into `error`; the web layer shows them per tracker row.
 */
export type ScrapeErrorCode =
  /** The tracker did not answer within the deadline, or within a connect/headers timeout. */
  | 'SCRAPE_TIMEOUT'
  /** The tracker's host name does not resolve (A and AAAA). */
  | 'SCRAPE_DNS'
  /** The outbound policy refused every address of the tracker (loopback, private, …): nothing was sent. */
  | 'SCRAPE_BLOCKED'
  /** The connection failed: refused (TCP RST or ICMP port unreachable), reset, unreachable, closed early. */
  | 'SCRAPE_CONNECT'
  /** The TLS handshake or the tracker's certificate failed. */
  | 'SCRAPE_TLS'
  /** An HTTP(S) tracker answered with a non-2xx status and no `failure reason`. */
  | 'SCRAPE_HTTP_STATUS'
  /** A scrape URL no request can be built from as written (not http(s), or a host part parsers read differently). */
  | 'SCRAPE_BAD_URL'
  /** Too many redirects, or a redirect to an invalid URL or to a scheme other than http/https. */
  | 'SCRAPE_REDIRECT'
  /** The reply (or what it inflates to) is larger than the body cap. */
  | 'SCRAPE_TOO_LARGE'
  /** The tracker answered something that is not a scrape reply (HTML, JSON, garbage, wrong lengths). */
  | 'SCRAPE_BAD_REPLY'
  /** The tracker refused in its own words (`failure reason`, BEP 15 error action). */
  | 'SCRAPE_TRACKER_FAILURE'
  /** A scrape was asked for no info-hash at all (a caller's bug). */
  | 'SCRAPE_NO_HASH'
  /** An info-hash is not 20 bytes, or a packet argument is out of range (a caller's bug). */
  | 'SCRAPE_BAD_HASH'
  /** A UDP tracker URL's port is not 1–65535. */
  | 'SCRAPE_BAD_PORT'
  /** Too many tracker requests are already waiting for a slot of the request limiter. */
  | 'SCRAPE_QUEUE_FULL';

export class ScrapeError extends TrackerscopeError {
  declare readonly code: ScrapeErrorCode;

  constructor(code: ScrapeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}

/** The tracker answered and refused (`failure reason`, BEP 15 error): its own words are the message. */
export class TrackerFailureError extends ScrapeError {
  constructor(readonly trackerMessage: string) {
    super('SCRAPE_TRACKER_FAILURE', `tracker says: ${trackerMessage}`);
  }
}

/** Tracker-supplied text (failure reason, warning, BEP 15 error) is cut to this many characters. */
export const MAX_TRACKER_TEXT_CHARS = 500;

/** Tracker text with control characters (terminal escapes, NULs, newlines) blanked and cut to a sane size. */
export function cleanTrackerText(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return clean.length > MAX_TRACKER_TEXT_CHARS ? `${clean.slice(0, MAX_TRACKER_TEXT_CHARS)}…` : clean;
}

const CONNECT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EADDRNOTAVAIL', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/**
 * Map whatever a network client threw (errno, undici `UND_ERR_*`, TLS) to a TrackerscopeError with a
 * stable code. The deadline firing wins: whatever broke after it is a consequence of the cut.
 */
export function asScrapeError(err: unknown, signal?: AbortSignal): TrackerscopeError {
  if (signal?.aborted) return new ScrapeError('SCRAPE_TIMEOUT', 'tracker did not answer in time', { cause: err });
  if (err instanceof TrackerscopeError) return err;
  const code = (err as { code?: string } | null)?.code ?? '';
  const detail = err instanceof Error ? err.message : String(err);
  if (TIMEOUT_CODES.has(code)) return new ScrapeError('SCRAPE_TIMEOUT', `tracker timed out (${detail})`, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ScrapeError('SCRAPE_DNS', `cannot resolve the tracker (${code})`, { cause: err });
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT')) {
    return new ScrapeError('SCRAPE_TLS', `TLS failed (${detail})`, { cause: err });
  }
  if (CONNECT_ERRNOS.has(code)) return new ScrapeError('SCRAPE_CONNECT', `connection failed (${code}: ${detail})`, { cause: err });
  return new ScrapeError('SCRAPE_CONNECT', `request failed (${detail})`, { cause: err });
}
