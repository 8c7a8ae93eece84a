import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { TrackerscopeError } from '../errors.js';

/**
 * Outbound safety: a hostile .torrent must never aim this server at its own network. Every
 * address we connect or send to passes `isAddressAllowed` at connect/send time (so DNS
 * rebinding cannot slip through between the check and the use).
 */
export interface OutboundPolicy {
  /** Lift the private-range refusal (LAN trackers, tests on loopback). */
  allowPrivate: boolean;
}

export const SECURE_POLICY: OutboundPolicy = Object.freeze({ allowPrivate: false });

export class BlockedAddressError extends TrackerscopeError {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super('SCRAPE_BLOCKED', `refused to contact ${address} (${range} address) for ${host}`);
  }
}

/**
 * The ipaddr.js range name of an address, after unwrapping IPv4-mapped IPv6 (`::ffff:127.0.0.1`)
 * and reading odd IPv4 spellings (`2130706433`, `0x7f.1`) the way a resolver would.
 * Unparseable input gives `invalid`.
 */
export function addressRange(ip: string): string {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    if (ipaddr.IPv6.isValid(text)) parsed = ipaddr.IPv6.parse(text);
    else if (ipaddr.IPv4.isValid(text)) parsed = ipaddr.IPv4.parse(text);
    else return 'invalid';
  } catch {
    return 'invalid';
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range();
    const range = v6.range();
    // NAT64 (64:ff9b::/96), 6to4 (2002::/16), Teredo and the deprecated IPv4-compatible form
    // (::a.b.c.d) all carry an IPv4 address that the network may route to: judge that address.
    const embedded = embeddedIPv4(v6, range);
    if (embedded) {
      const inner = embedded.range();
      return inner === 'unicast' ? range : inner;
    }
    return range;
  }
  return parsed.range();
}

function embeddedIPv4(v6: ipaddr.IPv6, range: string): ipaddr.IPv4 | null {
  const p = v6.parts;
  const v4From = (hi: number, lo: number) =>
    new ipaddr.IPv4([(hi >> 8) & 0xff, hi & 0xff, (lo >> 8) & 0xff, lo & 0xff]);
  if (range === 'rfc6052' || range === 'rfc6145') return v4From(p[6]!, p[7]!);
  if (range === '6to4') return v4From(p[1]!, p[2]!);
  if (range === 'teredo') return v4From(~p[6]! & 0xffff, ~p[7]! & 0xffff);
  if (range !== 'loopback' && range !== 'unspecified' && p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0) {
    // IPv4-compatible (::a.b.c.d), deprecated but still parsed by some stacks.
    return v4From(p[6]!, p[7]!);
  }
  return null;
}

/** Ranges a public tracker may live in. 6to4/Teredo/NAT64 are judged by their embedded IPv4 above. */
const PUBLIC_RANGES = new Set(['unicast', 'rfc6052', 'rfc6145', '6to4', 'teredo']);

export function isAddressAllowed(ip: string, policy: OutboundPolicy): boolean {
  const range = addressRange(ip);
  if (range === 'invalid') return false;
  if (policy.allowPrivate) return true;
  return PUBLIC_RANGES.has(range);
}

/** Throws BlockedAddressError unless the address may be contacted. */
export function assertAddressAllowed(host: string, ip: string, policy: OutboundPolicy): void {
  if (!isAddressAllowed(ip, policy)) throw new BlockedAddressError(host, ip, addressRange(ip));
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolve a host (A and AAAA) and keep the addresses the policy allows. A literal IP is checked
 * as it is. Throws BlockedAddressError when the name resolves only to forbidden addresses, and a
 * SCRAPE_DNS error when it does not resolve.
 */
export async function resolveAllowed(
  host: string,
  policy: OutboundPolicy,
  signal?: AbortSignal,
): Promise<ResolvedAddress[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  let found: ResolvedAddress[];
  const literal = isIP(bare);
  if (literal !== 0) {
    found = [{ address: bare, family: literal as 4 | 6 }];
  } else {
    signal?.throwIfAborted();
    try {
      const all = await lookup(bare, { all: true, verbatim: true });
      found = all.map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
    } catch (err) {
      throw new TrackerscopeError('SCRAPE_DNS', `cannot resolve ${bare}`, undefined, { cause: err });
    }
    signal?.throwIfAborted();
  }
  const allowed = found.filter((a) => isAddressAllowed(a.address, policy));
  if (allowed.length === 0) {
    const first = found[0];
    if (!first) throw new TrackerscopeError('SCRAPE_DNS', `cannot resolve ${bare}`);
    throw new BlockedAddressError(bare, first.address, addressRange(first.address));
  }
  return allowed;
}
