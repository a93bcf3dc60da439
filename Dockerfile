# One image for the gateway, the demo subgraphs and the storefront; docker-compose.yml picks the command per service.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY subgraphs subgraphs
COPY scripts scripts
COPY gateway.config.ts ./
COPY frontend frontend
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# The gateway turns Apollo's telemetry off in code as well; this keeps any other Apollo package quiet too.
ENV NODE_ENV=production APOLLO_TELEMETRY_DISABLED=true GATEWAY_CONFIG=dist/gateway.config.js
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules node_modules
# dist holds the storefront's built page too (dist/frontend/public, written by `npm run build`).
COPY --from=build /app/dist dist
# The subgraphs' SDL (the demo subgraphs load theirs at start) and the composed supergraph the gateway serves.
COPY schema schema
# The storefront's operations: the gateway's trusted list (TRUSTED_DOCUMENTS_MANIFESTS, and the config module's).
COPY frontend/persisted-query-manifest.json frontend/persisted-query-manifest.json
USER node
EXPOSE 4000 4100
CMD ["node", "dist/src/main.js"]
