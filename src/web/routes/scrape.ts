import type { IRouter, Request, RequestHandler, Response } from 'express';
import { parseTorrent, parseTorrentInput } from '../../torrent/index.js';
import type { Torrent } from '../../torrent/types.js';
import { type HttpProblem, type RetryForm, WebError, wantsJson } from '../errors.js';
import { renderPage, sendJson } from '../render.js';
import {
  assertLooksLikeTorrent,
  type ScrapeInput,
  scrapeInputOf,
  typedMagnetOf,
  typedTextOf,
  type UploadFormView,
  uploadFormView,
} from '../upload.js';
import {
  displayText,
  jsonResult,
  MAX_TITLE_CHARS,
  PERMALINK_PARAM,
  PERMALINK_PATH,
  resultView,
} from '../view-model.js';
import { type RouteMethods, routeKey } from './methods.js';
import { scrapeForRequest, type TrackerAccess } from './scrape-request.js';

/** The scrape address and its methods: the form posts here, permalinks GET it, HEAD checks one. */
export const SCRAPE_ROUTE: RouteMethods = { path: PERMALINK_PATH, methods: ['GET', 'HEAD', 'POST'] };

export interface ScrapeRouteOptions extends TrackerAccess {
  /** Reload period of permalink pages; 0: they do not reload. */
  refreshIntervalMs: number;
  /** Longest magnet/info-hash text read. */
  maxMagnetChars: number;
  /** Budget per client, shared by every route that makes us contact trackers. */
  rateLimiter: RequestHandler;
  /** Multipart parsing of the POST form. */
  upload: RequestHandler;
}

/** What the request log line says about a scrape (no hashes, no URLs: which torrent is private). */
interface ScrapeSummary {
  input: Torrent['source'];
  trackers: number;
  answered: number;
}

/**
 * POST /scrape — the form: a .torrent file or a magnet link / info-hash.
 * GET /scrape?magnet=… — the same for text inputs, so a result has an address that can be
 * bookmarked and that reloads itself to stay fresh.
 * Both answer HTML, or JSON with `Accept: application/json`.
 * HEAD /scrape?magnet=… — the GET's status and headers without asking any tracker: express would
 * run the GET route for it (a whole scrape, its body then dropped), so it has its own.
 */
export function scrapeRoutes(router: IRouter, options: ScrapeRouteOptions): IRouter {
  router.post(PERMALINK_PATH, options.rateLimiter, options.upload, async (req, res) => {
    const torrent = torrentOf(scrapeInputOf(req), options.maxMagnetChars);
    await answer(req, res, torrent, { viaPermalink: false }, options);
  });

  // Registered before the GET route, which express would otherwise pick for HEAD. No rate limit:
  // nothing here reaches a tracker, and reading the magnet link is bounded by maxMagnetChars.
  router.head(PERMALINK_PATH, (req, res) => {
    permalinkTorrentOf(req, options.maxMagnetChars);
    res.setHeader('Cache-Control', 'no-store');
    // The same types render.ts sends a page or a JSON answer with (test/web/app.test.ts compares).
    res.type(wantsJson(req) ? 'json' : 'html');
    res.end();
  });

  router.get(PERMALINK_PATH, options.rateLimiter, async (req, res) => {
    const torrent = permalinkTorrentOf(req, options.maxMagnetChars);
    await answer(req, res, torrent, { viaPermalink: true }, options);
  });

  return router;
}

/** The `?magnet=` text of a permalink request, as given (not trimmed); null when absent or repeated. */
function permalinkTextOf(req: Request): string | null {
  const value = req.query[PERMALINK_PARAM];
  return typeof value === 'string' ? value : null;
}

/** The torrent a permalink names; throws the 400s (QUERY_INVALID, MAGNET_*) GET and HEAD share. */
function permalinkTorrentOf(req: Request, maxMagnetChars: number): Torrent {
  const value = permalinkTextOf(req);
  if (value === null || value.trim() === '') {
    throw new WebError(
      'QUERY_INVALID',
      `Give one magnet link or info-hash as ?${PERMALINK_PARAM}=…, or upload a .torrent file on the home page.`,
    );
  }
  return parseTorrentInput(value, { maxLength: maxMagnetChars });
}

/** Failures that are about the magnet text itself: the form put back marks that field. */
const MAGNET_TEXT_CODES: ReadonlySet<string> = new Set(['QUERY_INVALID', 'UPLOAD_MANY_MAGNETS', 'UPLOAD_FIELD_TOO_LONG']);

function isAboutMagnetText(problem: HttpProblem): boolean {
  return problem.code.startsWith('MAGNET_') || MAGNET_TEXT_CODES.has(problem.code);
}

/**
 * The error page of a failed scrape (not a torrent, a bad magnet link, too large, 429, …) shows
 * the upload form again, so the person can try again without going back. The magnet field gets
 * what they typed: the one form field (POST) or query parameter (GET), capped at maxMagnetChars.
 */
export function scrapeRetryForm(options: { maxUploadBytes: number; maxMagnetChars: number }): RetryForm {
  return (req: Request, problem: HttpProblem): UploadFormView | null => {
    if ((req.method !== 'POST' && req.method !== 'GET') || routeKey(req.path) !== PERMALINK_PATH) return null;
    const magnet =
      req.method === 'GET'
        ? typedTextOf(req.query[PERMALINK_PARAM], options.maxMagnetChars)
        : typedMagnetOf(req, options.maxMagnetChars);
    return uploadFormView(options.maxUploadBytes, { magnet, magnetInvalid: isAboutMagnetText(problem) });
  };
}

function torrentOf(input: ScrapeInput, maxMagnetChars: number): Torrent {
  if (input.kind === 'text') return parseTorrentInput(input.text, { maxLength: maxMagnetChars });
  assertLooksLikeTorrent(input);
  return parseTorrent(input.bytes);
}

async function answer(
  req: Request,
  res: Response,
  torrent: Torrent,
  how: { viaPermalink: boolean },
  options: ScrapeRouteOptions,
): Promise<void> {
  const all = await scrapeForRequest(req, res, [torrent], options);
  if (all === undefined) return;
  const stats = all[0] ?? [];

  const summary: ScrapeSummary = {
    input: torrent.source,
    trackers: stats.length,
    answered: stats.filter((s) => s.status === 'ok').length,
  };
  res.locals.scrapeSummary = summary;
  // Private torrents' pages carry passkeys; nothing here is worth caching anyway.
  res.setHeader('Cache-Control', 'no-store');
  if (wantsJson(req)) {
    sendJson(res, jsonResult(torrent, stats));
    return;
  }
  const title = torrent.name
    ? displayText(torrent.name, MAX_TITLE_CHARS).text
    : `Torrent ${(torrent.infoHashV1 ?? torrent.infoHashV2 ?? '').slice(0, 12)}`;
  const view = resultView(torrent, stats, {
    scrapedAt: new Date(),
    autoRefreshMs: how.viaPermalink ? options.refreshIntervalMs : 0,
  });
  renderPage(res, 'result', { title, refreshSeconds: view.autoRefreshSeconds }, view);
}
