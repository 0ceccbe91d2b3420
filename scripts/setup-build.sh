#!/usr/bin/env bash
# Install what the workspace build needs beyond the Rust toolchain: OpenSSL's headers and
# pkg-config, for librdkafka built with TLS and SASL/SCRAM (the `rdkafka` crate's `ssl`
# feature, used by the tests and rill-bench). Idempotent and fast when they are there.
set -euo pipefail

APT_NEEDED=()
[ -f /usr/include/openssl/ssl.h ] || APT_NEEDED+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || APT_NEEDED+=(pkg-config)
if [ "${#APT_NEEDED[@]}" -gt 0 ]; then
  echo "setup-build: installing ${APT_NEEDED[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${APT_NEEDED[@]}" >/dev/null
fi
[ -f /usr/include/openssl/ssl.h ] || { echo "setup-build: libssl-dev missing after install" >&2; exit 1; }
