"""Real SIP around WARP: a loopback PostgreSQL cluster, the shipped Kamailio config, SIPp UAC/UAS.

Used by tests/e2e/sip/test_calls.py and bench/sip_cps.py. Everything listens on 127.0.0.x only and
every process started here is stopped by the object that started it (by its own process group).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from warp.db.cluster import LocalCluster, ensure_database
from warp.db.migrate import migrate

ROOT = Path(__file__).resolve().parents[3]
KAMAILIO_CFG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
KAMAILIO_ROLE = "warp_e2e_kamailio"


def kamailio_bin() -> str | None:
    """The kamailio binary (in /usr/sbin, which a non-login PATH may lack)."""
    return shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/usr/local/sbin")


def missing_tools() -> list[str]:
    """The SIP tools that are not installed (kamailio, its PostgreSQL driver, sipp)."""
    missing = []
    if kamailio_bin() is None:
        missing.append("kamailio")
    if (
        not list(Path("/usr/lib").glob("*/kamailio/modules/db_postgres.so"))
        and not Path("/usr/lib/kamailio/modules/db_postgres.so").exists()
    ):
        missing.append("kamailio-postgres-modules")
    if shutil.which("sipp") is None:
        missing.append("sip-tester")
    return missing


def ensure_tools() -> str | None:
    """Install the SIP tools through scripts/system-deps.sh when missing; the reason they are absent, if so."""
    if not missing_tools():
        return None
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "system-deps.sh")],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=900,
    )
    still = missing_tools()
    if still:
        return (
            f"Debian packages {', '.join(still)} are not installed and could not be installed "
            "(scripts/system-deps.sh needs root and the Debian archive)"
        )
    return None


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _stop_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a process started here in its own session (and its children) by its process group id."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@dataclass
class WarpDb:
    """A private cluster listening on loopback TCP (Kamailio's db_postgres needs a host and port)."""

    home: Path
    cluster: LocalCluster = field(init=False)
    port: int = field(init=False)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o755)
        self.port = free_port(socket.SOCK_STREAM)
        self.cluster = LocalCluster(
            home=self.home,
            port=self.port,
            listen_host="127.0.0.1",
            server_options={
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "100",
                "shared_preload_libraries": "pg_stat_statements",
                "pg_stat_statements.track": "all",
            },
        )
        self.cluster.start()
        ensure_database(self.cluster.url("postgres"), "warp")
        migrate(self.url)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (KAMAILIO_ROLE,)).fetchone():
                conn.execute(f"CREATE ROLE {KAMAILIO_ROLE} LOGIN IN ROLE warp_kamailio")
            conn.execute(f"ALTER ROLE {KAMAILIO_ROLE} SET search_path = kamailio")

    @property
    def url(self) -> str:
        return self.cluster.url("warp")

    @property
    def kamailio_url(self) -> str:
        """What Kamailio connects with: the least-privileged switch role over loopback TCP."""
        return f"postgres://{KAMAILIO_ROLE}@127.0.0.1:{self.port}/warp"

    def stop(self) -> None:
        self.cluster.stop()


