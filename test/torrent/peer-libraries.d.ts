// Types for the dev-only peer libraries the torrent tests and bench/decode.ts compare against
// (they ship no declarations). Only the parts used here are declared.

declare module 'bencode' {
  const bencode: {
    decode(data: Uint8Array): unknown;
    encode(value: unknown): Uint8Array;
  };
  export default bencode;
}

declare module 'parse-torrent' {
  export interface ParsedFile {
    path: string;
    name: string;
    length: number;
    offset: number;
  }
  export interface ParsedTorrent {
    infoHash: string;
    name: string;
    length: number;
    pieceLength: number;
    lastPieceLength: number;
    pieces: string[];
    files: ParsedFile[];
    announce: string[];
    urlList: string[];
    private?: boolean;
    created?: Date;
    createdBy?: string;
    comment?: string;
  }
  export default function parseTorrent(torrentId: Uint8Array | string): Promise<ParsedTorrent>;
}

declare module 'webtorrent-fixtures' {
  import type { ParsedTorrent } from 'parse-torrent';

  export interface TorrentFixture {
    torrentPath: string;
    torrent: Uint8Array;
    contentPath?: string;
    content?: Uint8Array;
    parsedTorrent?: ParsedTorrent;
    magnetURI?: string;
  }
  const fixtures: Record<string, TorrentFixture | { path: string; gzipPath: string }>;
  export default fixtures;
}
