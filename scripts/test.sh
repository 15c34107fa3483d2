#!/usr/bin/env bash
# Install (into .venv) and run every test: core units, page tests (AppTest) and browser
# tests (Playwright driving Debian's Chromium). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium from Debian's packages for the browser tests..."
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif [ -n "${CI:-}" ]; then
    echo "CI needs Chromium (apt-get install chromium) for the browser tests" >&2
    exit 1
  else
    echo "note: Chromium not found; browser tests will be skipped (sudo apt-get install chromium)"
  fi
fi
exec .venv/bin/python -m pytest "$@"
