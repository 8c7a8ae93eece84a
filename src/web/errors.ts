import type { Express, NextFunction, Request, Response } from 'express';
import multer from 'multer';
import type { Logger } from 'pino';
import { TrackerscopeError } from '../errors.js';
import { renderPage } from './render.js';
import { requestLogOf } from './request-log.js';
import type { UploadFormView } from './upload.js';
import { formatBytes } from './view-model.js';

/**
 * THE one place that turns a failure into an HTTP status and a message a person can act on, for
 * both the HTML page and the JSON answer `{ error: { code, message } }`. Nothing else in the web
 * layer picks a status for an error, and no stack trace ever reaches a client.
 */

/** Failures the web layer itself detects (the request, not the torrent, is wrong). */
export type WebErrorCode =
  | 'UPLOAD_NOT_MULTIPART'
  | 'UPLOAD_COMPRESSED'
  | 'UPLOAD_MALFORMED'
  | 'UPLOAD_TOO_LARGE'
  | 'UPLOAD_FIELD_TOO_LONG'
  | 'UPLOAD_TOO_MANY_FILES'
  | 'UPLOAD_WRONG_FIELD'
  | 'UPLOAD_FORM_LIMIT'
  | 'UPLOAD_NO_INPUT'
  | 'UPLOAD_BOTH_INPUTS'
  | 'UPLOAD_MANY_MAGNETS'
  | 'UPLOAD_EMPTY'
  | 'NOT_A_TORRENT'
  | 'QUERY_INVALID'
  | 'RATE_LIMITED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'BAD_REQUEST'
  | 'API_NOT_JSON'
  | 'API_COMPRESSED'
  | 'API_MALFORMED_JSON'
  | 'API_BODY_TOO_LARGE'
  | 'API_BAD_BODY'
  | 'API_NO_TORRENTS'
  | 'API_TOO_MANY_TORRENTS'
  | 'INTERNAL';

export class WebError extends TrackerscopeError {
  declare readonly code: WebErrorCode;

  constructor(
    code: WebErrorCode,
    message: string,
    /** Seconds until the client may retry (429). */
    readonly retryAfterSeconds?: number,
  ) {
    super(code, message);
  }
}

/** The address exists, but not for this method (PUT /, DELETE /scrape, …). */
export class MethodNotAllowedError extends WebError {
  constructor(
    method: string,
    /** The methods the address does take, for the `Allow` header. */
    readonly allow: readonly string[],
  ) {
    // Node's HTTP parser only lets known method tokens through, so `method` is a short plain word.
    super('METHOD_NOT_ALLOWED', `This address does not take ${method} requests; it takes ${allow.join(', ')}.`);
  }
}

/** What a client is told. Every text is complete and safe to show (it is escaped when rendered). */
export interface HttpProblem {
  status: number;
  code: string;
  /** Short page heading. */
  title: string;
  /** The whole message: the JSON answer's `message`, and the page's technical details. */
  message: string;
  /** What the page says under its heading: the message without the part the heading already says. */
  pageMessage: string;
  retryAfterSeconds?: number;
  /** The methods the address takes (405): the `Allow` header. */
  allow?: readonly string[];
  /** The content codings a request body may have (415 for a compressed body): the `Accept-Encoding` header. */
  acceptEncoding?: string;
  /** The code of the underlying failure when it is more specific than `code` (the decoder's `BENCODE_*`). */
  causeCode?: string;
}

const STATUS_OF_WEB_CODE: Readonly<Record<WebErrorCode, number>> = {
  UPLOAD_NOT_MULTIPART: 415,
  UPLOAD_COMPRESSED: 415,
  UPLOAD_MALFORMED: 400,
  UPLOAD_TOO_LARGE: 413,
  UPLOAD_FIELD_TOO_LONG: 413,
  UPLOAD_TOO_MANY_FILES: 400,
  UPLOAD_WRONG_FIELD: 400,
  UPLOAD_FORM_LIMIT: 400,
  UPLOAD_NO_INPUT: 400,
  UPLOAD_BOTH_INPUTS: 400,
  UPLOAD_MANY_MAGNETS: 400,
  UPLOAD_EMPTY: 400,
  NOT_A_TORRENT: 415,
  QUERY_INVALID: 400,
  RATE_LIMITED: 429,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BAD_REQUEST: 400,
  API_NOT_JSON: 415,
  API_COMPRESSED: 415,
  API_MALFORMED_JSON: 400,
  API_BODY_TOO_LARGE: 413,
  API_BAD_BODY: 400,
  API_NO_TORRENTS: 400,
  API_TOO_MANY_TORRENTS: 413,
  INTERNAL: 500,
};

