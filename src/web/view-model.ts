// The text redaction helpers are not re-exported by the scrape index (asked for in the report).
import { redactText, redactUrl, secretsOfUrl, secretsOfUrls } from '../scrape/log.js';
import type { ScrapeStatus, TrackerProtocol, TrackerStat } from '../scrape/types.js';
import type { Torrent } from '../torrent/types.js';

/**
 * Everything the templates show, already formatted. Templates only loop and print with `<%=`;
 * every string that came from a torrent or a tracker passes `displayText` here first (length cap,
 * control and bidi-override characters made visible) and links exist only where `safeHref` says so.
 */

/** Longest torrent name shown before "…" (a hostile file may carry a 100 KB name). */
export const MAX_NAME_CHARS = 300;
/** Longest name in the browser tab's title. */
export const MAX_TITLE_CHARS = 80;
/** Longest file path shown per row. */
export const MAX_PATH_CHARS = 500;
/** Longest comment shown. */
export const MAX_COMMENT_CHARS = 4000;
/** Longest URL (tracker, web seed) shown. */
export const MAX_URL_CHARS = 300;
/** Longest tracker error/warning text shown. */
export const MAX_MESSAGE_CHARS = 400;
/** Longest `created by` shown. */
export const MAX_CREATED_BY_CHARS = 200;
/** File rows rendered in the page; the JSON answer always has all of them. */
export const MAX_LISTED_FILES = 1000;
/** Up to this many files the list starts open; longer lists start collapsed. */
export const FILES_OPEN_UP_TO = 12;
/** Web seeds rendered in the page. */
export const MAX_LISTED_WEB_SEEDS = 50;
/** Warnings rendered in the page. */
export const MAX_LISTED_WARNINGS = 20;
/** `dn` in the magnet link we build: long enough to recognise, short enough to paste. */
export const MAX_MAGNET_NAME_CHARS = 200;

/** BEP 9 / BEP 52: magnet exact-topic prefixes for v1 (SHA-1) and v2 (multihash SHA-256, 0x12 0x20). */
export const MAGNET_BTIH_PREFIX = 'urn:btih:';
export const MAGNET_BTMH_PREFIX = 'urn:btmh:1220';

// ---------------------------------------------------------------------------------------------
// Text

export interface DisplayText {
  text: string;
  truncated: boolean;
  /** Length of the original in code points. */
  length: number;
}

/**
 * Explicit bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they can make
 * `exe.txt` read as `txt.exe` ("Trojan Source"). Marks (LRM/RLM/ALM) only nudge neutral
 * characters and are kept; the templates also isolate every torrent string with `<bdi>`.
 */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
/** Anything displayText may have to count specially or replace: controls, bidi controls, surrogates. */
const NOT_PLAIN = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]/;
/** C0/C1 controls, except tab and line feed where a multi-line text is allowed. */
const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
const CONTROLS_SINGLE_LINE = /[\u0000-\u001F\u007F-\u009F]/g;

function codePointLabel(ch: string): string {
  return `⟨U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`;
}

/**
 * A torrent-supplied string made safe to show: bidi controls shown as `⟨U+202E⟩`, other control
 * characters as U+FFFD (or a space for a line break in a single-line text), cut to `maxChars`
 * code points with "…". HTML escaping is the template's job (`<%=`).
 */
export function displayText(value: string, maxChars: number, options: { multiline?: boolean } = {}): DisplayText {
  // Nearly every text is short and plain: no control, bidi or surrogate character, so its length
  // in code points is its length in UTF-16 units and there is nothing to replace.
  if (value.length <= maxChars && !NOT_PLAIN.test(value)) return { text: value, truncated: false, length: value.length };
  // Measure and cut before the (allocating) replacements, so a 100 MB string costs one scan; the
  // same scan says whether there is anything to replace at all.
  let length = 0;
  let cutAt = -1;
  let clean = true;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) {
      clean = false;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    length++;
    if (length === maxChars) cutAt = i + 1;
  }
  const truncated = length > maxChars;
  const kept = truncated ? value.slice(0, cutAt) : value;
  if (clean) return { text: truncated ? `${kept}…` : kept, truncated, length };
  const controls = options.multiline ? CONTROLS : CONTROLS_SINGLE_LINE;
  const text = kept
    .replace(BIDI_CONTROLS, codePointLabel)
    .replace(controls, (ch) => (ch === '\n' || ch === '\r' || ch === '\t' ? ' ' : '\uFFFD'));
  return { text: truncated ? `${text}…` : text, truncated, length };
}

