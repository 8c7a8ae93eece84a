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
  /**
   * Address family over which the tracker answered, when the failure is in its answer (its
   * `failure reason`, an HTML page, a bad reply, an HTTP error status): what `TrackerStat.family`
   * shows for the row. Null when no answer came (refused, unreachable, timed out, blocked).
   */
  family: 4 | 6 | null = null;

  constructor(code: ScrapeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}

/** `err`, marked (when it is a ScrapeError not already marked) as a failure in an answer that came over `family`. */
export function withFamily<E>(err: E, family: 4 | 6 | null): E {
  if (err instanceof ScrapeError && err.family === null) err.family = family;
  return err;
}

/** The family a failure was marked with (see ScrapeError.family), looking through `cause` chains. */
export function familyOfFailure(err: unknown): 4 | 6 | null {
  for (let e: unknown = err, depth = 0; e && depth < MAX_CAUSE_DEPTH; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ScrapeError && e.family !== null) return e.family;
  }
  return null;
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

/** UDP has no connection: the same errno reads differently when it came back for a datagram. */
export type Transport = 'tcp' | 'udp';

/** What a person reads for one low-level code, and the scrape code it files under. */
interface PlainFailure {
  code: ScrapeErrorCode;
  text: string;
  /** The wording for a UDP tracker, when it differs. */
  udpText?: string;
}

const connectFault = (text: string, udpText?: string): PlainFailure => ({ code: 'SCRAPE_CONNECT', text, ...(udpText === undefined ? {} : { udpText }) });
const timeoutFault = (text: string): PlainFailure => ({ code: 'SCRAPE_TIMEOUT', text });
const dnsFault = (text: string): PlainFailure => ({ code: 'SCRAPE_DNS', text });
const tlsFault = (text: string): PlainFailure => ({ code: 'SCRAPE_TLS', text });

/**
 * Node errno codes (libuv), getaddrinfo codes, undici `UND_ERR_*` codes and OpenSSL/Node TLS codes, in
 * words for someone looking at a tracker row. The raw Node message is never used: it names the
 * address and port (and undici's, at times, the URL with its passkey).
 */
const NETWORK_FAILURES: ReadonlyMap<string, PlainFailure> = new Map([
  // Refused, closed, unreachable
  [
    'ECONNREFUSED',
    connectFault('the tracker refused the connection: nothing listens on that port', "nothing listens on the tracker's UDP port"),
  ],
  ['ECONNRESET', connectFault('the tracker closed the connection')],
  ['ECONNABORTED', connectFault('the connection to the tracker was aborted')],
  ['EPIPE', connectFault('the tracker closed the connection while the request was being sent')],
  ['EHOSTUNREACH', connectFault("the tracker's network cannot be reached")],
  ['ENETUNREACH', connectFault("the tracker's network cannot be reached")],
  ['EHOSTDOWN', connectFault("the tracker's host is down")],
  ['ENETDOWN', connectFault("this server's network is down")],
  ['EADDRNOTAVAIL', connectFault("this server has no local address from which the tracker's address can be reached")],
  ['EACCES', connectFault("this server's firewall does not allow contacting the tracker")],
  ['EPERM', connectFault("this server's firewall does not allow contacting the tracker")],
  ['EMFILE', connectFault('this server has too many connections open to open another')],
  ['ENFILE', connectFault('this server has too many connections open to open another')],
  ['ENOBUFS', connectFault('this server ran out of network buffers')],
  ['UND_ERR_SOCKET', connectFault('the tracker closed the connection before answering')],
  ['UND_ERR_CLOSED', connectFault('the connection was closed before the tracker answered')],
  ['UND_ERR_DESTROYED', connectFault('the connection was closed before the tracker answered')],
  // Out of time
  ['ETIMEDOUT', timeoutFault('the connection to the tracker timed out')],
  ['UND_ERR_CONNECT_TIMEOUT', timeoutFault('the tracker did not accept the connection in time')],
  ['UND_ERR_HEADERS_TIMEOUT', timeoutFault('the tracker accepted the connection but did not start answering in time')],
  ['UND_ERR_BODY_TIMEOUT', timeoutFault('the tracker stopped sending its answer part-way')],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', timeoutFault('the secure (TLS) handshake with the tracker did not finish in time')],
  // Names (getaddrinfo; Node reports EAI_NONAME and EAI_NODATA as ENOTFOUND)
  ['ENOTFOUND', dnsFault("the tracker's host name does not exist")],
  ['EAI_AGAIN', dnsFault("the tracker's host name could not be looked up right now")],
  ['EAI_FAIL', dnsFault("the tracker's host name could not be looked up: the name server failed")],
  ['ENODATA', dnsFault("the tracker's host name has no address")],
  // Certificates and TLS
  ['CERT_HAS_EXPIRED', tlsFault("the tracker's certificate has expired")],
  ['CERT_NOT_YET_VALID', tlsFault("the tracker's certificate is not valid yet (or this server's clock is wrong)")],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', tlsFault("the tracker's certificate is self-signed")],
  ['SELF_SIGNED_CERT_IN_CHAIN', tlsFault("the tracker's certificate chain ends in a self-signed certificate that is not trusted")],
  [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    tlsFault("the tracker's certificate is not signed by a trusted authority, or the tracker does not send its intermediate certificates"),
  ],
  ['UNABLE_TO_GET_ISSUER_CERT', tlsFault("the tracker's certificate is signed by an authority this server does not trust")],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', tlsFault("the tracker's certificate is signed by an authority this server does not trust")],
  ['CERT_UNTRUSTED', tlsFault("the tracker's certificate is not trusted")],
  ['CERT_REJECTED', tlsFault("the tracker's certificate is not trusted")],
  ['CERT_REVOKED', tlsFault("the tracker's certificate has been revoked")],
  ['CERT_SIGNATURE_FAILURE', tlsFault("the tracker's certificate has an invalid signature")],
  ['ERR_TLS_CERT_ALTNAME_INVALID', tlsFault("the tracker's certificate is for a different host name")],
  ['ERR_SSL_WRONG_VERSION_NUMBER', tlsFault('the tracker does not speak TLS on that port (it may be a plain http:// tracker)')],
  ['ERR_SSL_UNSUPPORTED_PROTOCOL', tlsFault('the tracker and this server have no TLS version in common')],
  ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', tlsFault('the tracker and this server have no TLS version in common')],
  ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', tlsFault('the tracker and this server could not agree on how to encrypt (TLS handshake failure)')],
  // The reply itself
  ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', { code: 'SCRAPE_BAD_REPLY', text: "the tracker's answer is not as long as it said it would be" }],
  ['UND_ERR_RES_EXCEEDED_MAX_SIZE', { code: 'SCRAPE_TOO_LARGE', text: "the tracker's answer is larger than allowed" }],
  ['UND_ERR_HEADERS_OVERFLOW', { code: 'SCRAPE_TOO_LARGE', text: "the tracker's answer has larger headers than allowed" }],
  ['UND_ERR_WS_MESSAGE_SIZE_EXCEEDED', { code: 'SCRAPE_TOO_LARGE', text: "the tracker's message is larger than allowed" }],
]);

