import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTorrent, type Torrent, TorrentError } from '../../src/torrent/index.js';
import { LIBTORRENT_CORPUS } from './helpers.js';

/**
 * libtorrent's own test torrents (test/fixtures/libtorrent-corpus, copied from test/test_torrents/
 * of arvidn/libtorrent) against libtorrent 2.0.8's view of each. Where libtorrent loads a file we must load it with the same hashes, piece count, size and
 * trackers; where it refuses one we refuse it with a specific code, or accept it with a warning
 * for a reason given below.
 */

interface LibtorrentView {
  loads: boolean;
  error?: string;
  infoHashV1: string | null;
  infoHashV2: string | null;
  name: string;
  numFiles: number;
  numPieces: number;
  pieceLength: number;
  private: boolean;
  totalSize: number;
  trackers: string[];
  /** null where the view left the list out (large lists). */
  files: { path: string; size: number; pad: boolean }[] | null;
}

type Refusal = { refuse: string } | { accept: string; because: string };

/** Every file libtorrent refuses, and what we do instead. */
const REFUSED_BY_LIBTORRENT: Record<string, Refusal> = {
  // Garbage after the end of the document is ignored (as libtorrent does); the name in what is
  // left is NUL bytes, which libtorrent reports as a missing name.
  'bad_name.torrent': { refuse: 'TORRENT_BAD_NAME' },
  'invalid_file_size.torrent': { refuse: 'TORRENT_BAD_FILE_LENGTH' },
  'invalid_info.torrent': { refuse: 'TORRENT_NO_INFO' },
  'invalid_name.torrent': { refuse: 'TORRENT_BAD_NAME' },
  'invalid_path_list.torrent': { refuse: 'TORRENT_BAD_PATH' },
  'invalid_piece_len.torrent': { refuse: 'TORRENT_BAD_PIECE_LENGTH' },
  'invalid_pieces.torrent': { refuse: 'TORRENT_BAD_PIECES' },
  'invalid_symlink.torrent': { refuse: 'TORRENT_BAD_PATH' },
  'many_pieces.torrent': { refuse: 'TORRENT_TOO_MANY_PIECES' },
  'missing_path_list.torrent': { refuse: 'TORRENT_BAD_PATH' },
  'missing_piece_len.torrent': { refuse: 'TORRENT_BAD_PIECE_LENGTH' },
  'negative_file_size.torrent': { refuse: 'TORRENT_BAD_FILE_LENGTH' },
  'negative_piece_len.torrent': { refuse: 'TORRENT_BAD_PIECE_LENGTH' },
  'negative_size.torrent': { refuse: 'TORRENT_BAD_FILE_LENGTH' },
  'no_files.torrent': { refuse: 'TORRENT_NO_FILES' },
  'no_name.torrent': { refuse: 'TORRENT_BAD_NAME' },
  'string.torrent': { refuse: 'TORRENT_NOT_DICT' },
  'unaligned_pieces.torrent': { refuse: 'TORRENT_BAD_PIECES' },
  'v2_bad_file_alignment.torrent': { refuse: 'TORRENT_HYBRID_MISMATCH' },
  'v2_deep_recursion.torrent': { refuse: 'TORRENT_NOT_BENCODE' },
  // The trailing `e` is ignored, as libtorrent does; the file tree then names a file "".
  'v2_empty_filename.torrent': { refuse: 'TORRENT_BAD_FILE_TREE' },
  'v2_invalid_file.torrent': { refuse: 'TORRENT_BAD_FILE_TREE' },
  'v2_invalid_pad_file.torrent': { refuse: 'TORRENT_BAD_FILE_TREE' },
  'v2_large_file.torrent': { refuse: 'TORRENT_BAD_FILE_LENGTH' },
  'v2_large_offset.torrent': { refuse: 'TORRENT_TOO_MANY_PIECES' },
  'v2_mismatching_metadata.torrent': { refuse: 'TORRENT_HYBRID_MISMATCH' },
  'v2_missing_file_root_invalid_symlink.torrent': { refuse: 'TORRENT_BAD_PIECES_ROOT' },
  'v2_no_power2_piece.torrent': { refuse: 'TORRENT_BAD_PIECE_LENGTH' },
  'v2_overlong_integer.torrent': { refuse: 'TORRENT_NOT_BENCODE' },
  'v2_piece_size.torrent': { refuse: 'TORRENT_BAD_PIECE_LENGTH' },
  'v2_zero_root.torrent': { refuse: 'TORRENT_BAD_PIECES_ROOT' },
  'v2_zero_root_small.torrent': { refuse: 'TORRENT_BAD_PIECES_ROOT' },
  'zero.torrent': { refuse: 'TORRENT_ZERO_SIZE' },
  'zero2.torrent': { refuse: 'TORRENT_ZERO_SIZE' },
  'v2_invalid_piece_layer.torrent': {
    accept: 'TORRENT_BAD_PIECE_LAYERS',
    because: 'piece layers sit outside info: hashes, files and trackers are intact, so the swarm can be scraped honestly',
  },
  'v2_invalid_piece_layer_size.torrent': {
    accept: 'TORRENT_BAD_PIECE_LAYERS',
    because: 'a piece layer of the wrong size only stops a client verifying pieces from this file; the info-hash is unaffected',
  },
  'v2_non_multiple_piece_layer.torrent': {
    accept: 'TORRENT_BAD_PIECE_LAYERS',
    because: 'as above: the layer is malformed, the info dictionary is not',
  },
  'v2_piece_layer_invalid_file_hash.torrent': {
    accept: 'TORRENT_BAD_PIECE_LAYERS',
    because: "the layer is filed under the wrong root, so the file's layer is missing: peers can supply it (BEP 52)",
  },
  'v2_unordered_files.torrent': {
    accept: 'TORRENT_NONCANONICAL_INFO',
    because: 'unsorted keys do not change what the info-hash is (we hash the bytes as written, as libtorrent does for v1)',
  },
};

