# egx-portal container image.
#   docker build -t egx-portal .
#   docker run -p 8080:8080 -v egx-data:/data -e EGX_BUCKET=... -e EGX_REGION=... \
#              -e EGX_PUBLIC_URL=https://upload.example.com egx-portal
# Stage 1 builds a release binary (dependencies cached in their own layer);
# stage 2 is a distroless image with CA certificates, running as non-root.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/api \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs tests/api/main.rs \
 && cargo build --release --locked \
 && rm -rf src tests
COPY src src
COPY templates templates
COPY static static
COPY migrations migrations
COPY iam iam
COPY tests/api/main.rs tests/api/main.rs
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin egx-portal \
 && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/egx-portal /usr/local/bin/egx-portal
COPY --from=build --chown=65532:65532 /data /data
# MALLOC_MMAP_THRESHOLD_: glibc otherwise raises its mmap threshold after the
# first argon2id hash frees its 19 MiB, and later hashes then stay resident in
# per-thread arenas (idle RSS grew ~19 MiB per blocking thread that hashed);
# fixed at 128 KiB, each hash's memory goes back to the OS when it is freed.
# Measured in docs/BENCHMARKS.md (bench/footprint.sh).
ENV EGX_LISTEN=0.0.0.0:8080 \
    EGX_DATA_DIR=/data \
    EGX_LOG_FORMAT=json \
    MALLOC_MMAP_THRESHOLD_=131072
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/usr/local/bin/egx-portal", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/egx-portal"]
CMD ["serve"]
