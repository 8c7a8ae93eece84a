import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TrackerscopeError } from '../../src/errors.js';
import {
  ACTION_ANNOUNCE,
  ACTION_CONNECT,
  ACTION_ERROR,
  ACTION_SCRAPE,
  decodeReply,
  encodeConnectRequest,
  encodeScrapeRequest,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_HASHES_PER_SCRAPE,
  PROTOCOL_ID,
  replyTxId,
} from '../../src/scrape/udp-packets.js';

function hashOf(seed: number): Uint8Array {
  return Uint8Array.from({ length: 20 }, (_, i) => (seed * 13 + i * 7) & 0xff);
}

/** Build a reply by hand, independently of the codec: u32 action, u32 txId, then `rest`. */
function reply(action: number, txId: number, rest: Uint8Array | number[] = []): Uint8Array {
  const buf = Buffer.alloc(8 + rest.length);
  buf.writeUInt32BE(action, 0);
  buf.writeUInt32BE(txId, 4);
  Buffer.from(rest).copy(buf, 8);
  return buf;
}

function u32s(...values: number[]): Uint8Array {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    buf.writeUInt32BE(v, i * 4);
  });
  return buf;
}

describe('BEP 15 constants', () => {
  it('have the values BEP 15 gives them', () => {
    expect(PROTOCOL_ID).toBe(0x41727101980n);
    expect([ACTION_CONNECT, ACTION_ANNOUNCE, ACTION_SCRAPE, ACTION_ERROR]).toEqual([0, 1, 2, 3]);
    // opentracker answers at most 64 hashes per packet; we must stay below.
    expect(MAX_HASHES_PER_SCRAPE).toBeLessThanOrEqual(64);
  });
});

describe('encodeConnectRequest', () => {
  it('is magic, action 0, transaction id (16 bytes, big-endian)', () => {
    const packet = Buffer.from(encodeConnectRequest(0xdeadbeef));
    expect(packet.toString('hex')).toBe('0000041727101980' + '00000000' + 'deadbeef');
  });

  it('refuses transaction ids that are not u32', () => {
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => encodeConnectRequest(bad)).toThrow(TrackerscopeError);
    }
  });
});

describe('encodeScrapeRequest', () => {
  it('is connection id, action 2, transaction id, then the raw hashes in order', () => {
    const hashes = [hashOf(1), hashOf(2), hashOf(3)];
    const packet = Buffer.from(encodeScrapeRequest(0x0102030405060708n, 7, hashes));
    expect(packet.length).toBe(16 + 3 * 20);
    expect(packet.readBigUInt64BE(0)).toBe(0x0102030405060708n);
    expect(packet.readUInt32BE(8)).toBe(2);
    expect(packet.readUInt32BE(12)).toBe(7);
    hashes.forEach((h, i) => {
      expect(packet.subarray(16 + i * 20, 36 + i * 20)).toEqual(Buffer.from(h));
    });
  });

  it('takes the full u64 range of connection ids', () => {
    const packet = Buffer.from(encodeScrapeRequest(0xffff_ffff_ffff_ffffn, 0, [hashOf(0)]));
    expect(packet.readBigUInt64BE(0)).toBe(0xffff_ffff_ffff_ffffn);
    expect(() => encodeScrapeRequest(2n ** 64n, 0, [hashOf(0)])).toThrow(TrackerscopeError);
    expect(() => encodeScrapeRequest(-1n, 0, [hashOf(0)])).toThrow(TrackerscopeError);
  });

  it(`allows 1..${MAX_HASHES_PER_SCRAPE} hashes of exactly 20 bytes`, () => {
    const max = Array.from({ length: MAX_HASHES_PER_SCRAPE }, (_, i) => hashOf(i));
    expect(encodeScrapeRequest(1n, 1, max).length).toBe(16 + 20 * MAX_HASHES_PER_SCRAPE);
    expect(() => encodeScrapeRequest(1n, 1, [...max, hashOf(99)])).toThrow(/at most 60/);
    expect(() => encodeScrapeRequest(1n, 1, [])).toThrow(/at least one/);
    expect(() => encodeScrapeRequest(1n, 1, [new Uint8Array(32)])).toThrow(/32 bytes/);
    expect(() => encodeScrapeRequest(1n, 1, [new Uint8Array(19)])).toThrow(/19 bytes/);
  });
});

