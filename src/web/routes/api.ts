import express, { type IRouter, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { TrackerscopeError } from '../../errors.js';
import { parseTorrentInput } from '../../torrent/index.js';
import type { Torrent } from '../../torrent/types.js';
import { API_PATH_PREFIX, type ProblemContext, problemFor, WebError } from '../errors.js';
import { sendJson } from '../render.js';
import { type JsonResult, jsonResult } from '../view-model.js';
import type { RouteMethods } from './methods.js';
import { scrapeForRequest, type TrackerAccess } from './scrape-request.js';

/** POST a list of magnet links or info-hashes, get every torrent's scrape back as JSON. */
export const API_SCRAPE_PATH = `${API_PATH_PREFIX}scrape`;
export const API_SCRAPE_ROUTE: RouteMethods = { path: API_SCRAPE_PATH, methods: ['POST'] };

/** Largest JSON body read: 50 magnet links with a few trackers each fit with room to spare. */
export const MAX_API_BODY_BYTES = 64 * 1024;
/**
 * Distinct inputs in one call. Trackers are asked once per endpoint for all of them, and the
 * distinct endpoints of the whole call are capped as one torrent's are, so this bounds the size of
 * the answer and of each tracker request (HTTP: at most two of 50 hashes for hybrid torrents).
 */
export const MAX_TORRENTS_PER_API_SCRAPE = 50;
/** The one media type the body may have. */
export const API_BODY_TYPE = 'application/json';

export interface ApiRouteOptions extends TrackerAccess {
  /** Longest magnet/info-hash text read, per input. */
  maxMagnetChars: number;
  /** Budget per client, shared with the page's scrape route: one API call is one unit. */
  rateLimiter: RequestHandler;
  /** To word per-input errors exactly as the single-torrent answer does. */
  problemContext: ProblemContext;
  maxBodyBytes?: number;
  maxTorrents?: number;
}

/** One entry of the answer, in the order of the (folded) inputs. */
export type ApiScrapeEntry = ({ input: string } & JsonResult) | { input: string; error: { code: string; message: string } };

export interface ApiScrapeAnswer {
  results: ApiScrapeEntry[];
}

/**
 * POST /api/scrape with `{"torrents": ["<magnet link or info-hash>", …]}`. A bad input is an error
 * entry in the answer; only a body that is not that shape fails the request.
 */
export function apiRoutes(router: IRouter, options: ApiRouteOptions): IRouter {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_API_BODY_BYTES;
  const maxTorrents = options.maxTorrents ?? MAX_TORRENTS_PER_API_SCRAPE;
  // No gzip/deflate bodies: a 64 KiB limit on the inflated size would still cost the inflating.
  const parseJson = express.json({ limit: maxBodyBytes, type: API_BODY_TYPE, inflate: false, strict: true });

  router.post(API_SCRAPE_PATH, options.rateLimiter, (req: Request, res: Response, next: NextFunction) => {
    if (!req.is(API_BODY_TYPE)) {
      next(new WebError('API_NOT_JSON', `Send the request body as ${API_BODY_TYPE}: {"torrents": ["<magnet link or info-hash>", …]}.`));
      return;
    }
    parseJson(req, res, (err?: unknown) => next(err === undefined ? undefined : bodyError(err, maxBodyBytes)));
  }, async (req: Request, res: Response) => {
    const inputs = inputsOf(req.body as unknown, maxTorrents);
    const parsed = inputs.map((input) => parseInput(input, options));
    const torrents = parsed.filter((p): p is { input: string; torrent: Torrent } => 'torrent' in p).map((p) => p.torrent);

    const stats = await scrapeForRequest(req, res, torrents, options);
    if (stats === undefined) return;

    let next = 0;
    const results = parsed.map((entry): ApiScrapeEntry => {
      if (!('torrent' in entry)) return entry;
      return { input: entry.input, ...jsonResult(entry.torrent, stats[next++] ?? []) };
    });
    const rows = stats.flat();
    res.locals.scrapeSummary = { input: 'api', torrents: torrents.length, trackers: rows.length, answered: rows.filter((s) => s.status === 'ok').length };
    // Private torrents' answers carry passkeys.
    res.setHeader('Cache-Control', 'no-store');
    sendJson(res, { results } satisfies ApiScrapeAnswer);
  });

  return router;
}

/** body-parser's failures, by its `type`, as this API's codes. */
function bodyError(err: unknown, maxBodyBytes: number): unknown {
  const type = typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  switch (type) {
    case 'entity.too.large':
      return new WebError('API_BODY_TOO_LARGE', `The request body is larger than the ${maxBodyBytes}-byte limit.`);
    case 'entity.parse.failed':
      return new WebError('API_MALFORMED_JSON', 'The request body is not valid JSON (an object {"torrents": [...]} is expected).');
    case 'encoding.unsupported':
      return new WebError('API_COMPRESSED', 'Send the request body uncompressed (no Content-Encoding).');
    case 'charset.unsupported':
      return new WebError('API_NOT_JSON', 'Send the JSON body as UTF-8.');
    default:
      return err;
  }
}

/** The distinct input strings, in first-seen order; throws the 400/413 of a body of the wrong shape. */
function inputsOf(body: unknown, maxTorrents: number): string[] {
  const list = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { torrents?: unknown }).torrents : undefined;
  if (!Array.isArray(list) || !list.every((item): item is string => typeof item === 'string')) {
    throw new WebError('API_BAD_BODY', 'The body must be {"torrents": [...]} with each torrent a magnet link or info-hash as a string.');
  }
  const inputs = [...new Set(list)];
  if (inputs.length === 0) throw new WebError('API_NO_TORRENTS', 'The "torrents" list is empty; give at least one magnet link or info-hash.');
  if (inputs.length > maxTorrents) {
    throw new WebError('API_TOO_MANY_TORRENTS', `${inputs.length} torrents in one request; at most ${maxTorrents} are scraped at once.`);
  }
  return inputs;
}

/** A torrent, or the error entry the same failure gets as a whole request (same code and message). */
function parseInput(input: string, options: ApiRouteOptions): { input: string; torrent: Torrent } | { input: string; error: { code: string; message: string } } {
  try {
    return { input, torrent: parseTorrentInput(input, { maxLength: options.maxMagnetChars }) };
  } catch (err) {
    if (!(err instanceof TrackerscopeError)) throw err;
    const found = problemFor(err, options.problemContext);
    return { input, error: { code: found.code, message: found.message } };
  }
}
