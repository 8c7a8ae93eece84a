import { fileURLToPath } from 'node:url';
import express, { type Express, type Request } from 'express';
import { type Logger, pino } from 'pino';
import type { Config } from '../config.js';
import { GuardedAgent, ScrapeCache } from '../scrape/index.js';
import { DEFAULT_MAX_MAGNET_LENGTH } from '../torrent/index.js';
import { errorHandler, offerRetryForm, type ProblemContext, WebError } from './errors.js';
import { scrapeRateLimiter } from './rate-limit.js';
import { Templates } from './render.js';
import { requestLog } from './request-log.js';
import { API_SCRAPE_ROUTE, apiRoutes } from './routes/api.js';
import { HEALTH_ROUTE, healthRoutes } from './routes/health.js';
import { HOME_ROUTE, homeRoutes } from './routes/home.js';
import { methodRoutes, staticFilesOf } from './routes/methods.js';
import { SCRAPE_ROUTE, scrapeRetryForm, scrapeRoutes } from './routes/scrape.js';
import { securityHeaders } from './security-headers.js';
import { scrapeUpload, uploadLimits } from './upload.js';

export { pathForLog } from './request-log.js';
export { CONTENT_SECURITY_POLICY } from './security-headers.js';

/** Templates and static files live at the project root, two levels above src/web and dist/web. */
export const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));
export const PUBLIC_DIR = fileURLToPath(new URL('../../public', import.meta.url));
/** URL prefix of the files in public/. */
export const STATIC_PREFIX = '/static';
/** Browsers may reuse static files this long without asking. */
export const STATIC_MAX_AGE_MS = 3_600_000;

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

const CLIENT_ADDRESS = Symbol('trackerscope.clientAddress');

/**
 * express works `req.ip` out anew on every read (X-Forwarded-For against `trust proxy`), and the
 * rate limiter and the request log read it four times per request. It cannot change during a
 * request, so the first answer is kept in `res.locals`: V8 adds a property to that plain object
 * for a fraction of what a new property on the request object costs.
 */
function rememberClientAddress(app: Express): void {
  const compute = Object.getOwnPropertyDescriptor(express.request, 'ip')?.get;
  if (!compute) throw new Error("express's request has no `ip` getter to build on");
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: Request) {
      const locals = this.res?.locals as { [CLIENT_ADDRESS]?: string } | undefined;
      const known = locals?.[CLIENT_ADDRESS];
      if (known !== undefined) return known;
      const address = compute.call(this) as string | undefined;
      if (address !== undefined && locals) locals[CLIENT_ADDRESS] = address;
      return address;
    },
  });
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { app: 'trackerscope' } });
}

export function createApp(config: Config, deps: AppDeps = {}): Express {
  const logger = deps.logger ?? createLogger(config);
  const cache = deps.cache ?? new ScrapeCache({ ttlMs: config.cacheTtlMs });
  const dispatcher = deps.dispatcher ?? new GuardedAgent({ policy: { allowPrivate: config.allowPrivateTrackers } });
  const maxMagnetChars = DEFAULT_MAX_MAGNET_LENGTH;
  const limits = uploadLimits(config.maxUploadBytes, maxMagnetChars);
  const problemContext: ProblemContext = { maxUploadBytes: config.maxUploadBytes, maxMagnetBytes: limits.fieldSize };

  const rateLimiter = scrapeRateLimiter({ max: config.rateLimitMax, windowMs: config.rateLimitWindowMs }, logger, problemContext);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  rememberClientAddress(app);
  // Compiled once here; pages are rendered by render.ts, never through res.render.
  app.locals.templates = new Templates(VIEWS_DIR);
  // Every dynamic answer is no-store; hashing each body for an ETag would buy nothing.
  app.set('etag', false);

  // One line per request, and the request id header, for every answer (static files and errors too).
  app.use(requestLog(logger));
  app.use(securityHeaders());

  app.use(
    STATIC_PREFIX,
    express.static(PUBLIC_DIR, { index: false, dotfiles: 'ignore', maxAge: STATIC_MAX_AGE_MS, fallthrough: true }),
  );

  // Routes go straight on the app: a sub-router per module would be one more dispatch per request.
  healthRoutes(app);
  homeRoutes(app, { maxUploadBytes: config.maxUploadBytes, allowPrivateTrackers: config.allowPrivateTrackers });
  scrapeRoutes(app, {
    scrapeTimeoutMs: config.scrapeTimeoutMs,
    allowPrivateTrackers: config.allowPrivateTrackers,
    refreshIntervalMs: config.refreshIntervalMs,
    maxMagnetChars,
    cache,
    dispatcher,
    rateLimiter,
    upload: scrapeUpload(limits),
    logger,
  });
  apiRoutes(app, { scrapeTimeoutMs: config.scrapeTimeoutMs, allowPrivateTrackers: config.allowPrivateTrackers, maxMagnetChars, cache, dispatcher, rateLimiter, problemContext, logger });
  // A failed scrape's error page offers the upload form again.
  offerRetryForm(app, scrapeRetryForm({ maxUploadBytes: config.maxUploadBytes, maxMagnetChars }));

  // After every route: OPTIONS, and 405 for methods an existing address does not take.
  methodRoutes(app, {
    routes: [HOME_ROUTE, HEALTH_ROUTE, SCRAPE_ROUTE, API_SCRAPE_ROUTE],
    staticPrefix: STATIC_PREFIX,
    staticFiles: staticFilesOf(PUBLIC_DIR),
  });

  app.use((_req, _res, next) => {
    next(new WebError('NOT_FOUND', 'There is no page at this address. Start again from the home page.'));
  });
  app.use(errorHandler(logger, problemContext));
  return app;
}
