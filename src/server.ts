import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, ConfigError, loadConfig } from './config.js';
import { GuardedAgent } from './scrape/index.js';
import { createApp, createLogger } from './web/app.js';

/**
 * The entry point: read the config (refusing a bad one with a clear message and exit code 1), serve,
 * and on SIGTERM/SIGINT stop accepting, let in-flight requests finish, then exit.
 */

/** Exit code for a configuration the server refuses to start with. */
const EXIT_BAD_CONFIG = 1;
/** Exit code when shutdown had to cut connections that did not finish in time. */
const EXIT_FORCED_SHUTDOWN = 1;

function readConfigOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      // A person reads this at start-up: the message, not a stack trace.
      process.stderr.write(`trackerscope: invalid configuration: ${err.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }
}

const config = readConfigOrExit();
const logger = createLogger(config);
const dispatcher = new GuardedAgent({ policy: { allowPrivate: config.allowPrivateTrackers } });
const app = createApp(config, { logger, dispatcher });

/**
 * How often Node looks for requests past their deadline. Its default is 30 s, so a stalled upload
 * with REQUEST_TIMEOUT_MS=5000 would still hold its connection for up to 35 s; checking every
 * second keeps the 408 within about a second of the setting, for a cost of one timer.
 */
const CONNECTIONS_CHECK_INTERVAL_MS = 1000;
/** Node's own default for the time to receive the request headers; a shorter REQUEST_TIMEOUT_MS wins. */
const NODE_HEADERS_TIMEOUT_MS = 60_000;

// Slow uploads (slowloris) must not hold a connection forever: the whole request, headers and
// body, has REQUEST_TIMEOUT_MS to arrive, then gets a 408.
const server: Server = createServer(
  {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: Math.min(NODE_HEADERS_TIMEOUT_MS, config.requestTimeoutMs),
    connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
  },
  app,
);
server.listen(config.port, config.host);

server.on('listening', () => {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info(
    {
      address: address.address,
      port: address.port,
      allowPrivateTrackers: config.allowPrivateTrackers,
      trustProxy: config.trustProxy,
      rateLimit: `${config.rateLimitMax}/${config.rateLimitWindowMs}ms`,
    },
    `trackerscope listening on http://${host}:${address.port}`,
  );
});

server.on('error', (err: NodeJS.ErrnoException) => {
  const reason =
    err.code === 'EADDRINUSE'
      ? `port ${config.port} on ${config.host} is already in use (set PORT to another one)`
      : err.code === 'EACCES'
        ? `not allowed to listen on ${config.host}:${config.port} (ports below 1024 need privileges)`
        : err.code === 'EADDRNOTAVAIL'
          ? `${config.host} is not an address of this machine (check HOST)`
          : err.message;
  logger.fatal({ code: err.code }, `cannot start: ${reason}`);
  process.exit(1);
});

/** During shutdown, how often connections that went idle are closed. */
const IDLE_SWEEP_MS = 200;

let shuttingDown = false;

function shutdown(signal: NodeJS.Signals): void {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
  const force = setTimeout(() => {
    logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'requests still running at the shutdown deadline; closing them');
    server.closeAllConnections();
    process.exit(EXIT_FORCED_SHUTDOWN);
  }, config.shutdownTimeoutMs);
  force.unref();
  server.close(() => {
    void dispatcher.close().finally(() => {
      clearTimeout(force);
      logger.info('stopped');
      process.exit(0);
    });
  });
  // Keep-alive connections with no request in flight would hold close() open until they time out,
  // including those that go idle after finishing their last request.
  server.closeIdleConnections();
  setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// Express 5 routes async errors to the error handler; anything that still escapes is a bug to log,
// not a reason to drop every other visitor's request.
process.on('unhandledRejection', (reason) => {
  logger.error({ err: reason }, 'unhandled promise rejection');
});