const TITLE_OF_STATUS: Readonly<Record<number, string>> = {
  400: 'That request did not work',
  404: 'Page not found',
  405: 'Method not allowed',
  413: 'Too large',
  415: 'Not a form upload',
  422: 'Not a valid torrent file',
  429: 'Slow down a little',
  500: 'Something went wrong',
};

/** Sentence every refusal of uploaded content starts with, as the issue words it. */
export const NOT_A_TORRENT_SENTENCE = 'This is not a torrent file';
/** Sentence every refusal of a magnet link or info-hash starts with. */
export const NOT_A_MAGNET_SENTENCE = 'That is not a magnet link or info-hash we can read';

/**
 * Lead sentences a heading already says: under "Not a torrent file" the page goes straight to the
 * reason ("The content of "a.torrent" looks like a PNG image."), while the JSON answer and the
 * page's technical details keep the whole sentence.
 */
const LEADS_SAID_BY_HEADING: readonly string[] = [NOT_A_TORRENT_SENTENCE, NOT_A_MAGNET_SENTENCE];

/** Page heading: what went wrong, as specific as the code allows. */
function titleOf(status: number, code: string): string {
  if (code === 'NOT_A_TORRENT') return 'Not a torrent file';
  if (code === 'UPLOAD_COMPRESSED' || code === 'API_COMPRESSED') return 'Compressed uploads are not accepted';
  if (code === 'API_NOT_JSON') return 'Not a JSON request';
  if (code.startsWith('MAGNET_')) return 'Not a magnet link or info-hash';
  return TITLE_OF_STATUS[status] ?? TITLE_OF_STATUS[Math.floor(status / 100) * 100] ?? 'Error';
}

/** The only content coding a request body may have: none. */
export const ACCEPTED_REQUEST_CODINGS = 'identity';

/**
 * What a too-large upload is told, whichever check caught it: the file part's own limit (multer), or
 * the bound on the whole request body (src/web/upload.ts), so both read the same.
 */
export function uploadTooLargeMessage(maxUploadBytes: number): string {
  return `The file is larger than the ${formatBytes(maxUploadBytes).text} limit. Real .torrent files are rarely more than a few megabytes.`;
}

/** Limits the upload layer needs to phrase its messages (sizes are shown to the person). */
export interface ProblemContext {
  maxUploadBytes: number;
  maxMagnetBytes: number;
}

