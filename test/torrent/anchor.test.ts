import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import bencode from 'bencode';
import parseTorrentNpm from 'parse-torrent';
import { describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/torrent/index.js';
import { LIBTORRENT_CORPUS, pieceHashes, sha1Hex } from './helpers.js';

/**
 * The anchor bug (issue #2): parse-torrent hashes a re-encoding of `info`. When the file's `info`
 * keys are not in canonical order, the re-encoding sorts them and the hash is not the torrent's.
 * The info-hash is the SHA-1 of the bytes as written (BEP 3); ours is.
 */
describe('info-hash of an info dictionary with unsorted keys', () => {
  // Written by hand, byte by byte: `name` before `length` and `piece length` before `length` —
  // not the BEP 3 order. The info bytes are known without decoding anything.
  const info = Buffer.concat([
    Buffer.from('d4:name12:unsorted.bin12:piece lengthi16384e6:lengthi20000e6:pieces40:'),
    pieceHashes(2),
    Buffer.from('e'),
  ]);
  const file = Buffer.concat([Buffer.from('d8:announce30:http://127.0.0.1:6969/announce4:info'), info, Buffer.from('e')]);
  const trueHash = sha1Hex(info);

  it('is the SHA-1 of the bytes as written: ours', () => {
    const t = parseTorrent(file);
    expect(t.infoHashV1).toBe(trueHash);
    expect(t.warnings.map((w) => w.code)).toContain('TORRENT_NONCANONICAL_INFO');
    expect(t.name).toBe('unsorted.bin');
    expect(t.totalSize).toBe(20000);
    expect(t.pieceCount).toBe(2);
  });

  it('parse-torrent gets another hash: that of its canonical re-encoding', async () => {
    const theirs = await parseTorrentNpm(file);
    const reencoded = Buffer.from(bencode.encode((bencode.decode(file) as { info: unknown }).info));
    expect(reencoded.equals(info)).toBe(false);
    expect(theirs.infoHash).toBe(sha1Hex(reencoded));
    expect(theirs.infoHash).not.toBe(trueHash);
  });

  it("libtorrent agrees with us on its own unordered.torrent; parse-torrent doesn't", async () => {
    const bytes = readFileSync(join(LIBTORRENT_CORPUS, 'unordered.torrent'));
    const libtorrent = JSON.parse(readFileSync(join(LIBTORRENT_CORPUS, 'libtorrent-2.0.8-view.json'), 'utf8'))['unordered.torrent'];
    expect(parseTorrent(bytes).infoHashV1).toBe(libtorrent.infoHashV1);
    expect((await parseTorrentNpm(bytes)).infoHash).not.toBe(libtorrent.infoHashV1);
  });
});
