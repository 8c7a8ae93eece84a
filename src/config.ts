import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { TrackerscopeError } from './errors.js';

/**
 * Every setting of the server, read once from the environment at start-up. Nothing else reads
 * `process.env`: tests build apps from a Config of their own.
 */
export interface Config {
  /** TCP port to listen on (0 picks a free one). */
  port: number;
  /** Address to listen on. Loopback by default: the app is meant to sit behind a reverse proxy. */
  host: string;
  /** Deadline for one whole scrape (all trackers in parallel). */
  scrapeTimeoutMs: number;
  /** Let trackers on private/loopback/LAN addresses be contacted (off: a hostile .torrent cannot aim us at our own network). */
  allowPrivateTrackers: boolean;
  /** Largest accepted .torrent upload. */
  maxUploadBytes: number;
  /** Scrapes one client may ask for per window. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /**
   * Express `trust proxy`: false, a hop count (at most CONFIG_BOUNDS.trustProxyHops.max), or a list of
   * addresses/subnets/names. Never `true`, nor a subnet wide enough to amount to it.
   */
  trustProxy: TrustProxySetting;
  logLevel: LogLevel;
  /** How long a tracker's answer is reused (the tracker's own min interval wins when larger). */
  cacheTtlMs: number;
  /** How often an open result page re-fetches its numbers; 0 turns auto-refresh off. */
  refreshIntervalMs: number;
  /** Longest time a request (headers and body) may take to arrive; bounds slow uploads. */
  requestTimeoutMs: number;
  /** After SIGTERM/SIGINT, how long in-flight requests get before connections are cut. */
  shutdownTimeoutMs: number;
}

/** What express's `trust proxy` accepts that we allow: nothing, N hops, or named/addressed proxies. */
export type TrustProxySetting = false | number | string[];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** proxy-addr's names for address groups (loopback: 127.0.0.1/8 and ::1, …). */
const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Widest subnet TRUST_PROXY accepts, as a prefix length: IPv4 10.0.0.0/8 and IPv6 fc00::/7 (unique
 * local) are the widest blocks proxies live in. Anything wider (0.0.0.0/0, ::/0, 0.0.0.0/1 plus
 * 128.0.0.0/1, 2000::/3, …) takes in clients on the internet, which could then write their own
 * address into X-Forwarded-For: the same as `true`.
 */
export const MIN_TRUST_PROXY_PREFIX = Object.freeze({ ipv4: 8, ipv6: 7 });

/**
 * RFC 4291 §2.5.5.2: IPv4-mapped IPv6 addresses, ::ffff:0:0/96. proxy-addr matches IPv4 clients
 * against a subnet written in this form, so `::ffff:0:0/96` trusts every IPv4 client, and
 * `::ffff:a.b.c.d/N` is the IPv4 subnet a.b.c.d/(N − 96).
 */
const IPV4_MAPPED_BLOCK = { address: ipaddr.IPv6.parse('::ffff:0:0'), prefix: 96 } as const;

const MIB = 1024 * 1024;

export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  port: 3000,
  host: '127.0.0.1',
  scrapeTimeoutMs: 5000,
  allowPrivateTrackers: false,
  maxUploadBytes: 10 * MIB,
  rateLimitMax: 20,
  rateLimitWindowMs: 60_000,
  trustProxy: false,
  logLevel: 'info',
  cacheTtlMs: 60_000,
  refreshIntervalMs: 60_000,
  requestTimeoutMs: 30_000,
  shutdownTimeoutMs: 10_000,
});

/** Bounds for numeric settings: outside them a value is a typo, not a choice. */
export const CONFIG_BOUNDS = Object.freeze({
  port: { min: 0, max: 65_535 },
  scrapeTimeoutMs: { min: 100, max: 120_000 },
  maxUploadBytes: { min: 1024, max: 512 * MIB },
  rateLimitMax: { min: 1, max: 1_000_000 },
  rateLimitWindowMs: { min: 1000, max: 24 * 3_600_000 },
  /**
   * Proxies in front of the app. Real deployments have one to three (CDN, load balancer, nginx);
   * trusting more hops than there are proxies hands the leftmost X-Forwarded-For entries, which the
   * client writes, the role of its address.
   */
  trustProxyHops: { min: 1, max: 5 },
  cacheTtlMs: { min: 0, max: 24 * 3_600_000 },
  refreshIntervalMs: { min: 5000, max: 24 * 3_600_000 },
  requestTimeoutMs: { min: 1000, max: 3_600_000 },
  shutdownTimeoutMs: { min: 0, max: 600_000 },
});