describe('decodeReply', () => {
  it('reads a connect reply (exactly 16 bytes)', () => {
    const packet = Buffer.alloc(16);
    packet.writeUInt32BE(0, 0);
    packet.writeUInt32BE(0xcafebabe, 4);
    packet.writeBigUInt64BE(0x8877665544332211n, 8);
    expect(decodeReply(packet)).toEqual({ action: 'connect', txId: 0xcafebabe, connectionId: 0x8877665544332211n });
  });

  it('rejects connect replies of any other length, keeping the transaction id', () => {
    for (const length of [8, 12, 15, 17, 20, 32]) {
      const packet = Buffer.alloc(length);
      packet.writeUInt32BE(0, 0);
      packet.writeUInt32BE(42, 4);
      const decoded = decodeReply(packet);
      expect(decoded).toMatchObject({ action: 'invalid', txId: 42 });
      if (decoded.action === 'invalid') expect(decoded.reason).toContain(`${length} bytes`);
    }
  });

  it('reads scrape entries as seeders, completed, leechers (BEP 15 order)', () => {
    const decoded = decodeReply(reply(2, 9, u32s(5, 100, 3, 0, 0, 0, 0xffffffff, 1, 2)));
    expect(decoded).toEqual({
      action: 'scrape',
      txId: 9,
      counts: [
        { seeders: 5, completed: 100, leechers: 3 },
        { seeders: 0, completed: 0, leechers: 0 },
        { seeders: 0xffffffff, completed: 1, leechers: 2 },
      ],
    });
  });

  it('reads an empty scrape reply (8 bytes) as zero entries', () => {
    expect(decodeReply(reply(2, 1))).toEqual({ action: 'scrape', txId: 1, counts: [] });
  });

  it('rejects every scrape length that is not 8 + 12·n', () => {
    for (let length = 9; length <= 8 + 12 * 3; length++) {
      const packet = Buffer.alloc(length);
      packet.writeUInt32BE(2, 0);
      packet.writeUInt32BE(77, 4);
      const decoded = decodeReply(packet);
      if ((length - 8) % 12 === 0) {
        expect(decoded).toMatchObject({ action: 'scrape', counts: { length: (length - 8) / 12 } });
      } else {
        expect(decoded).toMatchObject({ action: 'invalid', txId: 77 });
      }
    }
  });

  it('rejects packets shorter than a header, without a transaction id', () => {
    for (let length = 0; length < 8; length++) {
      expect(decodeReply(new Uint8Array(length))).toMatchObject({ action: 'invalid', txId: undefined });
    }
  });

  it('reads an error reply with its message (UTF-8, NUL terminator dropped)', () => {
    const text = Buffer.from('Requested download is not authorized — ünïcode\0\0', 'utf8');
    expect(decodeReply(reply(3, 5, text))).toEqual({ action: 'error', txId: 5, message: 'Requested download is not authorized — ünïcode' });
  });

  it('reads an error reply without text (exactly 8 bytes)', () => {
    expect(decodeReply(reply(3, 5))).toEqual({ action: 'error', txId: 5, message: '' });
  });

  it('reads non-UTF-8 error text as latin1, losing no byte', () => {
    const decoded = decodeReply(reply(3, 5, [0x66, 0xe9, 0x80, 0x21]));
    expect(decoded).toEqual({ action: 'error', txId: 5, message: 'f\u00e9\u0080!' });
  });

  it('caps error text, not cutting a UTF-8 sequence into mojibake', () => {
    const long = Buffer.from('é'.repeat(MAX_ERROR_MESSAGE_BYTES), 'utf8');
    const decoded = decodeReply(reply(3, 5, long));
    expect(decoded.action).toBe('error');
    if (decoded.action === 'error') {
      expect(decoded.message).toBe('é'.repeat(MAX_ERROR_MESSAGE_BYTES / 2));
    }
    const odd = Buffer.concat([Buffer.from('a'), long]);
    const decodedOdd = decodeReply(reply(3, 5, odd));
    if (decodedOdd.action === 'error') expect(decodedOdd.message).toBe(`a${'é'.repeat(MAX_ERROR_MESSAGE_BYTES / 2 - 1)}`);
  });

  it('treats announce replies and unknown actions as invalid', () => {
    expect(decodeReply(reply(1, 4, u32s(1800, 0, 0)))).toMatchObject({ action: 'invalid', txId: 4, reason: expect.stringContaining('announce') });
    expect(decodeReply(reply(4, 4))).toMatchObject({ action: 'invalid', txId: 4, reason: expect.stringContaining('unknown action 4') });
    expect(decodeReply(reply(0xffffffff, 4))).toMatchObject({ action: 'invalid' });
  });

  it('reads a view into a larger buffer at its own offset', () => {
    const backing = Buffer.alloc(64, 0xaa);
    const inner = reply(2, 3, u32s(1, 2, 3));
    backing.set(inner, 10);
    expect(decodeReply(backing.subarray(10, 10 + inner.length))).toEqual({ action: 'scrape', txId: 3, counts: [{ seeders: 1, completed: 2, leechers: 3 }] });
  });

  it('never throws on random bytes, and only accepts exact BEP 15 lengths', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const decoded = decodeReply(bytes);
        switch (decoded.action) {
          case 'connect':
            return bytes.length === 16;
          case 'scrape':
            return bytes.length === 8 + 12 * decoded.counts.length;
          case 'error':
            return bytes.length >= 8;
          case 'invalid':
            return typeof decoded.reason === 'string' && (bytes.length < 8) === (decoded.txId === undefined);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on random bytes behind a valid action and transaction id', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.nat(), fc.uint8Array({ maxLength: 200 }), (action, txId, rest) => {
        const decoded = decodeReply(reply(action, txId >>> 0, rest));
        return decoded.txId === txId >>> 0;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('replyTxId (routing a datagram before decoding it)', () => {
  it('reads the u32 after the action, unsigned, and nothing from a packet too short to carry one', () => {
    expect(replyTxId(reply(2, 0xfedcba98))).toBe(0xfedcba98);
    expect(replyTxId(reply(0, 0))).toBe(0);
    expect(replyTxId(new Uint8Array(7))).toBeUndefined();
    expect(replyTxId(new Uint8Array(0))).toBeUndefined();
  });

  it('reads a view into a larger buffer at its own offset', () => {
    const backing = Buffer.alloc(32, 0xee);
    backing.set(reply(3, 0x01020304), 5);
    expect(replyTxId(backing.subarray(5, 13))).toBe(0x01020304);
  });

  it('agrees with decodeReply on every datagram, never throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => replyTxId(bytes) === decodeReply(bytes).txId),
      { numRuns: 2000 },
    );
  });
});

describe('round trips', () => {
  it('scrape request hashes and connection id survive encoding (checked by hand-decoding)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.nat({ max: 0xffffffff }),
        fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { minLength: 1, maxLength: MAX_HASHES_PER_SCRAPE }),
        (connId, txId, hashes) => {
          const packet = Buffer.from(encodeScrapeRequest(connId, txId, hashes));
          if (packet.readBigUInt64BE(0) !== connId || packet.readUInt32BE(8) !== 2 || packet.readUInt32BE(12) !== txId) return false;
          return hashes.every((h, i) => packet.subarray(16 + 20 * i, 36 + 20 * i).equals(Buffer.from(h)));
        },
      ),
    );
  });

  it('scrape replies built by hand decode to the same numbers', () => {
    const entry = fc.record({ seeders: fc.nat({ max: 0xffffffff }), completed: fc.nat({ max: 0xffffffff }), leechers: fc.nat({ max: 0xffffffff }) });
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.array(entry, { maxLength: 74 }), (txId, entries) => {
        const body = u32s(...entries.flatMap((e) => [e.seeders, e.completed, e.leechers]));
        expect(decodeReply(reply(2, txId, body))).toEqual({ action: 'scrape', txId, counts: entries });
      }),
    );
  });
});
