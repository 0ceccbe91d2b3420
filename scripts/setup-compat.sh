#!/usr/bin/env bash
# Install what the compatibility suite (compat/) needs: a Python venv with the Kafka clients
# written by others, and kcat. Idempotent and fast when everything is already there.
set -euo pipefail

cd "$(dirname "$0")/.."

VENV=.venv
PY_PACKAGES=(
  "confluent-kafka==2.16.*"
  "kafka-python==2.3.*"
  "python-snappy==0.7.*"
  "lz4==4.*"
  "zstandard==0.25.*"
  "pytest==8.*"
  "prometheus-client==0.26.*"
)

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup-compat: creating $VENV"
  python3 -m venv "$VENV"
fi

# Check the installed versions against the pins before reaching the network.
if ! "$VENV/bin/python" - "${PY_PACKAGES[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
from fnmatch import fnmatch
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if not fnmatch(version(name), want):
        sys.exit(1)
PYEOF
then
  echo "setup-compat: installing Python clients"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
fi

# Debian packages: kcat, and RapidJSON's headers for librdkafka's test 0098 (a C++ test that
# parses statistics JSON; scripts/librdkafka-tests.sh compiles it).
APT_NEEDED=()
command -v kcat >/dev/null 2>&1 || APT_NEEDED+=(kcat)
# openssl makes the TLS tests' certificates and signs their OAUTHBEARER tokens.
command -v openssl >/dev/null 2>&1 || APT_NEEDED+=(openssl)
[ -f /usr/include/rapidjson/document.h ] || APT_NEEDED+=(rapidjson-dev)
if [ "${#APT_NEEDED[@]}" -gt 0 ]; then
  echo "setup-compat: installing ${APT_NEEDED[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${APT_NEEDED[@]}" >/dev/null
fi

"$VENV/bin/python" -c "import confluent_kafka, kafka, snappy, lz4, zstandard, pytest, prometheus_client" \
  || { echo "setup-compat: a Python client failed to import" >&2; exit 1; }
command -v kcat >/dev/null || { echo "setup-compat: kcat missing after install" >&2; exit 1; }
command -v openssl >/dev/null || { echo "setup-compat: openssl missing after install" >&2; exit 1; }
[ -f /usr/include/rapidjson/document.h ] || { echo "setup-compat: rapidjson-dev missing after install" >&2; exit 1; }
