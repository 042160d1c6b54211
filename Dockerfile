# syntax=docker/dockerfile:1
#
# One image for the api and every worker. The compose command picks the process, exactly as locally:
#   npm run start:api | start:worker:trading | start:worker:matching | start:worker:outbox | migrate
# TypeScript runs through tsx (a runtime dependency), like the local scripts; the only build step is the
# trader's page (web/, esbuild, a runtime dependency like tsx), bundled into web/dist at image build.

# ---- deps: production node_modules only (native add-ons ship prebuilt for linux-x64-gnu) ----------
FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

# ---- runtime: the sources plus node_modules, run as the unprivileged `node` user ----------------
FROM node:20.20.2-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY --from=deps /app/node_modules ./node_modules
# Owned by root and read-only for `node`: the processes write nothing into /app (tsx caches in /tmp).
COPY . .
RUN node --import tsx web/build.ts
USER node
# api; trading, matching and outbox worker metrics (scripts/start.ts LOCAL_PORTS)
EXPOSE 3000 9464 9465 9466
CMD ["npm", "run", "start:api"]
