import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { type Logger, pino } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config.js';
import { GuardedAgent, ScrapeCache } from '../scrape/index.js';
import { DEFAULT_MAX_MAGNET_LENGTH } from '../torrent/index.js';
import { errorHandler, type ProblemContext, WebError } from './errors.js';
import { scrapeRateLimiter } from './rate-limit.js';
import { Templates } from './render.js';
import { healthRoutes } from './routes/health.js';
import { homeRoutes } from './routes/home.js';
import { scrapeRoutes } from './routes/scrape.js';
import { scrapeUpload, uploadLimits } from './upload.js';

/** Templates and static files live at the project root, two levels above src/web and dist/web. */
export const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));
export const PUBLIC_DIR = fileURLToPath(new URL('../../public', import.meta.url));
/** URL prefix of the files in public/. */
export const STATIC_PREFIX = '/static';
/** Browsers may reuse static files this long without asking. */
export const STATIC_MAX_AGE_MS = 3_600_000;

/**
 * The Content-Security-Policy of issue #4, directive for directive: no inline script or style, no
 * third-party anything, forms post only to us, no framing.
 */
export const CONTENT_SECURITY_POLICY: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
});

/** What tests and the server may supply instead of the defaults built from the config. */
export interface AppDeps {
  logger?: Logger;
  cache?: ScrapeCache;
  /**
   * Keep-alive agent for HTTP trackers, owned (and closed) by the caller. Without one the app makes
   * its own for its lifetime: scrapeAll would otherwise build and tear down an agent per request.
   */
  dispatcher?: GuardedAgent;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { app: 'trackerscope' } });
}

/** The request path without its query: queries carry magnet links and tracker passkeys. */
export function pathForLog(url: string | undefined): string {
  if (!url) return '';
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : `${url.slice(0, cut)}?[redacted]`;
}

function withScrapeSummary(res: ServerResponse, value: Record<string, unknown>): Record<string, unknown> {
  const summary = (res as express.Response).locals?.scrapeSummary;
  return summary ? { ...value, scrape: summary } : value;
}

export function createApp(config: Config, deps: AppDeps = {}): Express {
  const logger = deps.logger ?? createLogger(config);
  const cache = deps.cache ?? new ScrapeCache({ ttlMs: config.cacheTtlMs });
  const dispatcher = deps.dispatcher ?? new GuardedAgent({ policy: { allowPrivate: config.allowPrivateTrackers } });
  const maxMagnetChars = DEFAULT_MAX_MAGNET_LENGTH;
  const limits = uploadLimits(config.maxUploadBytes, maxMagnetChars);
  const problemContext: ProblemContext = { maxUploadBytes: config.maxUploadBytes, maxMagnetBytes: limits.fieldSize };

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  // Compiled once here; pages are rendered by render.ts, never through res.render.
  app.locals.templates = new Templates(VIEWS_DIR);
  // Every dynamic answer is no-store; hashing each body for an ETag would buy nothing.
  app.set('etag', false);

  app.use(
    pinoHttp<IncomingMessage, ServerResponse>({
      logger,
      genReqId: (_req, res) => {
        // Our own id: a client-sent X-Request-Id is not trusted into the logs.
        const id = randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      wrapSerializers: false,
      serializers: {
        req: (req: express.Request) => ({
          id: req.id,
          method: req.method,
          url: pathForLog(req.originalUrl ?? req.url),
          remoteAddress: req.ip,
        }),
        res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
        err: pino.stdSerializers.err,
      },
      customLogLevel: (req, res, err) => {
        if (err || res.statusCode >= 500) return 'error';
        if (res.statusCode >= 400) return 'warn';
        // The container's health probe would otherwise fill the log.
        return req.url === '/healthz' ? 'debug' : 'info';
      },
      // The scrape summary joins the one line written at the end (customProps would build two
      // extra child loggers per request).
      customSuccessObject: (_req, res, value: Record<string, unknown>) => withScrapeSummary(res, value),
      customErrorObject: (_req, res, _err, value: Record<string, unknown>) => withScrapeSummary(res, value),
      customSuccessMessage: (req, res) => `${req.method} ${pathForLog(req.url)} ${res.statusCode}`,
      customErrorMessage: (req, res) => `${req.method} ${pathForLog(req.url)} ${res.statusCode}`,
    }),
  );

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: Object.fromEntries(Object.entries(CONTENT_SECURITY_POLICY).map(([k, v]) => [k, [...v]])),
      },
      // The page links to trackers' and web seeds' sites: tell them nothing about where from.
      referrerPolicy: { policy: 'no-referrer' },
      // Same as frame-ancestors 'none', for browsers that predate CSP level 2.
      xFrameOptions: { action: 'deny' },
    }),
  );

  app.use(
    STATIC_PREFIX,
    express.static(PUBLIC_DIR, { index: false, dotfiles: 'ignore', maxAge: STATIC_MAX_AGE_MS, fallthrough: true }),
  );

  app.use(healthRoutes());
  app.use(homeRoutes({ maxUploadBytes: config.maxUploadBytes, allowPrivateTrackers: config.allowPrivateTrackers }));
  app.use(
    scrapeRoutes({
      scrapeTimeoutMs: config.scrapeTimeoutMs,
      allowPrivateTrackers: config.allowPrivateTrackers,
      refreshIntervalMs: config.refreshIntervalMs,
      maxMagnetChars,
      cache,
      dispatcher,
      rateLimiter: scrapeRateLimiter({ max: config.rateLimitMax, windowMs: config.rateLimitWindowMs }, logger, problemContext),
      upload: scrapeUpload(limits),
      logger,
    }),
  );

  app.use((_req, _res, next) => {
    next(new WebError('NOT_FOUND', 'There is no page at this address. Start again from the home page.'));
  });
  app.use(errorHandler(logger, problemContext));
  return app;
}
