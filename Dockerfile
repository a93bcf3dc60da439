# One image for the gateway and the demo subgraphs; docker-compose.yml picks the command per service.
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
COPY --from=build /app/dist dist
# The subgraphs' SDL (the demo subgraphs load theirs at start) and the composed supergraph the gateway serves.
COPY schema schema
USER node
EXPOSE 4000
CMD ["node", "dist/src/main.js"]