/** Map anything thrown while serving a request to what the client is told. */
export function problemFor(err: unknown, context: ProblemContext): HttpProblem {
  if (err instanceof MethodNotAllowedError) {
    return { ...problem(STATUS_OF_WEB_CODE[err.code], err.code, err.message), allow: err.allow };
  }
  if (err instanceof WebError) {
    const found = problem(STATUS_OF_WEB_CODE[err.code], err.code, err.message, err.retryAfterSeconds);
    // RFC 9110 §15.5.16: a 415 for a content coding says which codings would have been taken.
    if (err.code === 'UPLOAD_COMPRESSED' || err.code === 'API_COMPRESSED') found.acceptEncoding = ACCEPTED_REQUEST_CODINGS;
    return found;
  }
  if (err instanceof multer.MulterError) return multerProblem(err, context);
  if (err instanceof TrackerscopeError) return coreProblem(err);
  const status = httpStatusOf(err);
  if (status !== undefined && status >= 400 && status < 500) {
    // body-parser/static/router errors (malformed percent-encoding in a path, …): their own
    // message may name internals, so the client gets a fixed sentence.
    return problem(status === 404 ? 404 : 400, status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', 'The request could not be understood.');
  }
  return problem(500, 'INTERNAL', 'Something went wrong on our side. The error has been logged; please try again.');
}

function problem(status: number, code: string, message: string, retryAfterSeconds?: number): HttpProblem {
  let pageMessage = message;
  for (const lead of LEADS_SAID_BY_HEADING) {
    const reason = message.startsWith(`${lead}: `) ? message.slice(lead.length + 2).trim() : '';
    if (reason !== '') pageMessage = sentenceCase(reason);
  }
  const found: HttpProblem = { status, code, title: titleOf(status, code), message, pageMessage };
  if (retryAfterSeconds !== undefined) found.retryAfterSeconds = retryAfterSeconds;
  return found;
}

/**
 * The reason, as the start of a sentence: a first word of plain lower-case letters gets its capital;
 * anything else (`urn:btih needs …`, `'piece length' is missing …`) is left as written.
 */
export function sentenceCase(text: string): string {
  return /^[a-z]+\b(?![:'’.\-/])/.test(text) ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

/**
 * Errors from the core: the torrent decoder (BENCODE_*), the torrent model (TORRENT_*) and the
 * magnet/info-hash parser (MAGNET_*). Their messages are written for people and carry the byte
 * offset where decoding failed.
 */
function coreProblem(err: TrackerscopeError): HttpProblem {
  // The torrent parser may already say "not a torrent file: …"; the page says it once.
  const reason = err.message.replace(/\.$/, '').replace(/^not a torrent file:\s*/i, '');
  if (err.code.startsWith('BENCODE_') || err.code.startsWith('TORRENT_')) {
    const found = problem(422, err.code, `${NOT_A_TORRENT_SENTENCE}: ${reason}.`);
    // The decoder's own code (BENCODE_UNEXPECTED_END, …) is for the technical details, not the sentence.
    if (err.cause instanceof TrackerscopeError && err.cause.code !== err.code) found.causeCode = err.cause.code;
    return found;
  }
  if (err.code.startsWith('MAGNET_')) {
    return problem(400, err.code, `${NOT_A_MAGNET_SENTENCE}: ${reason}.`);
  }
  // SCRAPE_* failures are per-tracker rows, never a whole-request error; anything else is ours.
  return problem(500, 'INTERNAL', 'Something went wrong on our side. The error has been logged; please try again.');
}

function multerProblem(err: multer.MulterError, context: ProblemContext): HttpProblem {
  switch (err.code) {
    case 'LIMIT_FILE_SIZE':
      return problem(413, 'UPLOAD_TOO_LARGE', uploadTooLargeMessage(context.maxUploadBytes));
    case 'LIMIT_FIELD_VALUE':
      return problem(
        413,
        'UPLOAD_FIELD_TOO_LONG',
        `The magnet link is longer than the ${formatBytes(context.maxMagnetBytes).text} limit.`,
      );
    case 'LIMIT_FILE_COUNT':
      return problem(400, 'UPLOAD_TOO_MANY_FILES', 'Send exactly one .torrent file at a time.');
    case 'LIMIT_UNEXPECTED_FILE':
      // `single('torrent')` reports a second `torrent` file the same way as a file in another field.
      return err.field === 'torrent'
        ? problem(400, 'UPLOAD_TOO_MANY_FILES', 'Send exactly one .torrent file at a time.')
        : problem(400, 'UPLOAD_WRONG_FIELD', 'The file must be sent in the form field named "torrent".');
    default:
      return problem(
        400,
        'UPLOAD_FORM_LIMIT',
        `The form has more, longer or nested fields than this page sends (${err.message.toLowerCase()}).`,
      );
  }
}

function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { status, statusCode } = err as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : statusCode;
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

/**
 * Addresses under this prefix are the JSON API: every answer there, errors included, is JSON
 * whatever the Accept header says (a script that accepts any type must not get an HTML page).
 */
export const API_PATH_PREFIX = '/api/';

function isApiPath(path: string): boolean {
  return path.toLowerCase().startsWith(API_PATH_PREFIX);
}

/** Distinct Accept headers whose answer is remembered (clients send a handful of them). */
export const MAX_REMEMBERED_ACCEPT_HEADERS = 64;
/** Longer Accept headers are negotiated every time, so the memory stays small. */
export const MAX_REMEMBERED_ACCEPT_CHARS = 512;
const prefersJsonByAccept = new Map<string, boolean>();

/**
 * True when the client asked for JSON rather than a page (`Accept: application/json`). Content
 * negotiation parses the whole Accept header; its answer for a given header never changes, so the
 * answers for the few headers clients actually send are remembered.
 */
export function wantsJson(req: Request): boolean {
  const accept = req.headers.accept;
  const known = accept === undefined ? undefined : prefersJsonByAccept.get(accept);
  if (known !== undefined) return known;
  const json = req.accepts(['html', 'json']) === 'json';
  if (accept !== undefined && accept.length <= MAX_REMEMBERED_ACCEPT_CHARS) {
    if (prefersJsonByAccept.size >= MAX_REMEMBERED_ACCEPT_HEADERS) prefersJsonByAccept.clear();
    prefersJsonByAccept.set(accept, json);
  }
  return json;
}

/**
 * The upload form an error page offers so the person can try again without going back, for a
 * failed request that deserves one (a scrape); null: this failure gets no form. Given the request
 * so it can read the one field it prefills, never to hand the request's data on wholesale.
 */
export type RetryForm = (req: Request, problem: HttpProblem) => UploadFormView | null;

/** Where the app keeps its RetryForm (app.locals, as it keeps its templates). */
const RETRY_FORM_KEY = 'retryForm';

/** Make error pages of this app offer the upload form wherever `build` gives one. */
export function offerRetryForm(app: Express, build: RetryForm): void {
  app.locals[RETRY_FORM_KEY] = build;
}

/** What views/error.ejs is given. */
export interface ErrorPageView {
  status: number;
  code: string;
  title: string;
  message: string;
  pageMessage: string;
  retryAfterSeconds: number | null;
  /** The underlying failure's own code, shown beside `code` in the technical details; null: none. */
  causeCode: string | null;
  /** The way on when there is no form: what the home-page button says. */
  backLabel: string;
  /** The upload form again, under `retryHeading`; null: the page links home instead. */
  form: UploadFormView | null;
  retryHeading: string;
}

/** Answer with a problem as JSON or as the error page. */
/** The request declares a body that nothing has started to read. */
function unreadBodyPending(req: Request): boolean {
  const declared = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return declared && !req.complete && req.readableFlowing === null;
}

export function sendProblem(req: Request, res: Response, found: HttpProblem): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(found.status);
  res.set('Cache-Control', 'no-store');
  if (found.retryAfterSeconds !== undefined && !res.getHeader('Retry-After')) {
    res.set('Retry-After', String(found.retryAfterSeconds));
  }
  if (found.allow !== undefined) res.set('Allow', found.allow.join(', '));
  if (found.acceptEncoding !== undefined) res.set('Accept-Encoding', found.acceptEncoding);
  // A refusal before anything read the body (429, 404, 405): Node would drain whatever the client
  // still sends, however much, to keep the connection. Close after the answer instead. The upload
  // checks' own refusals have already started their bounded drain (flowing), so they keep theirs.
  if (unreadBodyPending(req)) res.set('Connection', 'close');
  if (isApiPath(req.path) || wantsJson(req)) {
    res.json({ error: { code: found.code, message: found.message } });
    return;
  }
  try {
    const retryForm = req.app.locals[RETRY_FORM_KEY] as RetryForm | undefined;
    const fileWasNotTheProblem = found.status === 404 || found.status === 405 || found.status === 429 || found.status >= 500;
    const page: ErrorPageView = {
      status: found.status,
      code: found.code,
      title: found.title,
      message: found.message,
      pageMessage: found.pageMessage,
      retryAfterSeconds: found.retryAfterSeconds ?? null,
      causeCode: found.causeCode ?? null,
      backLabel: fileWasNotTheProblem ? 'Back to the upload form' : 'Try another torrent',
      form: retryForm ? retryForm(req, found) : null,
      retryHeading: found.retryAfterSeconds === undefined ? 'Try again' : 'Try again when the limit has reset',
    };
    renderPage(res, 'error', found.title, page);
  } catch (err) {
    // The error page itself failed: never loop back into the error handler.
    requestLogOf(req)?.error({ err }, 'error page failed to render');
    res.type('text').send(`${found.title}: ${found.message}`);
  }
}

/** The app's only error handler: log server faults with their stack, tell the client a problem. */
export function errorHandler(logger: Logger, context: ProblemContext) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const found = problemFor(err, context);
    if (found.status >= 500) {
      requestLogOf(req, logger).error({ err }, 'request failed');
    }
    sendProblem(req, res, found);
  };
}
