import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Level, Logger } from 'pino';

/**
 * One structured pino line per request, written when the response is done:
 * `{ req: { id, method, url, remoteAddress }, res: { statusCode }, responseTime, scrape? }` and the
 * message `POST /scrape 200`. Queries never reach it (they carry magnet links and tracker
 * passkeys). Lines about a request (debug details, server faults) go through `requestLogOf(req)`,
 * a child logger that carries the same `req` fields; it is built only when something is written
 * through it, since on a healthy request nothing is.
 *
 * Purpose-built rather than pino-http: the same line for less work per request (pino-http builds
 * a child logger and runs its serializers for every request up front).
 */

/** Response header with our id of the request, so a person can quote it and we can find the line. */
export const REQUEST_ID_HEADER = 'X-Request-Id';
/** Liveness probes are logged at debug level: the container's health check would fill the log. */
export const HEALTH_PATH = '/healthz';

/** What a route may add to the request's line (set as `res.locals.scrapeSummary`). */
export type RequestSummary = Record<string, unknown>;

interface RequestLogState {
  id: string;
  startedAt: number;
  logger: Logger;
  child: Logger | null;
  written: boolean;
}

/**
 * The state lives in `res.locals`, express's place for what belongs to one request: adding a
 * property there costs a third of adding one to the request or response object itself (both are
 * large, and every request pays it).
 */
const STATE = Symbol('trackerscope.requestLog');

type LoggedLocals = Record<PropertyKey, unknown> & { [STATE]?: RequestLogState };

function stateOf(res: ServerResponse | undefined): RequestLogState | undefined {
  return ((res as Response | undefined)?.locals as LoggedLocals | undefined)?.[STATE];
}

/** The request path without its query: queries carry magnet links and tracker passkeys. */
export function pathForLog(url: string | undefined): string {
  if (!url) return '';
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : `${url.slice(0, cut)}?[redacted]`;
}

export function requestLog(logger: Logger): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    // Our own id: a client-sent X-Request-Id is not trusted into the logs.
    const state: RequestLogState = { id: randomUUID(), startedAt: Date.now(), logger, child: null, written: false };
    (res.locals as LoggedLocals)[STATE] = state;
    res.setHeader(REQUEST_ID_HEADER, state.id);
    // A response emits 'close' once in every case: right after 'finish' when the answer went out,
    // or alone when the client went away first. One shared listener (the response is `this`), so
    // nothing is allocated for it per request.
    res.on('close', writeRequestLine);
    next();
  };
}

/** The logger for lines about this request (with its `req` fields); `fallback` outside requestLog. */
export function requestLogOf(req: IncomingMessage, fallback: Logger): Logger;
export function requestLogOf(req: IncomingMessage, fallback?: Logger): Logger | undefined;
export function requestLogOf(req: IncomingMessage, fallback?: Logger): Logger | undefined {
  const state = stateOf((req as Request).res);
  if (!state) return fallback;
  state.child ??= state.logger.child({ req: requestFields(req as Request, state) });
  return state.child;
}

function requestFields(req: Request, state: RequestLogState) {
  return { id: state.id, method: req.method, url: pathForLog(req.originalUrl ?? req.url), remoteAddress: req.ip };
}

function levelOf(req: Request, res: ServerResponse): Level {
  if (res.statusCode >= 500) return 'error';
  if (res.statusCode >= 400) return 'warn';
  const url = req.originalUrl ?? req.url;
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)) === HEALTH_PATH ? 'debug' : 'info';
}

function writeRequestLine(this: ServerResponse): void {
  const state = stateOf(this);
  if (!state || state.written) return;
  const req = this.req as Request;
  state.written = true;
  const res = this as Response;
  const level = levelOf(req, res);
  if (!state.logger.isLevelEnabled(level)) return;
  const summary = res.locals?.scrapeSummary as RequestSummary | undefined;
  const line = {
    req: requestFields(req, state),
    res: { statusCode: res.statusCode },
    responseTime: Date.now() - state.startedAt,
    ...(summary ? { scrape: summary } : {}),
  };
  state.logger[level](line, `${req.method} ${line.req.url} ${res.statusCode}`);
}