function corpusFiles(): string[] {
  return readdirSync(LIBTORRENT_CORPUS)
    .filter((f) => f.endsWith('.torrent'))
    .sort();
}

const view: Record<string, LibtorrentView> = JSON.parse(readFileSync(join(LIBTORRENT_CORPUS, 'libtorrent-2.0.8-view.json'), 'utf8'));
/** The corpus as copied from libtorrent: a file lost or added would silently shrink the test. */
const CORPUS_SIZE = 108;

/** libtorrent keeps at most this many bytes of a path element (then the extension). */
const LIBTORRENT_NAME_CUT = 240;

/**
 * The most a corpus file may take to parse. They parse in microseconds: this catches a hang, and
 * leaves room for a GC pause or a descheduled test worker on a loaded 2-core machine.
 */
const PARSE_BUDGET_MS = 1000;

function timedParse(file: string): { torrent?: Torrent; error?: unknown; ms: number } {
  const bytes = readFileSync(join(LIBTORRENT_CORPUS, file));
  const start = performance.now();
  try {
    const torrent = parseTorrent(bytes);
    return { torrent, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

const codes = (t: Torrent) => t.warnings.map((w) => w.code);

describe("libtorrent's test torrents (test/fixtures/libtorrent-corpus)", () => {
  it("is complete: every file has libtorrent's view, and the reverse", () => {
    expect(corpusFiles().length).toBe(CORPUS_SIZE);
    expect(corpusFiles()).toEqual(Object.keys(view).sort());
  });

  it('the table lists exactly the files libtorrent refuses', () => {
    const refused = Object.entries(view)
      .filter(([, v]) => !v.loads)
      .map(([f]) => f)
      .sort();
    expect(Object.keys(REFUSED_BY_LIBTORRENT).sort()).toEqual(refused);
  });

  for (const file of corpusFiles()) {
    const lt = view[file]!;
    it(`${file}: ${lt.loads ? 'loads, and agrees with libtorrent' : `libtorrent refuses (${lt.error})`}`, () => {
      const { torrent: t, error, ms } = timedParse(file);
      expect(ms).toBeLessThan(PARSE_BUDGET_MS);
      if (error !== undefined) {
        // Never a crash or a generic error: a TorrentError with a specific code and a message.
        expect(error).toBeInstanceOf(TorrentError);
        expect((error as TorrentError).message.length).toBeGreaterThan(10);
      }
      if (lt.loads) {
        expect(error).toBeUndefined();
        expect(t!.infoHashV1).toBe(lt.infoHashV1);
        expect(t!.infoHashV2).toBe(lt.infoHashV2);
        expect(t!.pieceCount).toBe(lt.numPieces);
        expect(t!.pieceLength).toBe(lt.pieceLength);
        expect(t!.private).toBe(lt.private);
        expect([...new Set(t!.trackers.flat())].sort()).toEqual([...new Set(lt.trackers)].sort());
        const listed = lt.files?.filter((f) => !f.pad);
        if (listed !== undefined) expect(t!.files.map((f) => f.size)).toEqual(listed.map((f) => f.size));
        else expect(t!.files.length + t!.paddingFiles).toBe(lt.numFiles);
        if (t!.version === 'v2') {
          // libtorrent counts the tail padding it adds after each v2 file; we count the content.
          const aligned = t!.files.reduce((sum, f) => sum + Math.ceil(f.size / t!.pieceLength!) * t!.pieceLength!, 0);
          expect(aligned).toBe(lt.totalSize);
        } else {
          expect(t!.totalSize).toBe(lt.totalSize);
          expect(t!.files.length + t!.paddingFiles).toBe(lt.numFiles);
        }
        // libtorrent sanitises names for writing to disk and cuts them at 240 bytes: compare loosely.
        const sanitised = codes(t!).some((c) => c === 'TORRENT_UNSAFE_NAME' || c === 'TORRENT_TEXT_ENCODING');
        if (!sanitised) expect(t!.name!.slice(0, LIBTORRENT_NAME_CUT)).toBe(lt.name.slice(0, LIBTORRENT_NAME_CUT));
        return;
      }
      const expected = REFUSED_BY_LIBTORRENT[file]!;
      if ('refuse' in expected) {
        expect(error, 'we accepted a file libtorrent refuses').toBeDefined();
        expect((error as TorrentError).code).toBe(expected.refuse);
      } else {
        expect(error, `expected acceptance: ${expected.because}`).toBeUndefined();
        expect(codes(t!)).toContain(expected.accept);
      }
    });
  }
});