/** A bad setting; the message names the variable, what it got and what it accepts. */
export class ConfigError extends TrackerscopeError {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super('CONFIG_INVALID', `${variable}: ${message}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Read and validate every setting; throws ConfigError on the first bad one. */
export function loadConfig(env: Env = process.env): Config {
  const config: Config = {
    port: readInt(env, 'PORT', DEFAULT_CONFIG.port, CONFIG_BOUNDS.port),
    host: readHost(env, 'HOST', DEFAULT_CONFIG.host),
    scrapeTimeoutMs: readInt(env, 'SCRAPE_TIMEOUT_MS', DEFAULT_CONFIG.scrapeTimeoutMs, CONFIG_BOUNDS.scrapeTimeoutMs),
    allowPrivateTrackers: readBool(env, 'ALLOW_PRIVATE_TRACKERS', DEFAULT_CONFIG.allowPrivateTrackers),
    maxUploadBytes: readInt(env, 'MAX_UPLOAD_BYTES', DEFAULT_CONFIG.maxUploadBytes, CONFIG_BOUNDS.maxUploadBytes),
    rateLimitMax: readInt(env, 'RATE_LIMIT_MAX', DEFAULT_CONFIG.rateLimitMax, CONFIG_BOUNDS.rateLimitMax),
    rateLimitWindowMs: readInt(env, 'RATE_LIMIT_WINDOW_MS', DEFAULT_CONFIG.rateLimitWindowMs, CONFIG_BOUNDS.rateLimitWindowMs),
    trustProxy: readTrustProxy(env, 'TRUST_PROXY'),
    logLevel: readLogLevel(env, 'LOG_LEVEL', DEFAULT_CONFIG.logLevel),
    cacheTtlMs: readInt(env, 'CACHE_TTL_MS', DEFAULT_CONFIG.cacheTtlMs, CONFIG_BOUNDS.cacheTtlMs),
    refreshIntervalMs: readRefreshInterval(env, 'REFRESH_INTERVAL_MS', DEFAULT_CONFIG.refreshIntervalMs),
    requestTimeoutMs: readInt(env, 'REQUEST_TIMEOUT_MS', DEFAULT_CONFIG.requestTimeoutMs, CONFIG_BOUNDS.requestTimeoutMs),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', DEFAULT_CONFIG.shutdownTimeoutMs, CONFIG_BOUNDS.shutdownTimeoutMs),
  };
  return config;
}

/** Unset and empty both mean "use the default" (docker-compose writes `VAR=` for blanks). */
function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function readInt(env: Env, name: string, fallback: number, bounds: { min: number; max: number }): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  // Digits only: Number() would take "1e3", "0x10" and " 12 " and parseInt would take "12abc".
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(name, `expected a whole number from ${bounds.min} to ${bounds.max}, got ${quote(text)}`);
  }
  const value = Number(text);
  if (value < bounds.min || value > bounds.max) {
    throw new ConfigError(name, `${value} is out of range (${bounds.min} to ${bounds.max})`);
  }
  return value;
}

function readBool(env: Env, name: string, fallback: boolean): boolean {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const lower = text.toLowerCase();
  if (lower === '1' || lower === 'true') return true;
  if (lower === '0' || lower === 'false') return false;
  throw new ConfigError(name, `expected 0 or 1, got ${quote(text)}`);
}

/** A hostname (RFC 1123 labels) or an IP literal. */
function readHost(env: Env, name: string, fallback: string): string {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIP(bare) !== 0) return bare;
  const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  if (bare.length <= 253 && bare.split('.').every((part) => label.test(part))) return bare;
  throw new ConfigError(name, `expected an IP address or host name to listen on (e.g. 0.0.0.0, ::, 127.0.0.1), got ${quote(text)}`);
}

function readLogLevel(env: Env, name: string, fallback: LogLevel): LogLevel {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const lower = text.toLowerCase();
  const level = LOG_LEVELS.find((l) => l === lower);
  if (!level) throw new ConfigError(name, `expected one of ${LOG_LEVELS.join(', ')}, got ${quote(text)}`);
  return level;
}

function readRefreshInterval(env: Env, name: string, fallback: number): number {
  const text = raw(env, name);
  // 0 is the documented "off" and sits below the minimum useful interval.
  if (text === '0') return 0;
  return readInt(env, name, fallback, CONFIG_BOUNDS.refreshIntervalMs);
}

/**
 * TRUST_PROXY, as express's `trust proxy`, minus `true`: trusting every hop lets any client write
 * its own address into X-Forwarded-For and so pick a fresh rate-limit budget per request.
 */
function readTrustProxy(env: Env, name: string): TrustProxySetting {
  const text = raw(env, name);
  if (text === undefined) return false;
  const lower = text.toLowerCase();
  if (lower === 'false' || lower === '0') return false;
  if (lower === 'true') {
    throw new ConfigError(
      name,
      'true is refused: it trusts every X-Forwarded-For entry, so any client could spoof its address and dodge the rate limit. ' +
        'Set the number of proxies in front of the app (e.g. 1), "loopback", or the proxy addresses/subnets (e.g. 10.0.0.0/8)',
    );
  }
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    const { min, max } = CONFIG_BOUNDS.trustProxyHops;
    if (hops < min || hops > max) {
      throw new ConfigError(
        name,
        `hop count ${hops} is out of range (${min} to ${max}): count only the proxies in front of the app, ` +
          'since every extra hop lets a client choose the address it is limited by',
      );
    }
    return hops;
  }
  const entries = text.split(',').map((part) => part.trim());
  for (const entry of entries) {
    const problem = trustProxyEntryProblem(entry);
    if (problem !== null) throw new ConfigError(name, problem);
  }
  return entries.map((entry) => (TRUST_PROXY_NAMES.has(entry.toLowerCase()) ? entry.toLowerCase() : entry));
}

/** Why one TRUST_PROXY list entry is refused, or null when it is a name, an address or a narrow enough subnet. */
function trustProxyEntryProblem(entry: string): string | null {
  if (TRUST_PROXY_NAMES.has(entry.toLowerCase())) return null;
  const notAnEntry = `${quote(entry)} is not a hop count, one of ${[...TRUST_PROXY_NAMES].join('/')}, an IP address or a subnet (CIDR)`;
  if (entry === '') return notAnEntry;
  if (!entry.includes('/')) return isIP(entry) !== 0 ? null : notAnEntry;
  let subnet: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    subnet = ipaddr.parseCIDR(entry);
  } catch {
    return notAnEntry;
  }
  const [address, prefix] = subnet;
  const refuse = (what: string) =>
    `${quote(entry)} ${what}: clients there could write their own address into X-Forwarded-For and dodge the rate limit. ` +
    `Trust your proxies' own addresses or their private subnet (at most /${MIN_TRUST_PROXY_PREFIX.ipv4} for IPv4, ` +
    `/${MIN_TRUST_PROXY_PREFIX.ipv6} for IPv6), or set the hop count`;
  if (prefix === 0) return refuse('is every address, the same as true');
  if (address.kind() === 'ipv4') {
    return prefix < MIN_TRUST_PROXY_PREFIX.ipv4 ? refuse(`covers ${share(prefix)} of the IPv4 internet`) : null;
  }
  const v6 = address as ipaddr.IPv6;
  if (prefix <= IPV4_MAPPED_BLOCK.prefix && IPV4_MAPPED_BLOCK.address.match(v6, prefix)) {
    return refuse('contains every IPv4-mapped address (::ffff:0:0/96), so it trusts every IPv4 client');
  }
  if (prefix > IPV4_MAPPED_BLOCK.prefix && v6.isIPv4MappedAddress()) {
    const v4Prefix = prefix - IPV4_MAPPED_BLOCK.prefix;
    const v4Subnet = `${v6.toIPv4Address().toString()}/${v4Prefix}`;
    return v4Prefix < MIN_TRUST_PROXY_PREFIX.ipv4
      ? refuse(`is the IPv4 subnet ${v4Subnet}, which covers ${share(v4Prefix)} of the IPv4 internet`)
      : null;
  }
  return prefix < MIN_TRUST_PROXY_PREFIX.ipv6 ? refuse(`covers ${share(prefix)} of the IPv6 internet`) : null;
}

/** Share of its address space a subnet of this prefix length covers, for the message. */
function share(prefix: number): string {
  return prefix === 1 ? 'half' : `1/${2 ** prefix}`;
}

function quote(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(shown);
}
