#!/usr/bin/env bash
# Installs the system packages WARP needs (PostgreSQL 15 server binaries) when they are missing.
# As root it uses apt-get; otherwise it says what to install and fails.
# Optional: Kamailio + SIPp for the SIP end-to-end test (tests/e2e/sip), installed the same way when
# possible; when they cannot be installed that test skips, so their absence never fails this script.
set -euo pipefail

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql-15 postgresql-contrib)
fi
# PgBouncer: the production pooler, run in front of the test cluster by tests/ops.
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  missing+=(pgbouncer)
fi

sip_missing=()
if ! command -v kamailio >/dev/null 2>&1 \
  || ! compgen -G '/usr/lib/*/kamailio/modules/db_postgres.so' >/dev/null; then
  sip_missing+=(kamailio kamailio-postgres-modules)
fi
if ! command -v sipp >/dev/null 2>&1; then
  sip_missing+=(sip-tester)
fi

install_sip_tools() {
  [ ${#sip_missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "note: the SIP end-to-end test will be skipped; install ${sip_missing[*]} to run it" >&2
    return 0
  fi
  echo "installing system packages: ${sip_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq "${sip_missing[@]}" >/dev/null; }; then
    echo "note: could not install ${sip_missing[*]}; the SIP end-to-end test will be skipped" >&2
    return 0
  fi
  # The test starts its own Kamailio on loopback: no system service may keep port 5060 or run at boot.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now kamailio >/dev/null 2>&1 || true
  else
    service kamailio stop >/dev/null 2>&1 || true
    update-rc.d kamailio disable >/dev/null 2>&1 || true
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  install_sip_tools
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
install_sip_tools
