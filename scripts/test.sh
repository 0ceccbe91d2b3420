#!/usr/bin/env bash
# The project's test command: build, Rust tests, then the compatibility suite with real
# Kafka clients (confluent-kafka, kafka-python, kcat) against a real `rill serve`, including
# the web console's browser test (headless chromium, compat/test_console.py).
# Everything uses the release profile so heavy crates (librdkafka) compile once.
# Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."

echo "==> cargo build --release -p rill"
cargo build --release -p rill

# Before the Rust tests: some of them drive kcat, which this installs on a fresh machine.
echo "==> compat setup"
bash scripts/setup-compat.sh
bash scripts/setup-console-test.sh

echo "==> cargo test --release --workspace"
cargo test --release --workspace

echo "==> fuzz targets (briefly)"
bash scripts/fuzz.sh

echo "==> compat suite (pytest)"
RILL_BIN="$PWD/target/release/rill" .venv/bin/python -m pytest compat -ra -q -p no:cacheprovider "$@"