/** The secure-channel failures no entry above names: every OpenSSL and Node TLS code, EPROTO (what older Nodes say). */
const GENERIC_TLS = tlsFault('the secure (TLS) connection to the tracker failed');
/** llhttp's parse errors: undici names the class and (sometimes) gives an `HPE_*` code. */
const NOT_HTTP: PlainFailure = { code: 'SCRAPE_BAD_REPLY', text: "the tracker's answer is not valid HTTP" };
const CUT_SHORT = timeoutFault('the tracker did not answer in time');
const UNKNOWN_FAILURE = connectFault('the request to the tracker failed');

/** Nested errors examined (causes, AggregateError members): wrappers nest one or two levels, and a cause loop must end. */
const MAX_CAUSE_DEPTH = 8;
/** A code is shown only when it looks like one: it must never carry a tracker's or Node's free text. */
const SHOWABLE_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

function isTlsCode(code: string): boolean {
  return code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code === 'EPROTO' || code.includes('CERT');
}

/** The failure that names a code we know, looking through `cause` chains (fetch wraps) and AggregateErrors (happy eyeballs). */
function knownFailure(err: unknown): { failure: PlainFailure; code: string | null } | null {
  const queue: unknown[] = [err];
  for (let seen = 0; seen < queue.length && seen < MAX_CAUSE_DEPTH; seen++) {
    const e = queue[seen];
    if (e === null || typeof e !== 'object') continue;
    const { code, name, cause, errors } = e as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') {
      const failure = NETWORK_FAILURES.get(code) ?? (isTlsCode(code) ? GENERIC_TLS : code.startsWith('HPE_') ? NOT_HTTP : undefined);
      if (failure) return { failure, code };
    }
    if (name === 'HTTPParserError') return { failure: NOT_HTTP, code: typeof code === 'string' ? code : null };
    if (name === 'TimeoutError' || name === 'AbortError') return { failure: CUT_SHORT, code: null };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return null;
}

/** The first code anywhere in the chain, for the text of a failure we have no words for. */
function anyCode(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < MAX_CAUSE_DEPTH; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && SHOWABLE_CODE.test(code)) return code;
  }
  return null;
}

/**
 * A raw network error (errno, getaddrinfo, undici, TLS) as a ScrapeError in plain words with the
 * machine code after it, e.g. "the tracker refused the connection: nothing listens on that port
 * (ECONNREFUSED)". The original error stays in `cause` for logs; its message never reaches the text.
 */
export function networkFailure(err: unknown, transport: Transport = 'tcp'): ScrapeError {
  const known = knownFailure(err);
  const failure = known?.failure ?? UNKNOWN_FAILURE;
  const code = known ? known.code : anyCode(err);
  const text = (transport === 'udp' && failure.udpText) || failure.text;
  return new ScrapeError(failure.code, code !== null && SHOWABLE_CODE.test(code) ? `${text} (${code})` : text, { cause: err });
}

/**
 * A failed name lookup, always SCRAPE_DNS whatever the resolver threw (a lookup has no other way to
 * fail that matters to the row), in the same plain words.
 */
export function dnsFailure(err: unknown): ScrapeError {
  const described = networkFailure(err);
  if (described.code === 'SCRAPE_DNS') return described;
  const code = anyCode(err);
  return new ScrapeError('SCRAPE_DNS', `the tracker's host name could not be looked up${code === null ? '' : ` (${code})`}`, { cause: err });
}

/**
 * Map whatever a network client threw to a TrackerscopeError with a stable code and plain words
 * (see `networkFailure`); our own errors pass through. The deadline firing wins: whatever broke
 * after it is a consequence of the cut.
 */
export function asScrapeError(err: unknown, signal?: AbortSignal, transport: Transport = 'tcp'): TrackerscopeError {
  if (signal?.aborted) return new ScrapeError('SCRAPE_TIMEOUT', 'the tracker did not answer in time', { cause: err });
  if (err instanceof TrackerscopeError) return err;
  return networkFailure(err, transport);
}
