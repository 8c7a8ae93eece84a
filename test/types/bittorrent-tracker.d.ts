/**
 * Types for the part of bittorrent-tracker@10 (npm, dev only; it ships no declarations) that the
 * tests and benches use: the in-process Server and the one-shot `Client.scrape()`. Shapes follow
 * the package's server.js and client.js; anything not listed here is deliberately left out.
 */
declare module 'bittorrent-tracker' {
  import type { Socket as UdpSocket } from 'node:dgram';
  import { EventEmitter } from 'node:events';
  import type { Agent as HttpAgent, Server as HttpServer } from 'node:http';
  import type { Agent as HttpsAgent } from 'node:https';

  export interface ServerOptions {
    /** Serve HTTP announce/scrape (default true). */
    http?: boolean;
    /** Serve UDP (BEP 15) on udp4 and udp6 sockets (default true). */
    udp?: boolean;
    /** Serve WebTorrent's WebSocket protocol on the HTTP server (default true). */
    ws?: boolean;
    /** Serve the /stats page (default true). */
    stats?: boolean;
    /** Announce interval told to clients, in milliseconds (scrape replies carry it as min_request_interval, in seconds). */
    interval?: number;
    trustProxy?: boolean;
    /** Accept (`cb(null)`) or refuse (`cb(err)`) an info-hash (40 hex). */
    filter?: (infoHash: string, params: unknown, cb: (err: Error | null) => void) => void;
  }

  /** Where each listener binds; HTTP, UDP (IPv4) and UDP (IPv6) take separate addresses. */
  export interface ListenHostnames {
    http?: string;
    udp?: string;
    udp6?: string;
  }

  /** Events the Server emits that tests listen to (peer events carry the announce's address). */
  export interface ServerEvents {
    /** A listener failed (e.g. a port clash). */
    error: [err: Error];
    /** A request was refused (malformed, filtered): the tracker answered it with `failure reason`. */
    warning: [err: Error];
    /** Every listener is bound. */
    listening: [];
  }

  export class Server extends EventEmitter<ServerEvents> {
    constructor(opts?: ServerOptions);
    /** null when started with `http: false`. */
    http: HttpServer | null;
    /** null when started with `udp: false`; may be set to null before listen() to skip binding. */
    udp4: UdpSocket | null;
    udp6: UdpSocket | null;
    listening: boolean;
    /** With port 0 each listener gets its own free port: read them from `http.address()`, `udp4.address()`. */
    listen(port?: number, hostname?: string | ListenHostnames, onListening?: () => void): void;
    close(cb?: () => void): void;
  }

  /** One swarm's numbers as the client reports them (HTTP `files` entry, or a BEP 15 scrape entry). */
  export interface ScrapeData {
    announce: string;
    /** 40 hex. */
    infoHash: string;
    complete: number;
    incomplete: number;
    downloaded: number;
  }

  export interface ScrapeOptions {
    announce: string;
    /**
     * HTTP trackers take 40-hex text; the UDP client copies this value into the packet as it is,
     * so UDP needs the 20 raw bytes.
     */
    infoHash: string | Uint8Array;
    /**
     * Agents for its HTTP(S) requests: despite the name, the one way its HTTP client (simple-get)
     * takes an agent; no proxy is involved unless the agent is one.
     */
    proxyOpts?: { httpAgent?: HttpAgent; httpsAgent?: HttpsAgent };
  }

  export interface ClientEvents {
    error: [err: Error];
    warning: [err: Error];
    scrape: [data: ScrapeData];
  }

  export class Client extends EventEmitter<ClientEvents> {
    /** Scrape one tracker for one info-hash with a throwaway client; `cb` gets the first error or warning. */
    static scrape(opts: ScrapeOptions, cb: (err: Error | null, data: ScrapeData) => void): Client;
    destroy(cb?: (err: Error | null) => void): void;
  }

  export default Client;
}
