#!/usr/bin/env bash
# Runs each cargo-fuzz target briefly (default 10 s each; FUZZ_SECONDS to change).
# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept
# them. Sanitizers are off (-s none): the targets look for panics and aborts in safe code.
# Installs cargo-fuzz from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-10}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
for target in request_frame record_batch; do
  echo "==> fuzz $target for ${seconds}s"
  log="$(mktemp)"
  set +e
  cargo fuzz run "$target" -s none -O -- -max_total_time="$seconds" -rss_limit_mb=4096 >"$log" 2>&1
  status=$?
  set -e
  grep -E "^(Done|SUMMARY)|panicked|ERROR|deadly signal" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz target $target failed (exit $status); the input is under fuzz/artifacts/$target/"
    exit "$status"
  fi
done
