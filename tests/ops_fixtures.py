"""Production-shaped fixtures: PgBouncer (transaction pooling) and a streaming read replica.

Both are session-scoped and start once per test process, in front of / behind the test cluster.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from warp.db.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[1]
# Same as the test cluster (tests/conftest.py); a hot standby needs max_connections >= the primary's.
FAST_TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
    )
    if found is None:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "pgbouncer.sh"), "install"], check=False, capture_output=True
        )
        found = shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
        )
    return found


def _socket_of(url: str) -> tuple[str, str]:
    params = conninfo_to_dict(url)
    host, port = str(params.get("host") or ""), str(params.get("port") or "5432")
    if not host.startswith("/"):
        pytest.skip(
            "PgBouncer/replica fixtures need the private test cluster (WARP_TEST_DATABASE_URL is remote)"
        )
    return host, port


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")]:
            os.chown(p, pg.pw_uid, pg.pw_gid)


@dataclass
class Bouncer:
    port: int

    def url(self, db_url: str) -> str:
        """``db_url``'s database, reached through PgBouncer on loopback."""
        dbname = conninfo_to_dict(db_url)["dbname"]
        return make_conninfo(host="127.0.0.1", port=str(self.port), user="postgres", dbname=str(dbname))


@pytest.fixture(scope="session")
def pgbouncer(pg_admin_url: str) -> Iterator[Bouncer]:
    """PgBouncer in transaction pooling mode on 127.0.0.1 in front of the test cluster (2 server connections per database)."""
    binary = _pgbouncer_binary()
    if binary is None:
        pytest.skip(
            "pgbouncer is not installed and cannot be (scripts/pgbouncer.sh install needs root and apt)"
        )
    host, pg_port = _socket_of(pg_admin_url)
    home = Path(tempfile.mkdtemp(prefix="warp-pgbouncer-"))
    home.chmod(0o755)
    port = _free_port()
    (home / "userlist.txt").write_text('"postgres" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={host} port={pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
"""
    )
    _chown(home)
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "pgbouncer.sh"), "start", str(home / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                log = (home / "pgbouncer.log").read_text() if (home / "pgbouncer.log").exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {err} {log}") from None
            time.sleep(0.1)
    try:
        yield Bouncer(port=port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def replica(pg_admin_url: str) -> Iterator[LocalCluster]:
    """A streaming hot-standby replica of the test cluster, made with pg_basebackup."""
    host, port = _socket_of(pg_admin_url)
    home = Path(tempfile.mkdtemp(prefix="warp-replica-"))
    home.chmod(0o755)
    standby = LocalCluster(
        home=home, port=int(port), server_options={**FAST_TEST_SETTINGS, "hot_standby": "on"}
    )
    standby._prepare_dirs()
    standby._run(
        [
            standby._bin("pg_basebackup"),
            "-D",
            str(standby.data_dir),
            "-h",
            host,
            "-p",
            port,
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ]
    )
    standby.start()
    try:
        yield standby
    finally:
        standby.stop()
        shutil.rmtree(home, ignore_errors=True)


def replica_url(standby: LocalCluster, db_url: str) -> str:
    """``db_url``'s database on the replica."""
    return standby.url(str(conninfo_to_dict(db_url)["dbname"]))


def wait_for_replay(primary_url: str, standby_url: str, timeout: float = 30) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with psycopg.connect(primary_url, autocommit=True) as p:
        row = p.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(standby_url, autocommit=True) as s:
                done = s.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
            if done and done[0]:
                return
        except psycopg.OperationalError:
            pass  # the database itself may not have been replayed yet
        if time.monotonic() > deadline:
            raise AssertionError(f"replica did not replay up to {target} within {timeout}s")
        time.sleep(0.1)
