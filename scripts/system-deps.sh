#!/usr/bin/env bash
# Installs the system packages WARP needs (PostgreSQL 15 server binaries) when they are missing.
# As root it uses apt-get; otherwise it says what to install and fails.
set -euo pipefail

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql-15 postgresql-contrib)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]})" >&2
  exit 2
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian's package starts a cluster of its own; WARP runs private clusters, so stop it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for conf in /etc/postgresql/*/main; do
    [ -d "$conf" ] || continue
    v=$(basename "$(dirname "$conf")")
    pg_ctlcluster "$v" main stop >/dev/null 2>&1 || true
  done
fi
