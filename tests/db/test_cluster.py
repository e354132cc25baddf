"""The embedded cluster and the `warp db` commands that drive it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from warp.db import cluster as cl
from warp.errors import ConfigError


def warp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warp.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def warp_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="warp-home-"))
    home.chmod(0o755)
    yield home
    subprocess.run(
        [sys.executable, "-m", "warp.cli.main", "db", "stop"],
        env={**os.environ, "WARP_HOME": str(home)},
        capture_output=True,
        check=False,
    )
    shutil.rmtree(home, ignore_errors=True)


def test_embedded_database_starts_on_first_use_and_stops(warp_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WARP_DATABASE_URL"}
    env["WARP_HOME"] = str(warp_home)
    env["WARP_DB_PORT"] = "54329"

    result = warp("db", "url", env=env)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert str(warp_home / "run").replace("/", "%2F") in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("warp",)
        # Unix socket only: no TCP listener unless one is asked for.
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)

    again = warp("db", "start", env=env)
    assert again.returncode == 0 and "already running" in again.stdout

    migrated = warp("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    status = warp("db", "status", "--json", env=env)
    assert status.returncode == 0 and '"pending"' not in status.stdout and '"applied"' in status.stdout

    stopped = warp("db", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_database_url_from_environment_starts_nothing(warp_home: Path) -> None:
    env = {**os.environ, "WARP_HOME": str(warp_home), "WARP_DATABASE_URL": "postgresql://x@/y"}
    result = warp("db", "url", env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == "postgresql://x@/y"
    assert not (warp_home / "pgdata").exists()


def test_missing_binaries_give_one_clear_line_and_exit_2(warp_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WARP_DATABASE_URL"}
    env.update(WARP_HOME=str(warp_home), WARP_PG_BINDIR=str(warp_home / "nowhere"))
    result = warp("db", "url", env=env)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "PostgreSQL 15" in lines[0] and "WARP_DATABASE_URL" in lines[0]


def test_find_bindir_without_any_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cl.shutil, "which", lambda _name: None)
    monkeypatch.setattr(cl.glob, "glob", lambda _pattern: [])
    with pytest.raises(ConfigError, match="install PostgreSQL 15"):
        cl.find_bindir()


def test_private_parent_directory_is_reported(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root hands the cluster to the postgres user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    cluster = cl.LocalCluster(home=private / "home")
    with pytest.raises(cl.ClusterError, match="not reachable"):
        cluster.start()
