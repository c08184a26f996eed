# step-runner's image. Build: docker build -t step-runner .
# Run:   docker run -p 3000:3000 -e SIGNATURE_KEY=... -v "$PWD/config:/config" -e STEPS_FILE=/config/steps.yaml step-runner

# The build: npm ci, tsc, then production dependencies only. The steps are
# in scripts/build-image.sh, which npm test runs on a copy of the repo.
FROM node:20.20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY scripts/build-image.sh scripts/
COPY src/ src/
COPY schemas/ schemas/
COPY steps.yaml steps.test.yaml ./
RUN scripts/build-image.sh /src /app

FROM node:20.20-bookworm-slim
# tini as PID 1: it passes SIGTERM on to node and reaps zombies (node as PID 1
# would ignore SIGTERM unless it installs a handler, and reaps nothing).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    STEPS_FILE=/app/steps.yaml
WORKDIR /app
COPY --from=build --chown=root:root /app /app
# The unprivileged user of the node image; the app's files stay read-only to it.
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# node itself, not npm: npm would stand between the signals and the server.
CMD ["node", "dist/main.js"]
