import express from 'express';
import { describe, expect, it } from 'vitest';
import { CONFIG_BOUNDS, ConfigError, DEFAULT_CONFIG, loadConfig, MIN_TRUST_PROXY_PREFIX } from '../../src/config.js';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      scrapeTimeoutMs: 5000,
      allowPrivateTrackers: false,
      maxUploadBytes: 10 * 1024 * 1024,
      rateLimitMax: 20,
      rateLimitWindowMs: 60_000,
      trustProxy: false,
      logLevel: 'info',
      cacheTtlMs: 60_000,
      refreshIntervalMs: 60_000,
      requestTimeoutMs: 30_000,
      shutdownTimeoutMs: 10_000,
    });
    expect(loadConfig({})).toEqual(DEFAULT_CONFIG);
  });

  it('treats empty values as unset (docker-compose writes VAR= for blanks)', () => {
    expect(loadConfig({ PORT: '', TRUST_PROXY: ' ', LOG_LEVEL: '' })).toEqual(DEFAULT_CONFIG);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      SCRAPE_TIMEOUT_MS: '2500',
      ALLOW_PRIVATE_TRACKERS: '1',
      MAX_UPLOAD_BYTES: '2048',
      RATE_LIMIT_MAX: '5',
      RATE_LIMIT_WINDOW_MS: '10000',
      TRUST_PROXY: '2',
      LOG_LEVEL: 'DEBUG',
      CACHE_TTL_MS: '0',
      REFRESH_INTERVAL_MS: '0',
      REQUEST_TIMEOUT_MS: '5000',
      SHUTDOWN_TIMEOUT_MS: '0',
    });
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      scrapeTimeoutMs: 2500,
      allowPrivateTrackers: true,
      maxUploadBytes: 2048,
      rateLimitMax: 5,
      rateLimitWindowMs: 10_000,
      trustProxy: 2,
      logLevel: 'debug',
      cacheTtlMs: 0,
      refreshIntervalMs: 0,
      requestTimeoutMs: 5000,
      shutdownTimeoutMs: 0,
    });
  });

  it.each([
    ['loopback', ['loopback']],
    ['LOOPBACK, uniquelocal', ['loopback', 'uniquelocal']],
    ['10.0.0.0/8,fd00::/8', ['10.0.0.0/8', 'fd00::/8']],
    ['172.17.0.1', ['172.17.0.1']],
    ['loopback, 10.1.2.3, 2001:db8::/32', ['loopback', '10.1.2.3', '2001:db8::/32']],
    ['0', false],
    ['false', false],
    ['1', 1],
  ])('TRUST_PROXY=%s', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('refuses TRUST_PROXY=true, saying why and what to set instead', () => {
    for (const value of ['true', 'TRUE', ' true ']) {
      const err = errorOf({ TRUST_PROXY: value });
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.variable).toBe('TRUST_PROXY');
      expect(err.message).toMatch(/^TRUST_PROXY: true is refused/);
      expect(err.message).toContain('spoof');
      expect(err.message).toContain('loopback');
    }
  });

  /**
   * What express would make of a `trust proxy` value: whether it takes the X-Forwarded-For entry
   * written by a client at `address` as that client's address. Only classifies; nothing is sent.
   */
  function trustsClientAt(setting: unknown, address: string): boolean {
    const app = express();
    app.set('trust proxy', setting);
    const trust = app.get('trust proxy fn') as (addr: string, hop: number) => boolean;
    return trust(address, 0);
  }
  /** Documentation ranges (RFC 5737, RFC 3849) stand for clients on the internet. */
  const INTERNET_CLIENTS = ['203.0.113.7', '198.51.100.9', '2001:db8::7'];

  it.each([
    ['0.0.0.0/0', /"0\.0\.0\.0\/0" is every address, the same as true/],
    ['::/0', /"::\/0" is every address, the same as true/],
    ['10.0.0.0/8, 0.0.0.0/0', /"0\.0\.0\.0\/0" is every address/],
    ['::ffff:0:0/96', /contains every IPv4-mapped address/],
    ['::FFFF:0.0.0.0/96', /contains every IPv4-mapped address/],
    ['::/80', /contains every IPv4-mapped address/],
    ['::ffff:0:0/100', /is the IPv4 subnet 0\.0\.0\.0\/4, which covers 1\/16 of the IPv4 internet/],
    ['0.0.0.0/1,128.0.0.0/1', /"0\.0\.0\.0\/1" covers half of the IPv4 internet/],
    ['1.0.0.0/7', /covers 1\/128 of the IPv4 internet/],
    ['2000::/3', /covers 1\/8 of the IPv6 internet/],
  ])('refuses TRUST_PROXY=%s, a subnet as wide as trusting everyone', (value, pattern) => {
    const err = errorOf({ TRUST_PROXY: value });
    expect(err.variable).toBe('TRUST_PROXY');
    expect(err.message).toMatch(pattern);
    expect(err.message).toContain('X-Forwarded-For');
    expect(err.message).toContain(`at most /${MIN_TRUST_PROXY_PREFIX.ipv4} for IPv4`);
  });

  it('refuses exactly the subnets under which express would believe a client on the internet', () => {
    // /0 makes express throw at start-up with "invalid range"; the catch-alls it accepts trust an
    // internet client's own X-Forwarded-For.
    expect(() => trustsClientAt(['0.0.0.0/0'], '203.0.113.7')).toThrow(/invalid range/);
    expect(trustsClientAt(['::ffff:0:0/96'], '203.0.113.7')).toBe(true);
    expect(trustsClientAt(['0.0.0.0/1', '128.0.0.0/1'], '203.0.113.7')).toBe(true);
    expect(trustsClientAt(['2000::/3'], '2001:db8::7')).toBe(true);
    expect(trustsClientAt(['::ffff:0:0/100'], '8.8.8.8')).toBe(true);
    // What loadConfig accepts, express trusts only on the proxies' networks.
    for (const value of ['10.0.0.0/8', '172.16.0.0/12', 'fc00::/7', '::ffff:10.0.0.0/104', '2001:db8:1::/48', 'loopback', '10.0.0.5']) {
      const setting = loadConfig({ TRUST_PROXY: value }).trustProxy;
      for (const client of INTERNET_CLIENTS) expect(trustsClientAt(setting, client), `${value} trusts ${client}`).toBe(false);
    }
    expect(trustsClientAt(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).trustProxy, '10.1.2.3')).toBe(true);
  });

  it('accepts the widest private subnets exactly at the limit', () => {
    expect(MIN_TRUST_PROXY_PREFIX).toEqual({ ipv4: 8, ipv6: 7 });
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).trustProxy).toEqual(['10.0.0.0/8']);
    expect(loadConfig({ TRUST_PROXY: 'fc00::/7' }).trustProxy).toEqual(['fc00::/7']);
    expect(errorOf({ TRUST_PROXY: '10.0.0.0/7' }).message).toMatch(/covers 1\/128 of the IPv4 internet/);
    expect(errorOf({ TRUST_PROXY: 'fc00::/6' }).message).toMatch(/covers 1\/64 of the IPv6 internet/);
  });

  it('caps the hop count at a named maximum of 5', () => {
    expect(CONFIG_BOUNDS.trustProxyHops).toEqual({ min: 1, max: 5 });
    expect(loadConfig({ TRUST_PROXY: '5' }).trustProxy).toBe(5);
    const err = errorOf({ TRUST_PROXY: '6' });
    expect(err.message).toMatch(/^TRUST_PROXY: hop count 6 is out of range \(1 to 5\): count only the proxies in front/);
  });

  it.each([
    ['TRUST_PROXY', 'yes', /not a hop count/],
    ['TRUST_PROXY', '10.0.0.0/33', /"10.0.0.0\/33" is not/],
    ['TRUST_PROXY', 'loopback,,10.0.0.1', /"" is not/],
    ['TRUST_PROXY', '99', /hop count 99 is out of range/],
    ['PORT', 'http', /expected a whole number from 0 to 65535, got "http"/],
    ['PORT', '70000', /70000 is out of range \(0 to 65535\)/],
    ['PORT', '-1', /expected a whole number/],
    ['PORT', '80.5', /expected a whole number/],
    ['PORT', '1e3', /expected a whole number/],
    ['HOST', 'not a host!', /expected an IP address or host name/],
    ['HOST', '-bad-.example', /expected an IP address or host name/],
    ['SCRAPE_TIMEOUT_MS', '5s', /expected a whole number/],
    ['SCRAPE_TIMEOUT_MS', '10', /out of range/],
    ['ALLOW_PRIVATE_TRACKERS', 'yes', /expected 0 or 1, got "yes"/],
    ['MAX_UPLOAD_BYTES', '10MB', /expected a whole number/],
    ['MAX_UPLOAD_BYTES', '0', /out of range/],
    ['RATE_LIMIT_MAX', '0', /out of range/],
    ['RATE_LIMIT_WINDOW_MS', '10', /out of range/],
    ['LOG_LEVEL', 'verbose', /expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"/],
    ['CACHE_TTL_MS', 'forever', /expected a whole number/],
    ['REFRESH_INTERVAL_MS', '1000', /out of range \(5000 to/],
    ['REQUEST_TIMEOUT_MS', '10', /out of range/],
    ['SHUTDOWN_TIMEOUT_MS', 'soon', /expected a whole number/],
  ])('%s=%s is refused with a message naming the variable', (name, value, pattern) => {
    const err = errorOf({ [name]: value });
    expect(err.variable).toBe(name);
    expect(err.message.startsWith(`${name}: `)).toBe(true);
    expect(err.message).toMatch(pattern);
  });

  it('accepts host names and bracketed IPv6 for HOST', () => {
    expect(loadConfig({ HOST: 'localhost' }).host).toBe('localhost');
    expect(loadConfig({ HOST: '::' }).host).toBe('::');
    expect(loadConfig({ HOST: '[::1]' }).host).toBe('::1');
  });

  it('clips a huge bad value in the message', () => {
    const err = errorOf({ PORT: 'x'.repeat(10_000) });
    expect(err.message.length).toBeLessThan(200);
  });
});
