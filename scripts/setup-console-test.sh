#!/usr/bin/env bash
# Install what the web console's browser test (compat/test_console.py) needs: Debian's
# chromium (headless) and playwright-core from npm (compat/console/node_modules, pinned by
# compat/console/package-lock.json). Playwright's own browser downloads are not used.
# Idempotent and fast when everything is already there.
set -euo pipefail

cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v chromium >/dev/null 2>&1; then
  echo "setup-console-test: installing chromium (Debian)"
  apt_install chromium fonts-dejavu-core
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-console-test: installing node and npm (Debian)"
  apt_install nodejs npm
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup-console-test: playwright-core needs node 20 or newer, found $(node --version)" >&2
  exit 1
fi

if [ ! -f compat/console/node_modules/playwright-core/package.json ]; then
  echo "setup-console-test: installing playwright-core (npm ci)"
  (cd compat/console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null 2>&1 \
  || { echo "setup-console-test: chromium does not start headless" >&2; exit 1; }
node -e "require('./compat/console/node_modules/playwright-core')" \
  || { echo "setup-console-test: playwright-core failed to load" >&2; exit 1; }