/** The URL itself when it parses as http(s); anything else (javascript:, data:, file:, garbage) gets no link. */
export function safeHref(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return url.href;
}

// ---------------------------------------------------------------------------------------------
// Numbers and dates

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;
const BYTES_PER_UNIT = 1024;

/** `1234567` → `1,234,567`. By hand: Intl.NumberFormat costs more than the rest of a file row. */
export function groupDigits(value: number): string {
  const digits = String(Math.trunc(Math.abs(value)));
  // The first group takes the 1–3 leading digits, every later one exactly 3.
  let end = ((digits.length - 1) % 3) + 1;
  let out = digits.slice(0, end);
  for (; end < digits.length; end += 3) out += `,${digits.slice(end, end + 3)}`;
  return value < 0 ? `-${out}` : out;
}

export interface FormattedSize {
  /** Human form in binary units, 3 significant digits: `1.46 GiB`. */
  text: string;
  /** Exact form: `1,572,864,000 bytes`. */
  exact: string;
}

export function formatBytes(bytes: number): FormattedSize {
  const exact = `${groupDigits(bytes)} ${bytes === 1 ? 'byte' : 'bytes'}`;
  let unit = 0;
  let value = bytes;
  while (value >= BYTES_PER_UNIT && unit < BINARY_UNITS.length - 1) {
    value /= BYTES_PER_UNIT;
    unit++;
  }
  if (unit === 0) return { text: `${bytes} B`, exact };
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return { text: `${value.toFixed(digits)} ${BINARY_UNITS[unit]}`, exact };
}

/** A count for a table cell: grouped digits, or an em dash when unknown (never 0 for unknown). */
export function formatCount(value: number | null): string {
  return value === null ? '—' : groupDigits(value);
}

export interface FormattedDate {
  /** `2024-05-01 12:34:56 UTC` */
  text: string;
  /** ISO 8601 for `<time datetime>` and JSON. */
  iso: string;
}

export function formatDate(date: Date): FormattedDate | null {
  if (Number.isNaN(date.getTime())) return null;
  const iso = date.toISOString();
  return { text: `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`, iso };
}

/**
 * Answers younger than this read "just now" and count as fresh: the page points out the age only of
 * older ones (a cached answer can be up to CACHE_TTL_MS old).
 */
export const JUST_NOW_MS = 10_000;

const MS_PER_SECOND = 1000;
const SECONDS_PER_MINUTE = 60;
const MINUTES_PER_HOUR = 60;
const HOURS_PER_DAY = 24;

/** How long ago, for a person: `just now`, `42 s ago`, `3 min ago`, `2 h 5 min ago`, `3 days ago`. */
export function formatAge(ageMs: number): string {
  // Also NaN and negative ages (an answer stamped a moment after the page's clock read).
  if (!(ageMs >= JUST_NOW_MS)) return 'just now';
  const seconds = Math.floor(ageMs / MS_PER_SECOND);
  if (seconds < SECONDS_PER_MINUTE) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / SECONDS_PER_MINUTE);
  if (minutes < MINUTES_PER_HOUR) return `${minutes} min ago`;
  const hours = Math.floor(minutes / MINUTES_PER_HOUR);
  if (hours < HOURS_PER_DAY) {
    const rest = minutes % MINUTES_PER_HOUR;
    return rest === 0 ? `${hours} h ago` : `${hours} h ${rest} min ago`;
  }
  const days = Math.floor(hours / HOURS_PER_DAY);
  return days === 1 ? '1 day ago' : `${days} days ago`;
}

/** When a tracker gave an answer, seen from the moment the page was made. */
export interface AnswerAge {
  /** `3 min ago`, `just now`. */
  ago: string;
  /** Exact time for a `title`: `2024-05-01 12:34:56 UTC`. */
  exact: string;
  /** ISO 8601 for `<time datetime>`. */
  iso: string;
}

