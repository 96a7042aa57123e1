#!/usr/bin/env bash
# Make sure Debian's chromium is there for the dashboard's browser tests (Playwright drives
# it through executable_path; it cannot download its own browsers here). Installs the
# `chromium` package when missing and we can (root + apt). Under CI (any truthy CI) a
# missing browser is an error; elsewhere the browser tests skip, saying why.
set -euo pipefail
if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium (Debian package chromium) for the browser tests ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
  exit 0
fi
ci="$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')"
if [[ "$ci" =~ ^(1|true|yes|on)$ ]]; then
  echo "chromium is required in CI and cannot be installed here (need root and apt-get)" >&2
  exit 1
fi
echo "warning: no chromium found; the dashboard's browser tests will be skipped" >&2
