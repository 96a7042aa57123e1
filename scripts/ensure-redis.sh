#!/usr/bin/env bash
# Make sure Redis (the Celery broker) is available for the Celery test and make scale-demo.
# Installs Debian's `redis-server` package when missing and we can (root + apt). The test
# and the demo start their own server on a free port: the package's system service is kept
# from starting at install (policy-rc.d), and disabled where systemd runs.
# Under CI (any truthy CI: true, 1, yes, on) a missing server is an error; elsewhere the
# Celery test skips, saying why.
set -euo pipefail
if command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Redis (Debian package redis-server) for the Celery test ..."
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # no service starts during this install
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
  if [ -d /run/systemd/system ]; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
  exit 0
fi
ci="$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')"
if [[ "$ci" =~ ^(1|true|yes|on)$ ]]; then
  echo "Redis is required in CI and cannot be installed here (need root and apt-get)" >&2
  exit 1
fi
echo "warning: no redis-server found; the Celery test will be skipped" >&2
