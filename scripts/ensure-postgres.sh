#!/usr/bin/env bash
# Make sure a PostgreSQL server binary is available for the test suite's throwaway
# clusters. Installs Debian's `postgresql` package when missing and we can (root + apt).
# Under CI (any truthy CI: true, 1, yes, on) a missing server is an error; elsewhere the
# PostgreSQL tests skip, saying why.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing PostgreSQL (Debian package postgresql) for the tests ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  exit 0
fi
ci="$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')"
if [[ "$ci" =~ ^(1|true|yes|on)$ ]]; then
  echo "PostgreSQL is required in CI and cannot be installed here (need root and apt-get)" >&2
  exit 1
fi
echo "warning: no PostgreSQL server found; the PostgreSQL tests will be skipped" >&2
