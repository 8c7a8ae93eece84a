import { ScrapeError } from './errors.js';

/**
 * The UDP tracker protocol's packets (BEP 15), encoded and decoded without any I/O. All integers
 * are big-endian. Decoding never throws: whatever arrives on a UDP socket may be garbage, spoofed
 * or truncated, and the socket layer must be able to ignore it and keep waiting.
 */

/** BEP 15: the magic constant that opens every connect request (it is also the "connection id" of that request). */
export const PROTOCOL_ID = 0x41727101980n;
/** BEP 15 action numbers. */
export const ACTION_CONNECT = 0;
export const ACTION_ANNOUNCE = 1;
export const ACTION_SCRAPE = 2;
export const ACTION_ERROR = 3;

/** BEP 15: raw info-hash size in a scrape request (v2 hashes are truncated to this, BEP 52). */
export const INFO_HASH_BYTES = 20;
/**
 * Hashes per scrape request. opentracker answers at most 64 (OT_MAXMULTISCRAPE_COUNT) and silently
 * drops the rest; 60 also keeps the datagram (16 + 60·20 bytes + UDP/IPv6 headers = 1264) under
 * IPv6's minimum MTU of 1280, so it is never fragmented.
 */
export const MAX_HASHES_PER_SCRAPE = 60;

/** BEP 15 connect request: u64 protocol id, u32 action, u32 transaction id. */
export const CONNECT_REQUEST_BYTES = 16;
/** BEP 15 connect reply: u32 action, u32 transaction id, u64 connection id. */
export const CONNECT_REPLY_BYTES = 16;
/** BEP 15 scrape request header: u64 connection id, u32 action, u32 transaction id (hashes follow). */
export const SCRAPE_REQUEST_HEADER_BYTES = 16;
/** Every reply starts with u32 action, u32 transaction id. */
export const REPLY_HEADER_BYTES = 8;
/** Where a reply carries its transaction id (BEP 15: after the u32 action). */
export const REPLY_TX_ID_OFFSET = 4;
/** BEP 15 scrape reply entry: u32 seeders, u32 completed, u32 leechers — not HTTP's order. */
export const SCRAPE_ENTRY_BYTES = 12;
/** Error text kept from an error reply; a tracker's message is a sentence, not a payload. */
export const MAX_ERROR_MESSAGE_BYTES = 1024;

const UINT32_MAX = 0xffff_ffff;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

/** One hash's numbers in a scrape reply, named as BEP 15 names them. */
export interface UdpScrapeEntry {
  seeders: number;
  /** Completed downloads ever (HTTP's `downloaded`). */
  completed: number;
  leechers: number;
}

/** A decoded datagram: one of the replies we ask for, or a reason to ignore it. */
export type UdpTrackerReply =
  | { action: 'connect'; txId: number; connectionId: bigint }
  | { action: 'scrape'; txId: number; counts: UdpScrapeEntry[] }
  | { action: 'error'; txId: number; message: string }
  /** `txId` is present when the packet was long enough to carry one, so a malformed answer to a
   * request we made can be told apart from a stray packet. */
  | { action: 'invalid'; txId: number | undefined; reason: string };

/** Thrown for arguments no caller should pass (a bug upstream, not a tracker's fault). */
export class UdpPacketArgumentError extends ScrapeError {
  constructor(message: string) {
    super('SCRAPE_BAD_HASH', message);
  }
}

function checkTxId(txId: number): void {
  if (!Number.isInteger(txId) || txId < 0 || txId > UINT32_MAX) {
    throw new UdpPacketArgumentError(`transaction id ${txId} is not an unsigned 32-bit integer`);
  }
}

export function encodeConnectRequest(txId: number): Uint8Array {
  checkTxId(txId);
  const packet = new Uint8Array(CONNECT_REQUEST_BYTES);
  const view = new DataView(packet.buffer);
  view.setBigUint64(0, PROTOCOL_ID);
  view.setUint32(8, ACTION_CONNECT);
  view.setUint32(12, txId);
  return packet;
}