/** The age of an answer stamped `answeredAt` (epoch ms) as of `now`; null when there is no valid stamp. */
export function answerAge(answeredAt: number | null, now: Date): AnswerAge | null {
  if (answeredAt === null) return null;
  const date = formatDate(new Date(answeredAt));
  if (date === null) return null;
  return { ago: formatAge(now.getTime() - answeredAt), exact: date.text, iso: date.iso };
}

/** An epoch-ms stamp as ISO 8601, or null when there is none or it is not a valid date. */
export function isoTime(epochMs: number | null): string | null {
  if (epochMs === null) return null;
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

// ---------------------------------------------------------------------------------------------
// Totals and magnet links

export interface Totals {
  seeders: number | null;
  leechers: number | null;
  completed: number | null;
}

/**
 * The best figure any tracker reported for each count. Trackers share peers, so summing would
 * count the same people several times; the largest single answer is the honest lower bound.
 */
export function totalsOf(stats: readonly TrackerStat[]): Totals {
  const best = (pick: (s: TrackerStat) => number | null): number | null => {
    let found: number | null = null;
    for (const stat of stats) {
      if (stat.status !== 'ok') continue;
      const value = pick(stat);
      if (value !== null && (found === null || value > found)) found = value;
    }
    return found;
  };
  return { seeders: best((s) => s.seeders), leechers: best((s) => s.leechers), completed: best((s) => s.completed) };
}

/** Every tracker URL of every tier, in order, once. */
function allTrackers(torrent: Torrent): string[] {
  return [...new Set(torrent.trackers.flat())];
}

/** A magnet link for the torrent (BEP 9; `btmh` for v2 per BEP 52), trackers in tier order. */
/** At most `max` code points of `value`, never splitting a surrogate pair. */
export function cutCodePoints(value: string, max: number): string {
  if (value.length <= max) return value;
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    if (count === max) return value.slice(0, i);
    const code = value.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return value;
}

export function magnetFor(torrent: Torrent): string | null {
  const parts: string[] = [];
  if (torrent.infoHashV1) parts.push(`xt=${MAGNET_BTIH_PREFIX}${torrent.infoHashV1}`);
  if (torrent.infoHashV2) parts.push(`xt=${MAGNET_BTMH_PREFIX}${torrent.infoHashV2}`);
  if (parts.length === 0) return null;
  if (torrent.name) {
    // The name as it is (encodeURIComponent makes any character safe), only cut to length: the
    // display replacements (bidi marks shown as ⟨U+202E⟩, …) would rename the torrent.
    const name = cutCodePoints(torrent.name, MAX_MAGNET_NAME_CHARS);
    parts.push(`dn=${encodeURIComponent(name)}`);
  }
  for (const tracker of allTrackers(torrent)) parts.push(`tr=${encodeURIComponent(tracker)}`);
  return `magnet:?${parts.join('&')}`;
}

// ---------------------------------------------------------------------------------------------
// JSON answer (the contract of issue #4, field for field)

export interface JsonResult {
  torrent: {
    name: string | null;
    infoHash: string | null;
    infoHashV2: string | null;
    totalSize: number | null;
    pieceLength: number | null;
    pieceCount: number | null;
    private: boolean;
    comment: string | null;
    createdBy: string | null;
    creationDate: string | null;
    files: { path: string; size: number }[];
    webSeeds: string[];
    trackers: string[][];
  };
  trackers: {
    announce: string;
    scrape: string | null;
    tier: number;
    protocol: TrackerProtocol;
    infoHash: string;
    status: ScrapeStatus;
    seeders: number | null;
    leechers: number | null;
    completed: number | null;
    error: string | null;
    warning: string | null;
    ms: number;
    /** IP version of the address that answered (4 or 6); null when no network exchange happened. */
    family: 4 | 6 | null;
    /** The answer came from the server's scrape cache, not from asking the tracker just now. */
    cached: boolean;
    /** ISO 8601 time the tracker gave this answer (for a cached one: when it was first asked); null: no answer. */
    answeredAt: string | null;
  }[];
  totals: Totals;
}

export function jsonResult(torrent: Torrent, stats: readonly TrackerStat[]): JsonResult {
  const creation = torrent.creationDate && !Number.isNaN(torrent.creationDate.getTime()) ? torrent.creationDate : null;
  return {
    torrent: {
      name: torrent.name,
      infoHash: torrent.infoHashV1,
      infoHashV2: torrent.infoHashV2,
      totalSize: torrent.totalSize,
      pieceLength: torrent.pieceLength,
      pieceCount: torrent.pieceCount,
      private: torrent.private,
      comment: torrent.comment,
      createdBy: torrent.createdBy,
      creationDate: creation ? creation.toISOString() : null,
      files: torrent.files.map((f) => ({ path: f.path, size: f.size })),
      webSeeds: [...torrent.webSeeds],
      trackers: torrent.trackers.map((tier) => [...tier]),
    },
    trackers: stats.map((s) => ({
      announce: s.announce,
      scrape: s.scrape,
      tier: s.tier,
      protocol: s.protocol,
      infoHash: s.infoHash,
      status: s.status,
      seeders: s.seeders,
      leechers: s.leechers,
      completed: s.completed,
      error: s.error,
      warning: s.warning,
      ms: s.ms,
      family: s.family,
      cached: s.cached,
      answeredAt: isoTime(s.answeredAt),
    })),
    totals: totalsOf(stats),
  };
}

// ---------------------------------------------------------------------------------------------
// Result page

const STATUS_LABEL: Readonly<Record<ScrapeStatus, { label: string; help: string }>> = {
  ok: { label: 'OK', help: 'The tracker answered.' },
  error: { label: 'Error', help: 'The tracker answered with an error, or its answer could not be read.' },
  timeout: { label: 'Timed out', help: 'No answer before the deadline.' },
  unsupported: { label: 'No scrape', help: 'This tracker does not offer scrape (BEP 48), so it was not asked.' },
  blocked: { label: 'Blocked', help: 'The tracker address is on a private or reserved network, so it was not contacted.' },
  skipped: { label: 'Skipped', help: 'Too many trackers in one torrent; the rest were not asked.' },
};

const PROTOCOL_LABEL: Readonly<Record<TrackerProtocol, string>> = {
  http: 'HTTP',
  https: 'HTTPS',
  udp: 'UDP',
  ws: 'WS',
  wss: 'WSS',
  other: '—',
};

/** How the page names the address family a tracker answered over. */
const FAMILY_LABEL: Readonly<Record<4 | 6, string>> = { 4: 'IPv4', 6: 'IPv6' };

export interface CountView {
  text: string;
  /** False when the tracker gave no number (shown as a dash, never as 0). */
  known: boolean;
}

function countView(value: number | null): CountView {
  return { text: formatCount(value), known: value !== null };
}

export interface TrackerRowView {
  tier: number;
  url: DisplayText;
  protocol: string;
  swarm: 'v1' | 'v2';
  status: ScrapeStatus;
  statusLabel: string;
  statusHelp: string;
  seeders: CountView;
  leechers: CountView;
  completed: CountView;
  time: string;
  /** `IPv4` / `IPv6`: the address family that answered; null when no network exchange happened. */
  family: string | null;
  /** How old the numbers are, for an answer that came from the cache; null for one asked just now. */
  answered: AnswerAge | null;
  error: DisplayText | null;
  warning: DisplayText | null;
}

export interface FactView {
  label: string;
  value: string;
  /** Exact value on hover (e.g. bytes). */
  detail: string | null;
  /** ISO date for a `<time>` element. */
  datetime: string | null;
}

export interface LinkView {
  text: DisplayText;
  href: string | null;
}

/** A piece of free text: plain, or a link when it is an http(s) URL. */
export interface TextSegment {
  text: string;
  href: string | null;
}

export interface ResultView {
  name: DisplayText | null;
  /** Length of the full name in characters, grouped (shown when the name was shortened). */
  nameLength: string;
  sourceLabel: string;
  versionLabel: string;
  isPrivate: boolean;
  infoHashV1: string | null;
  infoHashV2: string | null;
  magnet: string | null;
  facts: FactView[];
  comment: { segments: TextSegment[]; truncated: boolean } | null;
  files: {
    /** `pathPieces`: the path cut after every "/", where a long path may wrap (`<wbr>` between pieces). */
    rows: { path: DisplayText; pathPieces: string[]; size: FormattedSize }[];
    total: number;
    totalText: string;
    hidden: number;
    hiddenText: string;
    open: boolean;
    paddingFiles: number;
  };
  webSeeds: { rows: LinkView[]; hidden: number };
  trackers: {
    rows: TrackerRowView[];
    hybrid: boolean;
    count: number;
  };
  totals: {
    seeders: string;
    leechers: string;
    completed: string;
    answered: number;
    /** The oldest answer the figures come from, when it is older than "just now"; null: all fresh. */
    oldestAnswer: AnswerAge | null;
  };
  warnings: DisplayText[];
  scrapedAt: FormattedDate;
  /** A GET address that shows fresh numbers for this torrent, when one can be offered. */
  permalink: string | null;
  /** Why there is no permalink, when there is none. */
  permalinkNote: string | null;
  /** This page reloads itself this often (it was reached by its permalink); null: it does not. */
  autoRefreshSeconds: number | null;
}

export interface ResultViewOptions {
  /** When the scrape finished: the "now" every age on the page is measured from. */
  scrapedAt: Date;
  /** The page was reached by its permalink (GET) and reloads itself every this many ms; 0: never. */
  autoRefreshMs: number;
}

/** Path of the GET form of the scrape route, and its query parameter. */
export const PERMALINK_PATH = '/scrape';
export const PERMALINK_PARAM = 'magnet';
/**
 * Longest permalink offered: the request line must fit a reverse proxy's header buffer (nginx's
 * `large_client_header_buffers` default is 8 KiB).
 */
export const MAX_PERMALINK_CHARS = 6000;

/**
 * The permalink of a torrent: GET /scrape?magnet=<its magnet link>. Not offered for private
 * torrents, whose tracker URLs carry the member's passkey: in an address it would end up in browser
 * history and proxy logs. `magnet`: the torrent's magnet link, when the caller has already built it.
 */
export function permalinkFor(torrent: Torrent, magnet: string | null = magnetFor(torrent)): { href: string | null; note: string | null } {
  if (torrent.private) {
    return {
      href: null,
      note: 'No live link for a private torrent: it would put your tracker passkey in the address. Upload the file again to refresh.',
    };
  }
  // A public torrent can still announce with a passkey (or other secret) in its tracker URLs: a
  // live link would carry it into proxy logs and browser history.
  if (torrent.trackers.some((tier) => tier.some((url) => secretsOf(url).length > 0))) {
    return {
      href: null,
      note: 'No live link: a tracker address of this torrent carries a passkey, and the link would put it in the address. Upload the file again to refresh.',
    };
  }
  if (magnet === null) return { href: null, note: null };
  const href = `${PERMALINK_PATH}?${PERMALINK_PARAM}=${encodeURIComponent(magnet)}`;
  if (href.length > MAX_PERMALINK_CHARS) {
    return { href: null, note: 'No live link: this torrent lists too many trackers to fit in an address.' };
  }
  return { href, note: null };
}

/**
 * The parts of an announce URL that `redactUrl` hides (query values, user info, passkey-like path
 * segments), so they can be hidden too where a tracker quotes them back in an error message.
 */
export function secretsOf(announce: string): string[] {
  return secretsOfUrl(announce);
}

/** A tracker's message with the given secrets, and anything that looks like a URL's secrets, taken out. */
export function redactMessage(text: string, secrets: readonly string[]): string {
  return redactText(text, secrets);
}

function trackerRow(stat: TrackerStat, scrapedAt: Date): TrackerRowView {
  const status = STATUS_LABEL[stat.status];
  // The core already redacts what trackers echo; the page checks again against this row's own URLs.
  const secrets = stat.error === null && stat.warning === null ? [] : secretsOfUrls(stat.scrape === null ? [stat.announce] : [stat.announce, stat.scrape]);
  const time = stat.cached ? 'cached' : stat.ms > 0 ? formatDuration(stat.ms) : '—';
  return {
    tier: stat.tier + 1,
    // Passkeys stay out of the visible page (screenshots get shared); the JSON answer has the URL.
    url: displayText(redactUrl(stat.announce), MAX_URL_CHARS),
    protocol: PROTOCOL_LABEL[stat.protocol],
    swarm: stat.hashKind,
    status: stat.status,
    statusLabel: status.label,
    statusHelp: status.help,
    seeders: countView(stat.seeders),
    leechers: countView(stat.leechers),
    completed: countView(stat.completed),
    time,
    family: stat.family === null ? null : FAMILY_LABEL[stat.family],
    answered: stat.cached ? answerAge(stat.answeredAt, scrapedAt) : null,
    error: stat.error === null ? null : displayText(redactMessage(stat.error, secrets), MAX_MESSAGE_CHARS),
    warning: stat.warning === null ? null : displayText(redactMessage(stat.warning, secrets), MAX_MESSAGE_CHARS),
  };
}

function linkOf(value: string, maxChars: number): LinkView {
  return { text: displayText(value, maxChars), href: safeHref(value.trim()) };
}

const SOURCE_LABEL: Readonly<Record<Torrent['source'], string>> = {
  file: 'From a .torrent file',
  magnet: 'From a magnet link',
  hash: 'From an info-hash',
};

const VERSION_LABEL: Readonly<Record<Torrent['version'], string>> = {
  v1: 'v1',
  v2: 'v2 (BEP 52)',
  hybrid: 'hybrid v1 + v2 (BEP 52)',
};

function fact(label: string, value: string, detail: string | null = null, datetime: string | null = null): FactView {
  return { label, value, detail, datetime };
}

export function resultView(torrent: Torrent, stats: readonly TrackerStat[], options: ResultViewOptions): ResultView {
  const facts: FactView[] = [];
  if (torrent.totalSize !== null) {
    const size = formatBytes(torrent.totalSize);
    facts.push(fact('Size', size.text, size.exact));
  }
  if (torrent.pieceLength !== null && torrent.pieceCount !== null) {
    const pieceSize = formatBytes(torrent.pieceLength);
    facts.push(
      // Plain ASCII on purpose: a page with no character above U+007F is encoded on Node's fast path (render.ts).
      fact('Pieces', `${formatCount(torrent.pieceCount)} of ${pieceSize.text}`, `${pieceSize.exact} per piece`),
    );
  }
  if (torrent.hasMetadata) facts.push(fact('Private', torrent.private ? 'Yes (BEP 27)' : 'No'));
  facts.push(fact('Format', VERSION_LABEL[torrent.version]));
  if (torrent.createdBy !== null) facts.push(fact('Created by', displayText(torrent.createdBy, MAX_CREATED_BY_CHARS).text));
  const created = torrent.creationDate ? formatDate(torrent.creationDate) : null;
  if (created) facts.push(fact('Created on', created.text, null, created.iso));

  const listedFiles = torrent.files.slice(0, MAX_LISTED_FILES);
  const totals = totalsOf(stats);
  const trackerCount = torrent.trackers.reduce((n, tier) => n + tier.length, 0);
  const magnet = magnetFor(torrent);
  const permalink = permalinkFor(torrent, magnet);
  const shownName = torrent.name === null ? null : displayText(torrent.name, MAX_NAME_CHARS);

  return {
    name: shownName,
    nameLength: groupDigits(shownName?.length ?? 0),
    sourceLabel: SOURCE_LABEL[torrent.source],
    versionLabel: VERSION_LABEL[torrent.version],
    isPrivate: torrent.private,
    infoHashV1: torrent.infoHashV1,
    infoHashV2: torrent.infoHashV2,
    magnet,
    facts,
    comment: torrent.comment === null ? null : commentView(torrent.comment),
    files: {
      rows: listedFiles.map((f) => {
        const path = displayText(f.path, MAX_PATH_CHARS);
        return { path, pathPieces: piecesAfterSlash(path.text), size: formatBytes(f.size) };
      }),
      total: torrent.files.length,
      totalText: groupDigits(torrent.files.length),
      hidden: torrent.files.length - listedFiles.length,
      hiddenText: groupDigits(torrent.files.length - listedFiles.length),
      open: torrent.files.length <= FILES_OPEN_UP_TO,
      paddingFiles: torrent.paddingFiles,
    },
    webSeeds: {
      rows: torrent.webSeeds.slice(0, MAX_LISTED_WEB_SEEDS).map((u) => linkOf(u, MAX_URL_CHARS)),
      hidden: Math.max(0, torrent.webSeeds.length - MAX_LISTED_WEB_SEEDS),
    },
    trackers: {
      rows: stats.map((stat) => trackerRow(stat, options.scrapedAt)),
      hybrid: stats.some((s) => s.hashKind === 'v2') && stats.some((s) => s.hashKind === 'v1'),
      count: trackerCount,
    },
    totals: {
      seeders: formatCount(totals.seeders),
      leechers: formatCount(totals.leechers),
      completed: formatCount(totals.completed),
      answered: stats.filter((s) => s.status === 'ok').length,
      oldestAnswer: oldestAnswerOf(stats, options.scrapedAt),
    },
    warnings: torrent.warnings.slice(0, MAX_LISTED_WARNINGS).map((w) => displayText(w.message, MAX_MESSAGE_CHARS)),
    scrapedAt: formatDate(options.scrapedAt) ?? { text: '', iso: '' },
    permalink: permalink.href,
    permalinkNote: permalink.note,
    autoRefreshSeconds:
      options.autoRefreshMs > 0 && permalink.href !== null && trackerCount > 0 ? Math.round(options.autoRefreshMs / 1000) : null,
  };
}

/**
 * The oldest answer behind the totals (the rows that gave figures), when it is not fresh: the page
 * then says how old the figures may be. Fresh answers need no remark.
 */
function oldestAnswerOf(stats: readonly TrackerStat[], scrapedAt: Date): AnswerAge | null {
  let oldest: number | null = null;
  for (const stat of stats) {
    if (stat.status !== 'ok' || stat.answeredAt === null || Number.isNaN(stat.answeredAt)) continue;
    if (oldest === null || stat.answeredAt < oldest) oldest = stat.answeredAt;
  }
  if (oldest === null || scrapedAt.getTime() - oldest < JUST_NOW_MS) return null;
  return answerAge(oldest, scrapedAt);
}

/** Candidate URLs in free text; each still has to pass `safeHref` to become a link. */
const URL_IN_TEXT = /https?:\/\/[^\s<>"'`]+/gi;
/** Punctuation that ends a sentence rather than the URL before it. */
const TRAILING_PUNCTUATION = /[.,;:!?)\]}>»”’]+$/;

