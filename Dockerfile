# Production image: build stage compiles TypeScript; runtime stage has production dependencies only and runs as
# a non-root user. Point it at PostgreSQL with DATABASE_URL (the embedded database is for local use).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY test/bench ./test/bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0
WORKDIR /app
RUN groupadd --system arogya && useradd --system --gid arogya --home /app arogya
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
COPY profiles ./profiles
COPY conformance ./conformance
# Distil the R4 definitions once at build time (the cache lives in node_modules/.cache, read-only at run time).
RUN node -e "require('./dist/server/fhir/definitions').r4Model()" && chown -R arogya:arogya /app/node_modules/.cache
USER arogya
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/server/main.js", "serve"]
