#!/usr/bin/env bash
# PgBouncer for WARP: `scripts/pgbouncer.sh install` installs the Debian package (as root);
# `scripts/pgbouncer.sh start CONFIG` runs it in the foreground (as the postgres user when root:
# PgBouncer refuses to run as root). The test suite writes its own config (transaction pooling on
# loopback in front of the test cluster, see tests/ops_fixtures.py); docs/operations.md has the
# production settings.
set -euo pipefail

bin() { command -v pgbouncer || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; } || true; }

case "${1:-}" in
  install)
    if [ -n "$(bin)" ]; then exit 0; fi
    if [ "$(id -u)" -ne 0 ]; then
      echo "pgbouncer is not installed (sudo apt-get install -y pgbouncer)" >&2
      exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq pgbouncer >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }
    # The package's own service is not WARP's: keep it stopped.
    if command -v systemctl >/dev/null 2>&1; then systemctl stop pgbouncer >/dev/null 2>&1 || true; fi
    ;;
  start)
    config="${2:?usage: scripts/pgbouncer.sh start CONFIG}"
    if [ "$(id -u)" -eq 0 ]; then exec runuser -u postgres -- "$(bin)" "$config"; fi
    exec "$(bin)" "$config"
    ;;
  *)
    echo "usage: scripts/pgbouncer.sh install | start CONFIG" >&2
    exit 2
    ;;
esac
