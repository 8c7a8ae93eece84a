import type { Warning } from '../errors.js';

/** A file of the torrent as a person sees it (BEP 47 padding files are not listed). */
export interface TorrentFile {
  /**
   * Path as clients lay the torrent out: the torrent's name, then the file's path elements, joined
   * with `/` (single-file torrents: the name alone). Shown as written, never sanitised.
   */
  path: string;
  /** Size in bytes. */
  size: number;
}

export type TorrentVersion = 'v1' | 'v2' | 'hybrid';

/**
 * One model for a `.torrent` file, a magnet link or a bare info-hash. Fields a magnet or a bare
 * hash cannot know are `null` (never 0): `hasMetadata` says which kind this is.
 */
export interface Torrent {
  /** Where the model came from. */
  source: 'file' | 'magnet' | 'hash';
  /** True when built from a full `info` dictionary (a .torrent file). */
  hasMetadata: boolean;
  /** Display name (UTF-8 variant preferred); for a magnet without `dn`, null. */
  name: string | null;
  /** v1 info-hash: SHA-1 of the original `info` bytes, 40 lowercase hex; null for v2-only. */
  infoHashV1: string | null;
  /** v2 info-hash (BEP 52): full SHA-256 of the `info` bytes, 64 lowercase hex; null for v1-only. */
  infoHashV2: string | null;
  version: TorrentVersion;
  /** Sum of all file sizes, padding files included (what is transferred). */
  totalSize: number | null;
  pieceLength: number | null;
  pieceCount: number | null;
  files: TorrentFile[];
  /** Count of padding files hidden from `files` (BEP 47). */
  paddingFiles: number;
  /** BEP 27 private flag. */
  private: boolean;
  comment: string | null;
  createdBy: string | null;
  creationDate: Date | null;
  /** BEP 19 `url-list` web seeds. */
  webSeeds: string[];
  /** BEP 12 tiers of announce URLs (falling back to `announce`), duplicates removed, order kept. */
  trackers: string[][];
  /** Things accepted leniently (unsorted keys, unknown encodings, …) that the page shows. */
  warnings: Warning[];
}
