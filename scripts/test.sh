#!/usr/bin/env bash
# The project's test command: build, Rust tests, then the compatibility suite with real
# Kafka clients (confluent-kafka, kafka-python, kcat) against a real `rill serve`, including
# the web console's browser test (headless chromium, compat/test_console.py) and librdkafka's
# own tests 0011 and 0081 (compat/test_librdkafka.py) and transaction tests 0098, 0103 and 0129
# (compat/test_librdkafka_txn.py), built from the rdkafka-sys sources that the cargo build
# below leaves in target/release/build.
# Everything uses the release profile so heavy crates (librdkafka) compile once, and one
# `cargo test --no-run` builds every crate, test and the `rill` binary with the same features
# (a separate `cargo build -p rill` would compile tokio, kafka-protocol and the rest twice).
# The parsers' never-panic checks run as property tests inside `cargo test`; the libFuzzer
# targets (scripts/fuzz.sh) are the longer, on-demand version and are not part of this run.
# Format (cargo fmt --check) and lints (clippy -D warnings on every target) are checked too.
# Prints each phase's time. Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."

phase_start=$SECONDS
phase() {
  echo "==> $1 (previous phase took $((SECONDS - phase_start)) s)"
  phase_start=$SECONDS
}

phase "cargo fmt --check"
cargo fmt --all -- --check

phase "build setup (OpenSSL headers for librdkafka's TLS)"
bash scripts/setup-build.sh

phase "cargo test --release --workspace --no-run (builds target/release/rill too)"
cargo test --release --workspace --no-run

# After the build: clippy checks every target (tests, bench) with the release profile, so the
# build scripts and proc macros it needs are already there.
phase "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --release --workspace --all-targets -- -D warnings

# Before the Rust tests: some of them drive kcat, which this installs on a fresh machine.
phase "compat setup"
bash scripts/setup-compat.sh
bash scripts/setup-console-test.sh

phase "cargo test --release --workspace"
cargo test --release --workspace

phase "compat suite (pytest)"
RILL_BIN="$PWD/target/release/rill" .venv/bin/python -m pytest compat -ra -q -p no:cacheprovider "$@"
echo "==> compat suite took $((SECONDS - phase_start)) s; all phases $SECONDS s"
