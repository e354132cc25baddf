"""A private PostgreSQL cluster under ``$WARP_HOME``: the embedded default database.

Used when ``WARP_DATABASE_URL`` is unset, and by the test suite. The cluster is created with the
PostgreSQL server binaries already on the machine and listens on a Unix socket inside its home
(plus loopback TCP only when a listen host is asked for). ``initdb`` refuses to run as root, so
when we are root every server command runs as the unprivileged ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from warp.errors import ConfigError, WarpError

INSTALL_HINT = (
    "PostgreSQL server binaries not found: install PostgreSQL 15 "
    "(Debian: apt-get install postgresql-15) or set WARP_DATABASE_URL to an existing database."
)
SERVICE_USER = "postgres"
SUPERUSER = "postgres"


class ClusterError(WarpError):
    """The embedded cluster could not be created, started or stopped."""

    code = "cluster-error"


def find_bindir(explicit: str | None = None) -> Path:
    """Locate the directory holding ``initdb`` and ``pg_ctl``; raise ConfigError if none."""
    if explicit:
        path = Path(explicit)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
        raise ConfigError(f"WARP_PG_BINDIR={explicit} holds no initdb/pg_ctl. {INSTALL_HINT}")
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(out.stdout.strip())

    def version_key(path: str) -> float:
        with contextlib.suppress(ValueError):
            return float(Path(path).parent.name)
        return 0.0

    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    raise ConfigError(INSTALL_HINT)


def _traversable_by(path: Path, uid: int) -> bool:
    """True when the user ``uid`` (not root) can reach ``path`` through all its ancestors."""
    for ancestor in [path, *path.parents]:
        if not ancestor.exists():
            continue
        st = ancestor.stat()
        if st.st_uid == uid:
            if not st.st_mode & 0o100:
                return False
        elif not st.st_mode & 0o001:
            return False
    return True


@dataclass
class LocalCluster:
    """A PostgreSQL cluster whose data, socket and log all live under ``home``."""

    home: Path
    port: int = 5432
    listen_host: str | None = None
    bindir: Path | None = None
    server_options: Mapping[str, str] = field(default_factory=dict)
    _resolved_bindir: Path | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "log" / "postgres.log"

    def url(self, dbname: str = "warp") -> str:
        """A libpq URL reaching ``dbname`` on this cluster through its Unix socket."""
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{dbname}?host={host}&port={self.port}"

    # -- process helpers -------------------------------------------------------------------------

    def _bin(self, name: str) -> str:
        if self._resolved_bindir is None:
            self._resolved_bindir = find_bindir(None if self.bindir is None else str(self.bindir))
        return str(self._resolved_bindir / name)

    def _service_user(self) -> pwd.struct_passwd | None:
        """The account server commands run as: None for a non-root caller (runs as itself)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError as exc:
            raise ClusterError(
                f"running as root, but there is no '{SERVICE_USER}' user to run PostgreSQL as; "
                "create it (useradd --system postgres) or set WARP_DATABASE_URL"
            ) from exc

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self._service_user()
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            cwd=self.home,
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
            check=False,
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise ClusterError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {detail}")
        return proc

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        user = self._service_user()
        for directory in (self.data_dir, self.socket_dir, self.log_file.parent):
            directory.mkdir(mode=0o700, exist_ok=True)
            if user is not None:
                os.chown(directory, user.pw_uid, user.pw_gid)
        if user is not None and not _traversable_by(self.home, user.pw_uid):
            raise ClusterError(
                f"{self.home} is not reachable by the '{SERVICE_USER}' user that runs PostgreSQL "
                "(a parent directory is private); set WARP_HOME to a directory such as /var/lib/warp"
            )

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise init/start/stop between processes sharing this home."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        proc = self._run([self._bin("pg_ctl"), "status", "-D", str(self.data_dir)], check=False)
        return proc.returncode == 0

    def init(self) -> bool:
        """Create the cluster if it does not exist yet; True when it was created now."""
        if self.initialized:
            return False
        self._prepare_dirs()
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )
        return True

    def start(self) -> bool:
        """Create (if needed) and start the cluster; True when it was started now."""
        with self._lock():
            self.init()
            if self.is_running():
                return False
            self._prepare_dirs()
            options = {
                "listen_addresses": f"'{self.listen_host or ''}'",
                "unix_socket_directories": f"'{self.socket_dir}'",
                "port": str(self.port),
                # Parallel rate-deck imports prepare their helper transaction (two-phase commit).
                "max_prepared_transactions": "16",
                # Bulk loads (a 1M-CDR file writes ~850 MB of WAL, a 3M-row rate deck more) would
                # otherwise force a checkpoint halfway (PostgreSQL's default 1 GB starts one after
                # ~540 MB), and every page touched after it logs a full image again: 5-10% of an
                # ingest's time (docs/performance.md). Checkpoints stay timed (checkpoint_timeout).
                "max_wal_size": "4GB",
                **self.server_options,
            }
            opts = " ".join(f"-c {key}={value}" for key, value in options.items())
            self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    opts,
                ]
            )
            return True

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown); True when it was running."""
        with self._lock():
            if not self.is_running():
                return False
            self._run([self._bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)])
            return True

    def ensure_database(self, dbname: str = "warp") -> None:
        """Create ``dbname`` if it does not exist (the cluster must be running)."""
        ensure_database(self.url("postgres"), dbname)


def ensure_database(admin_url: str, dbname: str) -> None:
    """Create database ``dbname`` through ``admin_url`` unless it exists already."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
                if not exists:
                    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                return
        except psycopg.OperationalError:
            # The server may still be finishing its start-up; give it a moment.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
