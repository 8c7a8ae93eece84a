/** Outcome of asking one tracker about one info-hash. */
export type ScrapeStatus = 'ok' | 'error' | 'timeout' | 'unsupported' | 'blocked' | 'skipped';

export type TrackerProtocol = 'http' | 'https' | 'udp' | 'ws' | 'wss' | 'other';

/** Which swarm an info-hash belongs to: v1 (SHA-1) or v2 (SHA-256 truncated to 20 bytes, BEP 52). */
export type HashKind = 'v1' | 'v2';

export interface TrackerStat {
  /** Announce URL exactly as in the torrent. */
  announce: string;
  /** Scrape URL derived by the BEP 48 rule; null when the tracker does not support scrape. */
  scrape: string | null;
  /** 0-based BEP 12 tier. */
  tier: number;
  protocol: TrackerProtocol;
  /** The 20-byte hash sent to the tracker, as 40 lowercase hex. */
  infoHash: string;
  hashKind: HashKind;
  status: ScrapeStatus;
  /** Numbers the tracker gave; null when unknown (never 0 for unknown). */
  seeders: number | null;
  leechers: number | null;
  completed: number | null;
  /** BEP 21 `downloaders`, when the tracker gives it. */
  downloaders: number | null;
  error: string | null;
  warning: string | null;
  /** Wall time spent on this tracker (0 when served from cache or never contacted). */
  ms: number;
  /** Address family that answered, when a network exchange happened. */
  family: 4 | 6 | null;
  cached: boolean;
  /**
   * When the information this row shows was obtained (epoch milliseconds): for `ok`, when the
   * tracker's answer arrived; for `error`, when the failure was established (the tracker's refusal or
   * unreadable reply, or the network's own answer: connection refused or reset, host name does not
   * exist, certificate rejected). A row served from the cache, or shared with a concurrent request,
   * keeps the original time. Null when nothing was learned about the tracker: `timeout` (also when
   * cached), `blocked`, `unsupported`, `skipped`.
   */
  answeredAt: number | null;
}

/** What one protocol client returns for one hash. */
export interface ScrapeCounts {
  seeders: number | null;
  leechers: number | null;
  completed: number | null;
  downloaders: number | null;
  /** The tracker answered but does not know this info-hash. */
  unknown: boolean;
}