@dataclass
class Kamailio:
    """The shipped kamailio.cfg, started on a loopback port against ``db_url``."""

    workdir: Path
    db_url: str
    port: int = field(default_factory=free_port)
    children: int = 4
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "kamailio.log").open("wb")
        cmd = [
            kamailio_bin() or "kamailio",
            "-f",
            str(KAMAILIO_CFG),
            "-DD",
            "-E",
            "-A",
            f'DBURL="{self.db_url}"',
            "-A",
            f'SQLCON="warp=>{self.db_url}"',
            "-A",
            f"LISTEN=udp:127.0.0.1:{self.port}",
            "-A",
            f'RPC_FIFO="{self.workdir / "rpc.fifo"}"',
            "-A",
            f"CHILDREN={self.children}",
            "-Y",
            str(self.workdir),
            "-P",
            str(self.workdir / "kamailio.pid"),
            "-m",
            "128",
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TZ": "UTC"},
            start_new_session=True,
        )
        # ready when it answers an OPTIONS ping
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited: {self.log_text()[-3000:]}")
            if self._ping():
                return
            time.sleep(0.2)
        raise RuntimeError(f"kamailio did not answer OPTIONS: {self.log_text()[-3000:]}")

    def _ping(self) -> bool:
        msg = (
            f"OPTIONS sip:127.0.0.1:{self.port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bKping{n}\r\n"
            "From: <sip:ping@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\n"
            "Call-ID: ping-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 2\r\nContent-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.5)
            lp = s.getsockname()[1]
            s.sendto(msg.format(lp=lp, n=time.monotonic_ns()).encode(), ("127.0.0.1", self.port))
            try:
                data = s.recv(4096)
            except OSError:
                return False
        return data.startswith(b"SIP/2.0 200")

    def log_text(self) -> str:
        path = self.workdir / "kamailio.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


@dataclass
class Uas:
    """A SIPp carrier endpoint on 127.0.0.1:port running ``scenario`` (uas.xml or uas_503.xml)."""

    workdir: Path
    name: str
    port: int
    scenario: str = "uas.xml"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.workdir / f"uas_{self.name}_{self.scenario}.log"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(SCENARIOS / self.scenario),
                "-i",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-nostdin",
                "-trace_logs",
                "-log_file",
                str(self.log_file),
                "-max_socket",
                "4096",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp UAS {self.name} exited with {self.proc.returncode}")

    def invites(self) -> list[str]:
        """Call-IDs of the INVITEs this endpoint received."""
        if not self.log_file.exists():
            return []
        return re.findall(r"^INVITE (\S+)$", self.log_file.read_text(), re.M)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


@dataclass
class UacResult:
    answered: dict[str, float]  # call-id -> intended hold time in seconds
    rejected: dict[str, int]  # call-id -> final SIP code
    returncode: int
    seconds: float
    errors: str = ""

    @property
    def call_ids(self) -> set[str]:
        return set(self.answered) | set(self.rejected)


def run_uac(
    workdir: Path,
    name: str,
    *,
    kamailio_port: int,
    source_ip: str,
    calls: int,
    rate: float,
    dnis: str,
    timeout_s: float = 120,
    scenario: str = "uac.xml",
    extra: list[str] | None = None,
) -> UacResult:
    """Place ``calls`` calls at ``rate`` calls/s from ``source_ip`` through Kamailio; wait for them all."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"uac_{name}.log"
    for old in (log, workdir / f"uac_{name}_errors.log", workdir / f"uac_{name}_stats.csv"):
        old.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            "sipp",
            f"127.0.0.1:{kamailio_port}",
            "-sf",
            str(SCENARIOS / scenario),
            "-s",
            dnis,
            "-i",
            source_ip,
            "-p",
            str(free_port(host=source_ip)),
            "-m",
            str(calls),
            "-r",
            str(rate),
            "-l",
            "100000",
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(log),
            "-trace_err",
            "-error_file",
            str(workdir / f"uac_{name}_errors.log"),
            "-trace_stat",
            "-stf",
            str(workdir / f"uac_{name}_stats.csv"),
            "-timeout",
            str(int(timeout_s)),
            "-timeout_error",
            # a 180 relayed by one Kamailio worker may reach the UAC after the 200 relayed by another
            # (loopback UDP, busy machine): ignore such stray provisionals instead of aborting the call
            "-default_behaviors",
            "all,-abortunexp",
            "-max_socket",
            "4096",
            *(extra or []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        start_new_session=True,
    )
    try:
        rc = proc.wait(timeout=timeout_s + 15)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        rc = -1
    text = log.read_text() if log.exists() else ""
    answered = {m[0]: float(m[1]) / 1000 for m in re.findall(r"^ANSWERED (\S+) ([0-9.]+)$", text, re.M)}
    rejected = {m[0]: int(m[1]) for m in re.findall(r"^REJECTED (\S+) ([0-9]{3})$", text, re.M)}
    errors = workdir / f"uac_{name}_errors.log"
    return UacResult(
        answered,
        rejected,
        rc,
        time.monotonic() - started,
        errors.read_text()[-3000:] if errors.exists() else "",
    )


@contextmanager
def started(*things: Any) -> Iterator[None]:
    """Start things in order, stop them in reverse order, whatever happens."""
    done: list[Any] = []
    try:
        for t in things:
            t.start()
            done.append(t)
        yield
    finally:
        for t in reversed(done):
            t.stop()


# --- The world of the e2e test and the benchmark ------------------------------------------------

DNIS = "+442079460123"  # a UK number: INTERNATIONAL, rated on the '44' prefixes below
CUSTOMER_RATE = Decimal("0.050000")  # per minute, 6/6 increments, 0.01 connection fee
CUSTOMER_FEE = Decimal("0.010000")
CHEAP_RATE = Decimal("0.010000")  # per minute, 1/1
PRICEY_RATE = Decimal("0.020000")  # per minute, 6/6
GLOBEX_MAX_CALLS = 5


@dataclass
class World:
    acme: UUID
    globex: UUID
    acme_trunk: UUID
    globex_trunk: UUID
    cheap: UUID
    pricey: UUID


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def build_world(conn: psycopg.Connection[Any], cheap_port: int, pricey_port: int) -> World:
    """Two customers with IP trunks and a rate plan, two carriers (one cheaper) in the default partition."""
    accounts = {}
    trunks = {}
    for ban, net, max_cc in (("ACME", "127.0.0.1/32", 500), ("GLOBEX", "127.0.0.2/32", GLOBEX_MAX_CALLS)):
        acct = one(
            conn, "INSERT INTO accounts.accounts (ban, name) VALUES (%s, %s) RETURNING id", (ban, ban.title())
        )
        trunk = one(
            conn,
            "INSERT INTO routing.trunks (account_id, name, auth_type, max_concurrent_calls, max_calls_per_second) "
            "VALUES (%s, %s, 'IP_ACL', %s, 200) RETURNING id",
            (acct, f"{ban.lower()}-main", max_cc),
        )
        conn.execute(
            "INSERT INTO routing.trunk_acl (trunk_id, account_id, network) VALUES (%s, %s, %s)",
            (trunk, acct, net),
        )
        accounts[ban], trunks[ban] = acct, trunk
    partition = one(
        conn,
        "INSERT INTO routing.partitions (name, strategy, is_default) VALUES ('default', 'LCR', true) RETURNING id",
    )
    carrier_trunks = {}
    for name, port, rate, inc in (
        ("cheap", cheap_port, CHEAP_RATE, 1),
        ("pricey", pricey_port, PRICEY_RATE, 6),
    ):
        carrier = one(conn, "INSERT INTO routing.carriers (name) VALUES (%s) RETURNING id", (f"{name}co",))
        ct = one(
            conn,
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host, port) VALUES (%s, %s, '127.0.0.1', %s) "
            "RETURNING id",
            (carrier, f"{name}-1", port),
        )
        conn.execute(
            "INSERT INTO routing.partition_carrier_trunks (partition_id, carrier_trunk_id) VALUES (%s, %s)",
            (partition, ct),
        )
        conn.execute(
            "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate, initial_increment, subsequent_increment, "
            "effective_date) VALUES (%s, '44', %s, %s, %s, '2020-01-01'), (%s, '1', 0.5, 1, 1, '2020-01-01')",
            (ct, rate, inc, inc, ct),
        )
        carrier_trunks[name] = ct
    plan = one(conn, "INSERT INTO billing.rate_plans (name) VALUES ('wholesale') RETURNING id")
    conn.execute(
        "INSERT INTO billing.voice_rates (rate_plan_id, prefix, rate, connection_fee, initial_increment, "
        "subsequent_increment, effective_date) VALUES (%s, '44', %s, %s, 6, 6, '2020-01-01')",
        (plan, CUSTOMER_RATE, CUSTOMER_FEE),
    )
    for acct in accounts.values():
        conn.execute(
            "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) "
            "VALUES (%s, %s, '2020-01-01')",
            (acct, plan),
        )
    return World(
        accounts["ACME"],
        accounts["GLOBEX"],
        trunks["ACME"],
        trunks["GLOBEX"],
        carrier_trunks["cheap"],
        carrier_trunks["pricey"],
    )
