# syntax=docker/dockerfile:1
# egx-portal container image: one static-ish binary (glibc) on distroless.
#
#   docker build -t egx-portal .
#   docker run -p 127.0.0.1:8080:8080 -v egx-data:/data \
#     -e EGX_BUCKET=my-bucket -e EGX_REGION=eu-central-1 \
#     -e EGX_PUBLIC_URL=https://upload.example.com egx-portal
#
# Stage 1 builds the upload page's front-end exactly as scripts/build-assets.sh
# does (npm ci from the lock file, pinned esbuild); stage 2 builds the release
# binary with its dependencies in a layer of their own (rebuilt only when
# Cargo.toml/Cargo.lock change); stage 3 is distroless "cc" (glibc, libgcc, CA
# certificates, no shell), running as the non-root user 65532.

FROM node:22-bookworm-slim AS assets
WORKDIR /src/static/src
COPY static/src/package.json static/src/package-lock.json ./
RUN npm ci --no-audit --no-fund
WORKDIR /src
COPY static/src static/src
COPY scripts/build-assets.sh scripts/lib.sh scripts/
RUN bash scripts/build-assets.sh

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/api \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > tests/api/main.rs \
 && cargo build --release --locked \
 && rm -rf src tests
COPY src src
COPY templates templates
COPY static static
COPY --from=assets /src/static/dist static/dist
COPY migrations migrations
COPY iam iam
COPY tests/api/main.rs tests/api/main.rs
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin egx-portal \
 && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="egx-portal" \
      org.opencontainers.image.description="Give teammates upload-only access to one S3 bucket, safely." \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /src/target/release/egx-portal /usr/local/bin/egx-portal
COPY --from=build --chown=65532:65532 /data /data
ENV EGX_LISTEN=0.0.0.0:8080 \
    EGX_DATA_DIR=/data \
    EGX_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/egx-portal", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/egx-portal"]
CMD ["serve"]
