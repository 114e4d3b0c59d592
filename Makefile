# Switchboard's entry points. `make run` and `make test` are all a newcomer needs; both set up what is missing.
#
# Builds share one target directory across checkouts (CI's fresh clone reuses what a previous build compiled);
# override with CARGO_TARGET_DIR=... as usual.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/switchboard-target
CARGO ?= cargo
BUF := tools/buf/node_modules/.bin/buf

.PHONY: setup run build test test-console test-examples test-chart image test-image console proto-lint lint fmt bench eval eval-calibrate openapi fuzz clean

setup:
	@scripts/setup.sh

## Build and start the whole platform on embedded defaults (SQLite, dev CA) in ./.switchboard, beside the provider
## sandbox, with a demo tenant connected to it (scripts/run.sh).
run: setup
	@scripts/fetch-embedding-model.sh
	@CARGO="$(CARGO)" scripts/run.sh

build: setup
	$(CARGO) build --workspace --all-targets

## Every test: contracts lint, then the Rust suites (SQLite and PostgreSQL, in-process and Redis, the embedded
## event log and Kafka on a tansu broker that this target installs, starts and stops), the console, the client
## examples, the chart, and the image under podman (built from the tests' debug binary, tagged 0.1.0-test, so that
## no release build is needed; `make test-image` tests the release image).
test: setup proto-lint
	@scripts/fetch-embedding-model.sh
	@scripts/ensure-postgres.sh
	@scripts/ensure-redis.sh
	@scripts/with-kafka.sh $(CARGO) test --workspace --locked
	@CARGO="$(CARGO)" scripts/test-console.sh
	@scripts/test-examples.sh
	@scripts/test-chart.sh
	@SWITCHBOARD_IMAGE_BINARY="$(CARGO_TARGET_DIR)/debug/switchboard" SWITCHBOARD_IMAGE_VERSION=0.1.0-test scripts/build-image.sh
	@SWITCHBOARD_IMAGE_VERSION=0.1.0-test scripts/test-image.sh

## The Helm chart's tests alone: render with Helm's engine, lint --strict, Kubernetes schemas, charts/tests/.
test-chart:
	@scripts/test-chart.sh

## The client examples (examples/: Python over gRPC, TypeScript over connect-node, a curl walk-through of REST)
## against a live platform.
test-examples: setup
	$(CARGO) build -q --locked -p switchboard -p switchboard-sandbox
	@scripts/test-examples.sh

## The web console's tests alone: component tests (Vitest), then end to end in Chromium against a live platform.
test-console: setup
	@CARGO="$(CARGO)" scripts/test-console.sh

## The image without pulling anything (scripts/build-image.sh): the Dockerfile's run-time stage on a base made here
## from scratch with Debian's buildah (the release binary, the libraries it links, CA certificates, the nonroot
## user), tagged localhost/switchboard:<version> and archived in $(CARGO_TARGET_DIR)/image/.
image: setup
	$(CARGO) build --release --locked -p switchboard --bin switchboard
	@scripts/build-image.sh

## The image under podman (scripts/test-image.sh): no shell, owners and modes, --version, then `up` read-only as user
## 65532 until its health port reports SERVING. Says so, and passes, where podman cannot run a container.
test-image: image
	@scripts/test-image.sh

## Build the web console into web/dist (make run does it too).
console: setup
	@scripts/build-console.sh

proto-lint: setup
	$(BUF) lint
	$(BUF) build -o /dev/null

## fmt, clippy (warnings are errors), buf lint.
lint: setup proto-lint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## Throughput and latency numbers (release build); prints a table.
bench: setup
	@scripts/ensure-postgres.sh
	@scripts/ensure-redis.sh
	@scripts/with-kafka.sh $(CARGO) bench -p switchboard --bench platform --bench edge --bench layers --bench data --bench events --bench connectors --locked
	@scripts/fetch-embedding-model.sh
	$(CARGO) bench -p switchboard-embedding --bench embedding --locked
	$(CARGO) bench -p switchboard-orchestrator --bench orchestrator --locked
	$(CARGO) bench -p switchboard-models --bench chain --locked

## The intent router with the real embedding model on the test part of services/orchestrator/eval/intents.jsonl:
## accuracy, out-of-scope recall, the confusion matrix. A dev build: it shares the tests' build, and runs in seconds.
eval:
	@scripts/fetch-embedding-model.sh
	$(CARGO) run -q -p switchboard-orchestrator --example eval

## The measurements behind the router's calibration: cross-validation on the tuning part only (a few minutes).
eval-calibrate:
	@scripts/fetch-embedding-model.sh
	$(CARGO) run -q -p switchboard-orchestrator --example eval -- --calibrate

## Fuzz the network-facing parsers, FUZZ_SECONDS each (default 60). Installs cargo-fuzz on first use; stable
## Rust with RUSTC_BOOTSTRAP for the instrumentation flags, no sanitizer.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := path_template rest_request response_json access_token refresh_token
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd services/gateway/fuzz && for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)/fuzz $(CARGO) fuzz run --sanitizer none $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## Regenerate the checked-in OpenAPI document (a test fails while it is stale).
openapi:
	$(CARGO) run -q -p switchboard -- openapi > services/gateway/openapi.json

clean:
	$(CARGO) clean
