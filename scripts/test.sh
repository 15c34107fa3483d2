#!/usr/bin/env bash
# Install (into .venv) and run every test: core units, page tests (AppTest) and browser
# tests (Playwright driving Debian's Chromium). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements-dev.txt
# Debian's packages the tests drive: Chromium (browser tests) and PostgreSQL (the class store's
# second backend). Installed when running as root with apt-get; otherwise those tests skip.
apt_updated=""
install_debian() {  # PACKAGE WHY
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing $1 from Debian's packages for $2..."
    [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null && apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    return 1
  fi
}
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if ! install_debian chromium "the browser tests"; then
    if [ -n "${CI:-}" ]; then
      echo "CI needs Chromium (apt-get install chromium) for the browser tests" >&2
      exit 1
    fi
    echo "note: Chromium not found; browser tests will be skipped (sudo apt-get install chromium)"
  fi
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  install_debian postgresql "the class store's PostgreSQL tests" \
    || echo "note: PostgreSQL not installed; its class-store tests will be skipped (sudo apt-get install postgresql)"
fi
exec .venv/bin/python -m pytest "$@"
