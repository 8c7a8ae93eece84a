import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import type { Logger } from 'pino';
import { TrackerscopeError } from '../errors.js';
import { renderPage } from './render.js';
import { requestLogOf } from './request-log.js';
import { formatBytes } from './view-model.js';

/**
 * THE one place that turns a failure into an HTTP status and a message a person can act on, for
 * both the HTML page and the JSON answer `{ error: { code, message } }`. Nothing else in the web
 * layer picks a status for an error, and no stack trace ever reaches a client.
 */

/** Failures the web layer itself detects (the request, not the torrent, is wrong). */
export type WebErrorCode =
  | 'UPLOAD_NOT_MULTIPART'
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
  | 'BAD_REQUEST'
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

/** What a client is told. `message` is complete and safe to show (it is escaped when rendered). */
export interface HttpProblem {
  status: number;
  code: string;
  /** Short page heading. */
  title: string;
  message: string;
  retryAfterSeconds?: number;
}

const STATUS_OF_WEB_CODE: Readonly<Record<WebErrorCode, number>> = {
  UPLOAD_NOT_MULTIPART: 415,
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
  BAD_REQUEST: 400,
  INTERNAL: 500,
};

const TITLE_OF_STATUS: Readonly<Record<number, string>> = {
  400: 'That request did not work',
  404: 'Page not found',
  413: 'Too large',
  415: 'Not a torrent file',
  422: 'Not a torrent file',
  429: 'Slow down a little',
  500: 'Something went wrong',
};

/** Sentence every refusal of uploaded content starts with, as the issue words it. */
export const NOT_A_TORRENT_SENTENCE = 'This is not a torrent file';

/** Limits the upload layer needs to phrase its messages (sizes are shown to the person). */
export interface ProblemContext {
  maxUploadBytes: number;
  maxMagnetBytes: number;
}

/** Map anything thrown while serving a request to what the client is told. */
export function problemFor(err: unknown, context: ProblemContext): HttpProblem {
  if (err instanceof WebError) {
    return problem(STATUS_OF_WEB_CODE[err.code], err.code, err.message, err.retryAfterSeconds);
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
  const title = TITLE_OF_STATUS[status] ?? TITLE_OF_STATUS[Math.floor(status / 100) * 100] ?? 'Error';
  return retryAfterSeconds === undefined
    ? { status, code, title, message }
    : { status, code, title, message, retryAfterSeconds };
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
    return problem(422, err.code, `${NOT_A_TORRENT_SENTENCE}: ${reason}.`);
  }
  if (err.code.startsWith('MAGNET_')) {
    return problem(400, err.code, `That is not a magnet link or info-hash we can read: ${reason}.`);
  }
  // SCRAPE_* failures are per-tracker rows, never a whole-request error; anything else is ours.
  return problem(500, 'INTERNAL', 'Something went wrong on our side. The error has been logged; please try again.');
}

function multerProblem(err: multer.MulterError, context: ProblemContext): HttpProblem {
  switch (err.code) {
    case 'LIMIT_FILE_SIZE':
      return problem(
        413,
        'UPLOAD_TOO_LARGE',
        `The file is larger than the ${formatBytes(context.maxUploadBytes).text} limit. Real .torrent files are rarely more than a few megabytes.`,
      );
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

/** Answer with a problem as JSON or as the error page. */
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
  if (wantsJson(req)) {
    res.json({ error: { code: found.code, message: found.message } });
    return;
  }
  const page = {
    status: found.status,
    code: found.code,
    title: found.title,
    message: found.message,
    retryAfterSeconds: found.retryAfterSeconds ?? null,
  };
  try {
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
