# syntax=docker/dockerfile:1
#
# One image for the api and every worker. The compose command picks the process and starts node on its
# compiled file directly (no npm, no shell, no tsx between the signal and the process; ADR 0027):
#   node --enable-source-maps dist/api/main.js | dist/workers/{trading,matching,outbox}/main.js | dist/db/migrate-cli.js
# `npm run start:cluster` and test/app-commands.int.test.ts run the same command lines in a local copy of
# /app (devstack/build.ts prepareAppDir). test/compose.test.ts checks this file statically.

# ---- build: every dependency, then the compiled tree dist/ (npm run build, devstack/build.ts) --------
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
# dist/: the JavaScript of what the processes load with linked source maps, the SQL migrations, the
# trader's page and the API reference's script (Preact, esbuild, tsx and Scalar stay in this stage).
RUN npm run build

# ---- deps: production node_modules only (native add-ons ship prebuilt for linux-x64-gnu) ----------
FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

# ---- runtime: package.json, production node_modules and dist/, run as the unprivileged `node` user --
FROM node:20.20.2-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and read-only for `node`: the processes write nothing into /app.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# api; trading, matching and outbox worker metrics (scripts/start.ts LOCAL_PORTS)
EXPOSE 3000 9464 9465 9466
CMD ["node", "--enable-source-maps", "dist/api/main.js"]
