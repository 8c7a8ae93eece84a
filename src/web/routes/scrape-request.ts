import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { type GuardedAgent, type ScrapeCache, type ScrapeLogger, scrapeMany } from '../../scrape/index.js';
import { secretsOfUrls } from '../../scrape/log.js';
import type { TrackerStat } from '../../scrape/types.js';
import type { Torrent } from '../../torrent/types.js';
import { requestLogOf } from '../request-log.js';
import { redactMessage } from '../view-model.js';

/** What a route needs to ask trackers on behalf of a request. */
export interface TrackerAccess {
  scrapeTimeoutMs: number;
  allowPrivateTrackers: boolean;
  cache: ScrapeCache;
  /** Shared keep-alive HTTP agent for trackers. */
  dispatcher: GuardedAgent;
  logger: Logger;
}

/**
 * Scrape `torrents` for one HTTP request: one list of rows per torrent, or undefined when the
 * client went away first. A person who closes the tab should not keep the trackers busy until the
 * deadline; the signal itself is built only if a tracker has to be asked (ScrapeAllOptions.signal).
 */
export async function scrapeForRequest(
  req: Request,
  res: Response,
  torrents: readonly Torrent[],
  access: TrackerAccess,
): Promise<TrackerStat[][] | undefined> {
  const cancel = new AbortController();
  let gone = false;
  const onClose = () => {
    if (res.writableEnded) return;
    gone = true;
    cancel.abort();
  };
  res.once('close', onClose);
  try {
    const stats = await scrapeMany(torrents, {
      signal: () => cancel.signal,
      deadlineMs: access.scrapeTimeoutMs,
      policy: { allowPrivate: access.allowPrivateTrackers },
      cache: access.cache,
      dispatcher: access.dispatcher,
      // Per-tracker lines only when someone reads them: building them costs on every request.
      ...(access.logger.isLevelEnabled('debug') ? { logger: trackerLogger(requestLogOf(req, access.logger), torrents) } : {}),
    });
    return gone ? undefined : stats;
  } finally {
    res.off('close', onClose);
  }
}

/**
 * Trackers quote request paths back in their errors. The core already takes out each endpoint's
 * own secrets and anything URL-like; this also checks every line against all the passkeys of every
 * torrent of the call (a tracker could quote another tier's URL), so none reaches the log.
 */
function trackerLogger(log: Logger, torrents: readonly Torrent[]): ScrapeLogger {
  const secrets = secretsOfUrls(torrents.flatMap((torrent) => torrent.trackers.flat()));
  return { debug: (details, message) => log.debug(redactDetails(details, secrets), message) };
}

function redactDetails(details: Record<string, unknown>, secrets: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(details).map(([key, value]) => [key, typeof value === 'string' ? redactMessage(value, secrets) : value]),
  );
}
