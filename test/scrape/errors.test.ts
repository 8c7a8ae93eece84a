import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, createServer as createTlsServer } from 'node:tls';
import { Agent, errors as undiciErrors, fetch, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { asScrapeError, dnsFailure, networkFailure, ScrapeError, type ScrapeErrorCode, TrackerFailureError } from '../../src/scrape/errors.js';
import { BlockedAddressError } from '../../src/scrape/guard.js';
import { scrapeHttp } from '../../src/scrape/http.js';
import { scrapeWebSocket } from '../../src/scrape/ws.js';

/**
 * Plain words for network failures. Wherever the loopback can produce the real error object (a
 * refused connect, a reset, a certificate Node rejects) the test makes it and feeds that object in,
 * so the mapping follows what Node and undici actually throw; the rest are built in their shapes.
 */

const LOOPBACK = '127.0.0.1';
const LOOPBACK_POLICY = { allowPrivate: true };
const HASH = new Uint8Array(20).fill(0x61);
/** Long enough for any loopback exchange; bounds a test that would otherwise hang. */
const EXCHANGE_TIMEOUT_MS = 5000;

/** A TCP port on loopback that nothing listens on (bound by the OS, then released). */
async function closedTcpPort(): Promise<number> {
  const server = createServer();
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function closedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  socket.bind(0, LOOPBACK);
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A TCP server on loopback that does `onConnection` to every connection. */
async function tcpServer(onConnection: (socket: Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** The text a person reads must not carry the address, the port, a URL or Node's own wording. */
function expectNoTrace(text: string, ...secrets: (string | number)[]): void {
  expect(text).not.toMatch(/\d+\.\d+\.\d+\.\d+|\[?::1\]?|https?:\/\/|udp:\/\/|connect E|getaddrinfo|recvmsg/);
  for (const secret of secrets) expect(text).not.toContain(String(secret));
}

describe('real failures on loopback, in plain words', () => {
  it('a refused TCP connection (undici request): the words, the code, and no address', async () => {
    const port = await closedTcpPort();
    const raw = await rejectionOf(request(`http://${LOOPBACK}:${port}/scrape`));
    expect((raw as { code?: string }).code).toBe('ECONNREFUSED');
    expect((raw as Error).message).toContain(`${LOOPBACK}:${port}`);
    const err = asScrapeError(raw);
    expect(err).toBeInstanceOf(ScrapeError);
    expect(err.code).toBe('SCRAPE_CONNECT');
    expect(err.message).toBe('the tracker refused the connection: nothing listens on that port (ECONNREFUSED)');
    expectNoTrace(err.message, port);
    // The machine detail stays for whoever needs it.
    expect(err.cause).toBe(raw);
  });

  it('the same refusal wrapped by fetch ("fetch failed", cause = the errno error) reads the same', async () => {
    const port = await closedTcpPort();
    const raw = await rejectionOf(fetch(`http://${LOOPBACK}:${port}/scrape?passkey=s3cr3t`));
    expect((raw as Error).message).toBe('fetch failed');
    const err = asScrapeError(raw);
    expect(err.message).toBe('the tracker refused the connection: nothing listens on that port (ECONNREFUSED)');
    expectNoTrace(err.message, port, 's3cr3t');
  });

  it('scrapeHttp and scrapeWebSocket (guarded agent) report a refused port in those words', async () => {
    const port = await closedTcpPort();
    const signal = AbortSignal.timeout(EXCHANGE_TIMEOUT_MS);
    const http = (await rejectionOf(scrapeHttp(`http://${LOOPBACK}:${port}/k3y/scrape`, [HASH], { signal, policy: LOOPBACK_POLICY }))) as ScrapeError;
    expect(http.code).toBe('SCRAPE_CONNECT');
    expect(http.message).toBe('the tracker refused the connection: nothing listens on that port (ECONNREFUSED)');
    const ws = (await rejectionOf(scrapeWebSocket(`ws://${LOOPBACK}:${port}/k3y`, [HASH], { signal, policy: LOOPBACK_POLICY }))) as ScrapeError;
    expect(ws.code).toBe('SCRAPE_CONNECT');
    expect(ws.message).toBe('the tracker refused the connection: nothing listens on that port (ECONNREFUSED)');
  });

  it('a UDP datagram to a closed port (ICMP port unreachable) reads as UDP', async () => {
    const port = await closedUdpPort();
    const socket = createSocket('udp4');
    try {
      const raw = await new Promise<Error>((resolve, reject) => {
        let resend: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => reject(new Error('no ICMP error within the timeout')), EXCHANGE_TIMEOUT_MS);
        const done = (err: Error) => {
          clearTimeout(timer);
          clearTimeout(resend);
          resolve(err);
        };
        socket.on('error', done);
        socket.connect(port, LOOPBACK, () => {
          // The first send provokes the ICMP error; the kernel reports it on the next receive or send.
          socket.send(Buffer.from('ping'), (err) => {
            if (err) done(err);
            else resend = setTimeout(() => socket.send(Buffer.from('ping'), (again) => again && done(again)), 20);
          });
        });
      });
      expect((raw as { code?: string }).code).toBe('ECONNREFUSED');
      const err = networkFailure(raw, 'udp');
      expect(err.code).toBe('SCRAPE_CONNECT');
      expect(err.message).toBe("nothing listens on the tracker's UDP port (ECONNREFUSED)");
      expect(asScrapeError(raw, undefined, 'udp').message).toBe(err.message);
      expectNoTrace(err.message, port);
    } finally {
      socket.close();
    }
  });

  it('a reset during connect (RST) is ECONNRESET: the tracker closed the connection', async () => {
    const server = await tcpServer((socket) => socket.resetAndDestroy());
    try {
      const raw = await rejectionOf(request(`http://${LOOPBACK}:${server.port}/`));
      expect((raw as { code?: string }).code).toBe('ECONNRESET');
      const err = asScrapeError(raw);
      expect(err.code).toBe('SCRAPE_CONNECT');
      expect(err.message).toBe('the tracker closed the connection (ECONNRESET)');
      expectNoTrace(err.message, server.port);
    } finally {
      await server.close();
    }
  });

  it('a tracker that closes without a word is UND_ERR_SOCKET: closed before answering', async () => {
    const server = await tcpServer((socket) => socket.end());
    try {
      const raw = await rejectionOf(request(`http://${LOOPBACK}:${server.port}/`));
      expect((raw as { code?: string }).code).toBe('UND_ERR_SOCKET');
      const err = asScrapeError(raw);
      expect(err.code).toBe('SCRAPE_CONNECT');
      expect(err.message).toBe('the tracker closed the connection before answering (UND_ERR_SOCKET)');
    } finally {
      await server.close();
    }
  });

  it('a reply that is not HTTP (undici HTTPParserError) is SCRAPE_BAD_REPLY', async () => {
    const server = await tcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    try {
      const raw = await rejectionOf(request(`http://${LOOPBACK}:${server.port}/`));
      expect((raw as Error).name).toBe('HTTPParserError');
      const err = asScrapeError(raw);
      expect(err.code).toBe('SCRAPE_BAD_REPLY');
      expect(err.message).toMatch(/^the tracker's answer is not valid HTTP( \(HPE_[A-Z_]+\))?$/);
    } finally {
      await server.close();
    }
  });

  it('headers that never come and a body that stalls are timeouts, each in its own words', async () => {
    const silent = await tcpServer(() => undefined);
    const stalling = await tcpServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nd5:files'));
    const agent = new Agent({ headersTimeout: 100, bodyTimeout: 100 });
    try {
      // undici checks these timers about once a second: wait for both at once.
      const [headers, body] = await Promise.all([
        rejectionOf(request(`http://${LOOPBACK}:${silent.port}/`, { dispatcher: agent })),
        request(`http://${LOOPBACK}:${stalling.port}/`, { dispatcher: agent }).then((response) => rejectionOf(response.body.arrayBuffer())),
      ]);
      expect(asScrapeError(headers)).toMatchObject({
        code: 'SCRAPE_TIMEOUT',
        message: 'the tracker accepted the connection but did not start answering in time (UND_ERR_HEADERS_TIMEOUT)',
      });
      expect(asScrapeError(body)).toMatchObject({
        code: 'SCRAPE_TIMEOUT',
        message: 'the tracker stopped sending its answer part-way (UND_ERR_BODY_TIMEOUT)',
      });
    } finally {
      await agent.close();
      await silent.close();
      await stalling.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// TLS: real handshakes against certificates made for these tests (EC P-256, CN/SAN tracker.test).
// SELF_SIGNED, ISSUED and CA are valid 2020–2120; EXPIRED 2000–2001; NOT_YET_VALID 2100–2101.

const LEAF_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbafnO9EwDscmDfUI
bg3V8LR+98/+DeJ5eEMt0pS6QM+hRANCAARljZEcIBM7X7+Zv1UVsmpIVHuELE8h
MT5WlJIGeon1wJQNP8VTuuo014EaV5naUR3N/KbwJn9kkhAc76RvxcOg
-----END PRIVATE KEY-----
`;
const SELF_SIGNED = `-----BEGIN CERTIFICATE-----
MIIBWjCCAQGgAwIBAgIUa02lSKvzsBHTu8+EzPi+kwgIpVgwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMdHJhY2tlci50ZXN0MCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAw
MTAxMDAwMDAwWjAXMRUwEwYDVQQDDAx0cmFja2VyLnRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAARljZEcIBM7X7+Zv1UVsmpIVHuELE8hMT5WlJIGeon1wJQN
P8VTuuo014EaV5naUR3N/KbwJn9kkhAc76RvxcOgoykwJzAMBgNVHRMBAf8EAjAA
MBcGA1UdEQQQMA6CDHRyYWNrZXIudGVzdDAKBggqhkjOPQQDAgNHADBEAiBzsCzr
LjVMtQgERzMX68Uo7jogm5/gY9H7AeZZA5gROwIgNDNTqC0jjIBX5XY/2M+vEpc8
JPIypfVvoJkzozX6zhw=
-----END CERTIFICATE-----
`;
const EXPIRED = `-----BEGIN CERTIFICATE-----
MIIBWTCB/6ADAgECAhRBum8GAiLmLkRp+5WpnOXO/30TlTAKBggqhkjOPQQDAjAX
MRUwEwYDVQQDDAx0cmFja2VyLnRlc3QwHhcNMDAwMTAxMDAwMDAwWhcNMDEwMTAx
MDAwMDAwWjAXMRUwEwYDVQQDDAx0cmFja2VyLnRlc3QwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAARljZEcIBM7X7+Zv1UVsmpIVHuELE8hMT5WlJIGeon1wJQNP8VT
uuo014EaV5naUR3N/KbwJn9kkhAc76RvxcOgoykwJzAMBgNVHRMBAf8EAjAAMBcG
A1UdEQQQMA6CDHRyYWNrZXIudGVzdDAKBggqhkjOPQQDAgNJADBGAiEAh45sDr7j
4r69C4EyXNyccrEuKMIzwdDItJpUc3eK/1MCIQCQvEf+CBHKMMVsQTpvFlhkmqUb
MNjFLWzHwxEbpg8rfQ==
-----END CERTIFICATE-----
`;
const NOT_YET_VALID = `-----BEGIN CERTIFICATE-----
MIIBXTCCAQOgAwIBAgIUCqTkMZC006yhxuuFQt00GASwhd8wCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMdHJhY2tlci50ZXN0MCIYDzIxMDAwMTAxMDAwMDAwWhgPMjEw
MTAxMDEwMDAwMDBaMBcxFTATBgNVBAMMDHRyYWNrZXIudGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABGWNkRwgEztfv5m/VRWyakhUe4QsTyExPlaUkgZ6ifXA
lA0/xVO66jTXgRpXmdpRHc38pvAmf2SSEBzvpG/Fw6CjKTAnMAwGA1UdEwEB/wQC
MAAwFwYDVR0RBBAwDoIMdHJhY2tlci50ZXN0MAoGCCqGSM49BAMCA0gAMEUCIAYD
45AIcTbKRD7g2FRPv9XQVkWxsIrai3nj0GpG7ktSAiEAr/yqUhuY3ZpOmc1bDjOS
HozA2bK0D3iv6KTVtSn9IMc=
-----END CERTIFICATE-----
`;
const CA = `-----BEGIN CERTIFICATE-----
MIIBSjCB8KADAgECAhMces3bWqgUTrf1Dp15CGmxfv5FMAoGCCqGSM49BAMCMBIx
EDAOBgNVBAMMB1Rlc3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAw
MDBaMBIxEDAOBgNVBAMMB1Rlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AASVvPQkrHBV9jJwdgsbZUo0FJyVRvN1S9w5yG3Sbc3WdyEcYOK+ozYyTiv+lHfz
ATBD5ykA5Mx8Sgn0CLIg/NWsoyMwITAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB
/wQEAwIBhjAKBggqhkjOPQQDAgNJADBGAiEAq0JDpF/2Dhzdvt9WnxTzC+CTQEib
RpwbAaHDlx/nhLwCIQCvQUKyGnGsmHnCiiI7qsMaoVR4mw5bWdlX5fiaowRvsA==
-----END CERTIFICATE-----
`;
const ISSUED = `-----BEGIN CERTIFICATE-----
MIIBVDCB/KADAgECAhR6gFpE/4A7au1taclht76JmT6eVjAKBggqhkjOPQQDAjAS
MRAwDgYDVQQDDAdUZXN0IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAwMTAxMDAw
MDAwWjAXMRUwEwYDVQQDDAx0cmFja2VyLnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARljZEcIBM7X7+Zv1UVsmpIVHuELE8hMT5WlJIGeon1wJQNP8VTuuo0
14EaV5naUR3N/KbwJn9kkhAc76RvxcOgoykwJzAMBgNVHRMBAf8EAjAAMBcGA1Ud
EQQQMA6CDHRyYWNrZXIudGVzdDAKBggqhkjOPQQDAgNHADBEAiA1/q0kcffWiGlS
4wMOMpXOfaRMOiOe/n84L+eOj4ctjwIgAXLmqvCC1jQwdkGbMvhNZnCZx3Tg0tUM
dya8MciTkyo=
-----END CERTIFICATE-----
`;

/** Connect to a TLS server on loopback that presents `chain`; resolves with the client's handshake error. */
async function tlsFailure(chain: string, client: ConnectionOptions): Promise<Error> {
  const server = createTlsServer({ key: LEAF_KEY, cert: chain });
  server.on('tlsClientError', () => undefined);
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  try {
    return await new Promise<Error>((resolve, reject) => {
      const socket = tlsConnect({ host: LOOPBACK, port, servername: 'tracker.test', ...client }, () => {
        socket.destroy();
        reject(new Error('the handshake succeeded'));
      });
      socket.setTimeout(EXCHANGE_TIMEOUT_MS, () => {
        socket.destroy();
        reject(new Error('no handshake result within the timeout'));
      });
      socket.on('error', resolve);
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('TLS failures say which', () => {
  const cases: [what: string, chain: () => string, client: () => ConnectionOptions, nodeCode: string, text: string][] = [
    ['a self-signed certificate', () => SELF_SIGNED, () => ({}), 'DEPTH_ZERO_SELF_SIGNED_CERT', "the tracker's certificate is self-signed"],
    ['an expired certificate', () => EXPIRED, () => ({ ca: EXPIRED }), 'CERT_HAS_EXPIRED', "the tracker's certificate has expired"],
    [
      'a certificate not valid yet',
      () => NOT_YET_VALID,
      () => ({ ca: NOT_YET_VALID }),
      'CERT_NOT_YET_VALID',
      "the tracker's certificate is not valid yet (or this server's clock is wrong)",
    ],
    [
      'a certificate for another host name',
      () => SELF_SIGNED,
      () => ({ ca: SELF_SIGNED, servername: 'other.test' }),
      'ERR_TLS_CERT_ALTNAME_INVALID',
      "the tracker's certificate is for a different host name",
    ],
    [
      'a certificate from an unknown authority, sent without its chain',
      () => ISSUED,
      () => ({}),
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      "the tracker's certificate is not signed by a trusted authority, or the tracker does not send its intermediate certificates",
    ],
    [
      'a chain ending in an untrusted self-signed root',
      () => ISSUED + CA,
      () => ({}),
      'SELF_SIGNED_CERT_IN_CHAIN',
      "the tracker's certificate chain ends in a self-signed certificate that is not trusted",
    ],
  ];
  for (const [what, chain, client, nodeCode, text] of cases) {
    it(`${what}: ${nodeCode}`, async () => {
      const raw = await tlsFailure(chain(), client());
      expect((raw as { code?: string }).code).toBe(nodeCode);
      const err = asScrapeError(raw);
      expect(err.code).toBe('SCRAPE_TLS');
      expect(err.message).toBe(`${text} (${nodeCode})`);
      // Node's altname message names both host names; ours names neither.
      expect(err.message).not.toContain('other.test');
      expect(err.message).not.toContain('tracker.test');
    });
  }

  it('the certificates are good otherwise: trusting the authority, the handshake succeeds', async () => {
    await expect(tlsFailure(ISSUED, { ca: CA })).rejects.toThrow('the handshake succeeded');
  });

  it('undici over https to a self-signed tracker gives the same code, the same words', async () => {
    const server = createTlsServer({ key: LEAF_KEY, cert: SELF_SIGNED });
    server.on('tlsClientError', () => undefined);
    server.listen(0, LOOPBACK);
    await once(server, 'listening');
    try {
      const raw = await rejectionOf(request(`https://${LOOPBACK}:${(server.address() as { port: number }).port}/scrape`));
      expect(asScrapeError(raw).message).toBe("the tracker's certificate is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('https:// to a plain-HTTP port: the tracker does not speak TLS there', async () => {
    const plain = await tcpServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    try {
      const raw = await rejectionOf(request(`https://${LOOPBACK}:${plain.port}/scrape`));
      const err = asScrapeError(raw);
      expect(err.code).toBe('SCRAPE_TLS');
      // Node 20+ names the OpenSSL reason; older ones said EPROTO, still a TLS failure.
      expect(err.message).toMatch(
        /^(the tracker does not speak TLS on that port \(it may be a plain http:\/\/ tracker\) \(ERR_SSL_WRONG_VERSION_NUMBER\)|the secure \(TLS\) connection to the tracker failed \(EPROTO\))$/,
      );
    } finally {
      await plain.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Codes the loopback cannot produce, in the shapes Node and undici give them

/** A Node errno error as libuv builds it: the message names the syscall, the address and the port. */
function errnoError(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code} 203.0.113.9:6969 - Local (0.0.0.0:0) http://t.example/s3cr3t/announce`), {
    code,
    errno: -1,
    syscall,
    address: '203.0.113.9',
    port: 6969,
  });
}

describe('every mapped code', () => {
  const table: [code: string, scrapeCode: ScrapeErrorCode, text: string][] = [
    ['ECONNREFUSED', 'SCRAPE_CONNECT', 'the tracker refused the connection: nothing listens on that port'],
    ['ECONNRESET', 'SCRAPE_CONNECT', 'the tracker closed the connection'],
    ['ECONNABORTED', 'SCRAPE_CONNECT', 'the connection to the tracker was aborted'],
    ['EPIPE', 'SCRAPE_CONNECT', 'the tracker closed the connection while the request was being sent'],
    ['EHOSTUNREACH', 'SCRAPE_CONNECT', "the tracker's network cannot be reached"],
    ['ENETUNREACH', 'SCRAPE_CONNECT', "the tracker's network cannot be reached"],
    ['EHOSTDOWN', 'SCRAPE_CONNECT', "the tracker's host is down"],
    ['ENETDOWN', 'SCRAPE_CONNECT', "this server's network is down"],
    ['EADDRNOTAVAIL', 'SCRAPE_CONNECT', "this server has no local address from which the tracker's address can be reached"],
    ['EACCES', 'SCRAPE_CONNECT', "this server's firewall does not allow contacting the tracker"],
    ['EPERM', 'SCRAPE_CONNECT', "this server's firewall does not allow contacting the tracker"],
    ['EMFILE', 'SCRAPE_CONNECT', 'this server has too many connections open to open another'],
    ['ENFILE', 'SCRAPE_CONNECT', 'this server has too many connections open to open another'],
    ['ENOBUFS', 'SCRAPE_CONNECT', 'this server ran out of network buffers'],
    ['ETIMEDOUT', 'SCRAPE_TIMEOUT', 'the connection to the tracker timed out'],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'SCRAPE_TIMEOUT', 'the secure (TLS) handshake with the tracker did not finish in time'],
    ['ENOTFOUND', 'SCRAPE_DNS', "the tracker's host name does not exist"],
    ['EAI_AGAIN', 'SCRAPE_DNS', "the tracker's host name could not be looked up right now"],
    ['EAI_FAIL', 'SCRAPE_DNS', "the tracker's host name could not be looked up: the name server failed"],
    ['ENODATA', 'SCRAPE_DNS', "the tracker's host name has no address"],
    ['UNABLE_TO_GET_ISSUER_CERT', 'SCRAPE_TLS', "the tracker's certificate is signed by an authority this server does not trust"],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SCRAPE_TLS', "the tracker's certificate is signed by an authority this server does not trust"],
    ['CERT_UNTRUSTED', 'SCRAPE_TLS', "the tracker's certificate is not trusted"],
    ['CERT_REJECTED', 'SCRAPE_TLS', "the tracker's certificate is not trusted"],
    ['CERT_REVOKED', 'SCRAPE_TLS', "the tracker's certificate has been revoked"],
    ['CERT_SIGNATURE_FAILURE', 'SCRAPE_TLS', "the tracker's certificate has an invalid signature"],
    ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'SCRAPE_TLS', 'the tracker and this server have no TLS version in common'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'SCRAPE_TLS', 'the tracker and this server have no TLS version in common'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'SCRAPE_TLS', 'the tracker and this server could not agree on how to encrypt (TLS handshake failure)'],
    // Not in the table: any other TLS code, and EPROTO, still say TLS.
    ['ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC', 'SCRAPE_TLS', 'the secure (TLS) connection to the tracker failed'],
    ['EPROTO', 'SCRAPE_TLS', 'the secure (TLS) connection to the tracker failed'],
    ['HPE_INVALID_CONSTANT', 'SCRAPE_BAD_REPLY', "the tracker's answer is not valid HTTP"],
  ];
  for (const [code, scrapeCode, text] of table) {
    it(`${code} → ${scrapeCode}: "${text}"`, () => {
      const raw = errnoError(code);
      const err = asScrapeError(raw);
      expect(err).toBeInstanceOf(ScrapeError);
      expect({ code: err.code, message: err.message }).toEqual({ code: scrapeCode, message: `${text} (${code})` });
      expectNoTrace(err.message, 6969, 's3cr3t', 't.example');
      expect(err.cause).toBe(raw);
    });
  }

  const undiciTable: [make: () => Error, scrapeCode: ScrapeErrorCode, text: string][] = [
    [() => new undiciErrors.ConnectTimeoutError(), 'SCRAPE_TIMEOUT', 'the tracker did not accept the connection in time (UND_ERR_CONNECT_TIMEOUT)'],
    [() => new undiciErrors.ClientClosedError(), 'SCRAPE_CONNECT', 'the connection was closed before the tracker answered (UND_ERR_CLOSED)'],
    [() => new undiciErrors.ClientDestroyedError(), 'SCRAPE_CONNECT', 'the connection was closed before the tracker answered (UND_ERR_DESTROYED)'],
    [
      () => new undiciErrors.ResponseContentLengthMismatchError(),
      'SCRAPE_BAD_REPLY',
      "the tracker's answer is not as long as it said it would be (UND_ERR_RES_CONTENT_LENGTH_MISMATCH)",
    ],
    [() => new undiciErrors.ResponseExceededMaxSizeError(), 'SCRAPE_TOO_LARGE', "the tracker's answer is larger than allowed (UND_ERR_RES_EXCEEDED_MAX_SIZE)"],
    [() => new undiciErrors.HeadersOverflowError(), 'SCRAPE_TOO_LARGE', "the tracker's answer has larger headers than allowed (UND_ERR_HEADERS_OVERFLOW)"],
    [
      () => new undiciErrors.MessageSizeExceededError(),
      'SCRAPE_TOO_LARGE',
      "the tracker's message is larger than allowed (UND_ERR_WS_MESSAGE_SIZE_EXCEEDED)",
    ],
    // A request aborted by a signal we were not given: cut short, so a timeout.
    [() => new undiciErrors.RequestAbortedError(), 'SCRAPE_TIMEOUT', 'the tracker did not answer in time'],
    [() => new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'SCRAPE_TIMEOUT', 'the tracker did not answer in time'],
  ];
  for (const [make, scrapeCode, text] of undiciTable) {
    it(`${make().name} → ${scrapeCode}`, () => {
      expect(asScrapeError(make())).toMatchObject({ code: scrapeCode, message: text });
    });
  }

  it('UDP wording differs only where UDP differs (a refused port); the rest read the same', () => {
    expect(networkFailure(errnoError('ECONNREFUSED', 'recvmsg'), 'udp').message).toBe("nothing listens on the tracker's UDP port (ECONNREFUSED)");
    expect(networkFailure(errnoError('EHOSTUNREACH', 'send'), 'udp').message).toBe(networkFailure(errnoError('EHOSTUNREACH')).message);
  });
});

describe('asScrapeError around the edges', () => {
  it('the deadline firing wins over whatever broke after it', () => {
    const controller = new AbortController();
    controller.abort();
    const err = asScrapeError(errnoError('ECONNRESET'), controller.signal);
    expect(err).toMatchObject({ code: 'SCRAPE_TIMEOUT', message: 'the tracker did not answer in time' });
  });

  it('our own errors pass through untouched', () => {
    const failure = new TrackerFailureError('torrent not registered');
    expect(asScrapeError(failure)).toBe(failure);
    const blocked = new BlockedAddressError('tracker.test', '10.0.0.1', 'private');
    expect(asScrapeError(blocked)).toBe(blocked);
  });

  it('finds the code through nested causes and inside an AggregateError (happy eyeballs)', () => {
    const nested = new TypeError('fetch failed', { cause: new Error('wrapper', { cause: errnoError('EHOSTUNREACH') }) });
    expect(asScrapeError(nested).message).toBe("the tracker's network cannot be reached (EHOSTUNREACH)");
    const both = new AggregateError([errnoError('ENETUNREACH'), errnoError('ECONNREFUSED')], 'connect failed');
    expect(asScrapeError(both).message).toBe("the tracker's network cannot be reached (ENETUNREACH)");
  });

  it('a cause chain that loops ends', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(asScrapeError(a)).toMatchObject({ code: 'SCRAPE_CONNECT', message: 'the request to the tracker failed' });
  });

  it('an unknown failure gives neutral words: its code when it looks like one, never its message', () => {
    const coded = asScrapeError(errnoError('EWEIRD'));
    expect(coded).toMatchObject({ code: 'SCRAPE_CONNECT', message: 'the request to the tracker failed (EWEIRD)' });
    const plain = asScrapeError(new Error('connect to http://t.example/s3cr3t/announce at 203.0.113.9 failed'));
    expect(plain.message).toBe('the request to the tracker failed');
    const oddCode = asScrapeError(Object.assign(new Error('x'), { code: 'see http://t.example/s3cr3t' }));
    expect(oddCode.message).toBe('the request to the tracker failed');
    expect(asScrapeError('a string').message).toBe('the request to the tracker failed');
    expect(asScrapeError(null).message).toBe('the request to the tracker failed');
  });
});

describe('dnsFailure', () => {
  it('uses the DNS words when the code is a lookup code, and SCRAPE_DNS whatever the lookup threw', () => {
    expect(dnsFailure(errnoError('ENOTFOUND', 'getaddrinfo'))).toMatchObject({
      code: 'SCRAPE_DNS',
      message: "the tracker's host name does not exist (ENOTFOUND)",
    });
    expect(dnsFailure(errnoError('EAI_AGAIN', 'getaddrinfo')).message).toBe("the tracker's host name could not be looked up right now (EAI_AGAIN)");
    expect(dnsFailure(errnoError('ECONNREFUSED', 'queryA'))).toMatchObject({
      code: 'SCRAPE_DNS',
      message: "the tracker's host name could not be looked up (ECONNREFUSED)",
    });
    expect(dnsFailure(new Error('resolver exploded at 203.0.113.9'))).toMatchObject({
      code: 'SCRAPE_DNS',
      message: "the tracker's host name could not be looked up",
    });
  });
});