/** Split already-defused text into plain runs and http(s) links. */
export function linkify(text: string): TextSegment[] {
  const segments: TextSegment[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    const start = match.index;
    const candidate = match[0].replace(TRAILING_PUNCTUATION, '');
    const href = safeHref(candidate);
    if (href === null) continue;
    if (start > last) segments.push({ text: text.slice(last, start), href: null });
    segments.push({ text: candidate, href });
    last = start + candidate.length;
  }
  if (last < text.length) segments.push({ text: text.slice(last), href: null });
  return segments;
}

function commentView(comment: string): { segments: TextSegment[]; truncated: boolean } {
  const shown = displayText(comment, MAX_COMMENT_CHARS, { multiline: true });
  return { segments: linkify(shown.text), truncated: shown.truncated };
}

/**
 * `text` cut after every "/": the pieces of `text.split(/(?<=\/)/)`, without the regex, which costs
 * about three times as much on a 40-file page.
 */
export function piecesAfterSlash(text: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  for (let slash = text.indexOf('/'); slash !== -1; slash = text.indexOf('/', slash + 1)) {
    pieces.push(text.slice(start, slash + 1));
    start = slash + 1;
  }
  if (start < text.length || pieces.length === 0) pieces.push(text.slice(start));
  return pieces;
}
