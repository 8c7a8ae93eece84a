# syntax=docker/dockerfile:1
# trackerscope: build the TypeScript, then ship only dist/, views/, public/ and production deps,
# running as the unprivileged `node` user.
#   docker build -t trackerscope .
#   docker run -d -p 127.0.0.1:3000:3000 --name trackerscope trackerscope

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: dev dependencies + tsc --------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- production dependencies only ---------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Root-owned and read-only for the app: nothing here is written at run time (uploads stay in memory).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY views ./views
COPY public ./public
USER node
EXPOSE 3000
# Node's own fetch: the slim image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The server finishes requests in flight on SIGTERM (SHUTDOWN_TIMEOUT_MS, default 10 s): give
# `docker stop -t` at least that long.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
