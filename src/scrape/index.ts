/** The public scrape API: everything the web layer (or any other caller) needs, nothing internal. */
export {
  DEFAULT_ERROR_TTL_MS,
  DEFAULT_MAX_CACHE_ENTRIES,
  DEFAULT_MAX_HONOURED_INTERVAL_MS,
  DEFAULT_SCRAPE_TTL_MS,
  ScrapeCache,
  type ScrapeCacheOptions,
  type ScrapeOutcome,
} from './cache.js';
export { ScrapeError, type ScrapeErrorCode } from './errors.js';
export {
  addressRange,
  BlockedAddressError,
  DnsResolver,
  isAddressAllowed,
  type OutboundPolicy,
  SECURE_POLICY,
} from './guard.js';
export { GuardedAgent, MAX_HASHES_PER_HTTP_SCRAPE } from './http.js';
export {
  AddressLimiter,
  DEFAULT_MAX_IN_FLIGHT_OVERALL,
  DEFAULT_MAX_IN_FLIGHT_PER_HOST,
  type LimiterOptions,
  RequestLimiter,
  sharedLimiter,
} from './limiter.js';
export { redactUrl, redactUrlsIn } from './log.js';
export {
  DEFAULT_MAX_TRACKERS,
  DEFAULT_SCRAPE_DEADLINE_MS,
  type ScrapeAllOptions,
  type ScrapeLogger,
  type SwarmHash,
  scrapeAll,
  scrapeMany,
  swarmHashesOf,
  UNKNOWN_TORRENT_WARNING,
} from './scraper.js';
export type { HashKind, ScrapeCounts, ScrapeStatus, TrackerProtocol, TrackerStat } from './types.js';
export { type ScrapeTarget, scrapeUrlFor } from './url.js';
