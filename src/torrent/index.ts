export {
  DEFAULT_MAX_MAGNET_LENGTH,
  MagnetError,
  type MagnetErrorCode,
  type MagnetOptions,
  parseInfoHash,
  parseMagnet,
  parseTorrentInput,
} from './magnet.js';
export {
  DEFAULT_MAX_FILE_LENGTH,
  DEFAULT_MAX_FILE_TREE_DEPTH,
  DEFAULT_MAX_PIECE_COUNT,
  DEFAULT_MAX_PIECE_LENGTH,
  DEFAULT_MAX_TOTAL_SIZE,
  DEFAULT_MAX_VERIFIED_LAYER_HASHES,
  DEFAULT_TEXT_WINDOW_BYTES,
  NO_TRACKERS_WARNING,
  normaliseTiers,
  normaliseUrlList,
  type ParseTorrentOptions,
  parseTorrent,
  TorrentError,
  type TorrentErrorCode,
  type TorrentWarningCode,
} from './metainfo.js';
export type { Torrent, TorrentFile, TorrentVersion } from './types.js';