export function encodeScrapeRequest(connId: bigint, txId: number, hashes: readonly Uint8Array[]): Uint8Array {
  checkTxId(txId);
  if (connId < 0n || connId > UINT64_MAX) throw new UdpPacketArgumentError('connection id is not an unsigned 64-bit integer');
  if (hashes.length === 0) throw new UdpPacketArgumentError('a scrape request needs at least one info-hash');
  if (hashes.length > MAX_HASHES_PER_SCRAPE) {
    throw new UdpPacketArgumentError(`${hashes.length} info-hashes in one scrape request; at most ${MAX_HASHES_PER_SCRAPE}`);
  }
  const packet = new Uint8Array(SCRAPE_REQUEST_HEADER_BYTES + hashes.length * INFO_HASH_BYTES);
  const view = new DataView(packet.buffer);
  view.setBigUint64(0, connId);
  view.setUint32(8, ACTION_SCRAPE);
  view.setUint32(12, txId);
  hashes.forEach((hash, i) => {
    if (hash.length !== INFO_HASH_BYTES) {
      throw new UdpPacketArgumentError(`info-hash #${i} is ${hash.length} bytes; BEP 15 takes ${INFO_HASH_BYTES}`);
    }
    packet.set(hash, SCRAPE_REQUEST_HEADER_BYTES + i * INFO_HASH_BYTES);
  });
  return packet;
}

/**
 * The transaction id a datagram carries, or undefined when it is too short to carry one. Lets the
 * socket route a reply to the request waiting for it before decoding the rest; never throws.
 */
export function replyTxId(buf: Uint8Array): number | undefined {
  if (buf.length < REPLY_HEADER_BYTES) return undefined;
  const at = REPLY_TX_ID_OFFSET;
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Decode any datagram; never throws. Lengths are checked exactly as BEP 15 lays the replies out. */
export function decodeReply(buf: Uint8Array): UdpTrackerReply {
  if (buf.length < REPLY_HEADER_BYTES) {
    return { action: 'invalid', txId: undefined, reason: `${buf.length}-byte packet is shorter than a reply header (${REPLY_HEADER_BYTES})` };
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const action = view.getUint32(0);
  const txId = view.getUint32(REPLY_TX_ID_OFFSET);
  switch (action) {
    case ACTION_CONNECT:
      if (buf.length !== CONNECT_REPLY_BYTES) {
        return { action: 'invalid', txId, reason: `connect reply is ${buf.length} bytes, not ${CONNECT_REPLY_BYTES}` };
      }
      return { action: 'connect', txId, connectionId: view.getBigUint64(8) };
    case ACTION_SCRAPE: {
      const body = buf.length - REPLY_HEADER_BYTES;
      if (body % SCRAPE_ENTRY_BYTES !== 0) {
        return {
          action: 'invalid',
          txId,
          reason: `scrape reply is ${buf.length} bytes, not ${REPLY_HEADER_BYTES} + ${SCRAPE_ENTRY_BYTES}·n`,
        };
      }
      const counts: UdpScrapeEntry[] = [];
      for (let at = REPLY_HEADER_BYTES; at < buf.length; at += SCRAPE_ENTRY_BYTES) {
        counts.push({ seeders: view.getUint32(at), completed: view.getUint32(at + 4), leechers: view.getUint32(at + 8) });
      }
      return { action: 'scrape', txId, counts };
    }
    case ACTION_ERROR:
      return { action: 'error', txId, message: errorText(buf.subarray(REPLY_HEADER_BYTES)) };
    case ACTION_ANNOUNCE:
      return { action: 'invalid', txId, reason: 'announce reply, but no announce was sent' };
    default:
      return { action: 'invalid', txId, reason: `unknown action ${action}` };
  }
}

/**
 * Some trackers NUL-terminate the text. It is UTF-8 when it decodes as such (a sequence cut by the
 * size cap is dropped, not an error), else it is read as latin1, which maps every byte.
 */
function errorText(bytes: Uint8Array): string {
  const truncated = bytes.length > MAX_ERROR_MESSAGE_BYTES;
  let end = Math.min(bytes.length, MAX_ERROR_MESSAGE_BYTES);
  while (end > 0 && bytes[end - 1] === 0) end--;
  const text = bytes.subarray(0, end);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(text, { stream: truncated });
  } catch {
    return String.fromCharCode(...text);
  }
}
