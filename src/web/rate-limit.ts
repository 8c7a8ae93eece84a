import type { Request, RequestHandler, Response } from 'express';
import { type RateLimitInfo, rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { problemFor, sendProblem, WebError } from './errors.js';
import type { ProblemContext } from './errors.js';

/**
 * The budget of scrapes per client. Every route that makes this server talk to trackers shares
 * it, so a client cannot switch routes to get a second budget.
 *
 * The client is `req.ip`, which is only as good as express's `trust proxy` (TRUST_PROXY): without
 * it X-Forwarded-For is ignored, so a spoofed header gains nothing; with it, each real client
 * behind the proxy gets its own budget. IPv6 clients are keyed by their /56, since one subscriber
 * usually holds a whole /56 (or /48) and could otherwise rotate addresses freely.
 */

/** Prefix length grouping IPv6 addresses into one client (a typical residential delegation). */
export const IPV6_CLIENT_PREFIX = 56;

export interface ScrapeRateLimit {
  max: number;
  windowMs: number;
}

export function scrapeRateLimiter(limit: ScrapeRateLimit, logger: Logger, context: ProblemContext): RequestHandler {
  return rateLimit({
    windowMs: limit.windowMs,
    limit: limit.max,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ipv6Subnet: IPV6_CLIENT_PREFIX,
    // The library's misconfiguration warnings (e.g. X-Forwarded-For arriving while TRUST_PROXY is
    // off — exactly what a spoofing client sends) go to our structured log, not to stderr.
    logger: {
      error: (error: unknown, message?: string) => logger.warn({ err: error }, message ?? 'rate limiter problem'),
      warn: (error: unknown, message?: string) => logger.warn({ err: error }, message ?? 'rate limiter warning'),
    },
    handler: (req: Request, res: Response) => {
      const resetTime = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime;
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil(((resetTime ? resetTime.getTime() : Date.now() + limit.windowMs) - Date.now()) / 1000),
      );
      const at = new Date(Date.now() + retryAfterSeconds * 1000).toISOString().slice(11, 19);
      const error = new WebError(
        'RATE_LIMITED',
        `You have asked for ${limit.max} scrapes in ${describeWindow(limit.windowMs)}, the most this server allows. ` +
          `Please try again in ${retryAfterSeconds} ${retryAfterSeconds === 1 ? 'second' : 'seconds'} (at ${at} UTC).`,
        retryAfterSeconds,
      );
      sendProblem(req, res, problemFor(error, context));
    },
  });
}

function describeWindow(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds % 3600 === 0) return seconds === 3600 ? 'an hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return seconds === 60 ? 'a minute' : `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}
