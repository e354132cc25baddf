"""Benchmark: POST /v1/messages accepted per second, end to end into the MDR + outbox, and webhook
delivery throughput to a loopback receiver.

Starts `warp serve` on the database in use (WARP_DATABASE_URL, else the embedded cluster), creates a
fresh account with an API key (limits high enough not to throttle), a rate plan, an APPROVED 10DLC
campaign with 20 local numbers, a loopback SMS vendor (no vendor latency) and a webhook route to a
loopback HTTP receiver; drives POST /v1/messages with N concurrent clients (``wrk`` with a Lua script
that varies sender, recipient and text when wrk is installed, else an asyncio httpx client: httpx
itself eats much of the 2 cores at 64 connections), counts the MDRs and message.queued outbox rows
written (and the CPU time the API processes and the PostgreSQL server processes spent per accepted
message, read from /proc: on a shared machine that, not wall time, is what to compare), then drains the outbox with the webhook worker (in-process, signed HTTP POSTs to the
receiver) and reports events per second.

    .venv/bin/python bench/messaging.py --workers 2 --connections 16,64 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from warp.accounts import service as accounts
from warp.auth import api_keys
from warp.auth.policy import load_policy
from warp.cli.session import staff_connection
from warp.db import tenant
from warp.db.connection import database_url
from warp.db.migrate import migrate
from warp.db.seed import seed
from warp.messaging.service import set_inbound_route
from warp.workers.webhooks import WebhookSettings, WebhookWorker


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def prepare(hook_url: str) -> tuple[str, uuid.UUID, list[str]]:
    tag = uuid.uuid4().hex[:8]
    numbers = [f"+1720{random.randint(2000000, 9999999)}" for _ in range(20)]
    with staff_connection() as conn:
        account = accounts.create_account(conn, name=f"Bench messaging {tag}", ban=f"BMSG-{tag}")
        _, key = api_keys.create_api_key(
            conn,
            account_id=account.id,
            name="bench",
            scopes=["messaging:send"],
            rate_limits=(1_000_000, 100_000_000, 1_000_000_000),
        )
        conn.execute(
            'UPDATE accounts.accounts SET metadata = \'{"messaging": {"max_mps": 1000000}}\' WHERE id = %s',
            (account.id,),
        )
        conn.execute(
            "INSERT INTO vendor_mgmt.service_providers (name, provider_type, capabilities, priority) "
            "VALUES ('bench-loopback', 'loopback', '{sms,mms}', 1) ON CONFLICT (name) DO NOTHING"
        )
        plan = conn.execute(
            "INSERT INTO billing.rate_plans (name) VALUES (%s) RETURNING id", (f"bench-msg-{tag}",)
        ).fetchone()["id"]
        conn.execute(
            "INSERT INTO billing.messaging_rates (rate_plan_id, rate, effective_date) VALUES (%s, 0.004, '2020-01-01')",
            (plan,),
        )
        conn.execute(
            "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) VALUES (%s, %s, '2020-01-01')",
            (account.id, plan),
        )
        brand = conn.execute(
            "INSERT INTO messaging.brands_10dlc (account_id, legal_name, entity_type, status) "
            "VALUES (%s, 'Bench', 'PRIVATE_PROFIT', 'VERIFIED') RETURNING id",
            (account.id,),
        ).fetchone()["id"]
        campaign = conn.execute(
            "INSERT INTO messaging.campaigns_10dlc (account_id, brand_id, name, use_case, description, status) "
            "VALUES (%s, %s, 'bench', 'MIXED', 'bench', 'APPROVED') RETURNING id",
            (account.id, brand),
        ).fetchone()["id"]
        for n in numbers:
            inv = conn.execute(
                "INSERT INTO numbers.inventory (number, status) VALUES (%s, 'ACTIVE') RETURNING id", (n,)
            ).fetchone()["id"]
            conn.execute(
                "INSERT INTO numbers.dids (account_id, inventory_id, number, messaging_enabled, campaign_id, "
                "e911_exempt, e911_exempt_reason) VALUES (%s, %s, %s, true, %s, true, 'bench')",
                (account.id, inv, n, campaign),
            )
        set_inbound_route(
            conn, load_policy(), account_id=account.id, webhook_url=hook_url, webhook_secret="bench-secret"
        )
    return key, account.id, numbers


async def load(url: str, key: str, numbers: list[str], connections: int, duration: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
    ) as client:
        deadline = time.perf_counter() + duration

        async def worker(i: int) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                body = {
                    "from": numbers[(i + n) % len(numbers)],
                    "to": f"+1303555{n % 10000:04d}",
                    "body": f"Your code is {n:06d}",
                }
                t0 = time.perf_counter()
                r = await client.post(url, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 202

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        seconds = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50": q[49],
        "p99": q[98],
        "errors": errors,
    }


WRK_SCRIPT = """
local froms = {%(froms)s}
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  counter = counter + 1
  local body = string.format('{"from":"%%s","to":"+1303555%%04d","body":"Your code is %%06d"}',
                             froms[(counter %% #froms) + 1], counter %% 10000, counter %% 1000000)
  return wrk.format(nil, nil, nil, body)
end
"""


def _ms(value: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip())
    assert found is not None
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def load_wrk(url: str, key: str, numbers: list[str], connections: int, duration: int) -> dict[str, float]:
    froms = ", ".join(f'"{n}"' for n in numbers)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % {"froms": froms, "key": key})
        script.flush()
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def grab(pattern: str) -> str:
        found = re.search(pattern, out)
        assert found is not None, out
        return found.group(1)

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return {
        "requests": int(grab(r"(\d+) requests in")),
        "seconds": float(grab(r"requests in ([\d.]+)s")),
        "rps": float(grab(r"Requests/sec:\s+([\d.]+)")),
        "p50": _ms(grab(r"\s50%\s+(\S+)")),
        "p99": _ms(grab(r"\s99%\s+(\S+)")),
        "errors": errors,
    }


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds of ``pids`` (those that no longer exist count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _tree(pid: int) -> set[int]:
    """``pid`` and its descendants (the uvicorn supervisor and its workers)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split())
        except OSError:
            pass
    return found


def _postgres_pids(db: str) -> set[int]:
    """Every server process of the cluster (backends, WAL writer, checkpointer...): local servers only."""
    with psycopg.connect(db, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()").fetchall()
    return {int(r[0]) for r in rows}


def counts(db: str, account: uuid.UUID) -> tuple[int, int, int]:
    """MDRs, outbox rows and writing transactions (distinct ``xmin`` of the MDRs: group submit puts
    several messages in one) of ``account``, from one statement (one snapshot: a group committing
    between two statements would make the counts disagree)."""
    with psycopg.connect(db) as conn, tenant.transaction(conn, tenant.Context(staff=True)):
        row = conn.execute(
            "SELECT count(*), count(DISTINCT m.xmin::text), "
            "(SELECT count(*) FROM messaging.webhook_events WHERE account_id = %s) "
            "FROM messaging.mdr m WHERE m.account_id = %s",
            (account, account),
        ).fetchone()
    return (int(row[0]), int(row[2]), int(row[1])) if row else (0, 0, 0)


def drain(db: str, concurrency: int, limit_seconds: float) -> tuple[int, float]:
    worker = WebhookWorker(db, load_policy(), WebhookSettings(batch=200, concurrency=concurrency))
    delivered, started = 0, time.perf_counter()
    try:
        with psycopg.connect(db) as conn:
            while time.perf_counter() - started < limit_seconds:
                n = worker.run_once(conn)
                if n == 0:
                    break
                delivered += n
    finally:
        worker.close()
    return delivered, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--webhook-concurrency", type=int, default=16)
    parser.add_argument(
        "--drain-seconds", type=float, default=60, help="time limit of the webhook drain (0: skip it)"
    )
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    args = parser.parse_args()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    db = database_url()
    migrate(db)
    seed(db)
    receiver = Receiver()
    key, account, numbers = prepare(receiver.url)
    env = os.environ | {"WARP_DATABASE_URL": db, "WARP_MESSAGING_ACCOUNT_MPS": "1000000"}
    warp = os.path.join(os.path.dirname(sys.executable), "warp")
    server = subprocess.Popen(
        [warp, "serve", "--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    console = Console(width=160)
    table = Table(title=f"POST /v1/messages (202 = MDR + outbox row committed; load by {tool})")
    for col in (
        "clients",
        "requests",
        "seconds",
        "msg/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "MDRs",
        "outbox rows",
        "msg/tx",
        "API CPU ms/msg",
        "PG CPU ms/msg",
    ):
        table.add_column(col, justify="right")
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{args.port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        for c in (int(x) for x in args.connections.split(",")):
            before = counts(db, account)
            api_pids, pg_pids = _tree(server.pid), _postgres_pids(db)
            api0, pg0 = _cpu_seconds(api_pids), _cpu_seconds(pg_pids)
            target = f"http://127.0.0.1:{args.port}/v1/messages"
            if tool == "wrk":
                r = load_wrk(target, key, numbers, c, args.duration)
            else:
                r = asyncio.run(load(target, key, numbers, c, args.duration))
            api1, pg1 = _cpu_seconds(api_pids), _cpu_seconds(pg_pids | _postgres_pids(db))
            after = counts(db, account)
            accepted = max(after[0] - before[0], 1)
            table.add_row(
                str(c),
                str(r["requests"]),
                f"{r['seconds']:.1f}",
                f"{r['rps']:.0f}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                str(r["errors"]),
                str(after[0] - before[0]),
                str(after[1] - before[1]),
                f"{accepted / max(after[2] - before[2], 1):.1f}",
                f"{(api1 - api0) * 1000 / accepted:.2f}",
                f"{(pg1 - pg0) * 1000 / accepted:.2f}",
            )
    finally:
        server.terminate()
        server.wait(10)
    console.print(table)
    console.print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.drain_seconds <= 0:
        receiver.server.shutdown()
        return
    delivered, seconds = drain(db, args.webhook_concurrency, args.drain_seconds)
    hooks = Table(title="Webhook delivery (signed POST to a loopback receiver, attempt rows recorded)")
    for col in ("worker threads", "attempts", "seconds", "attempts/s", "requests received"):
        hooks.add_column(col, justify="right")
    hooks.add_row(
        str(args.webhook_concurrency),
        str(delivered),
        f"{seconds:.1f}",
        f"{delivered / seconds:.0f}",
        str(receiver.count),
    )
    console.print(hooks)
    receiver.server.shutdown()


if __name__ == "__main__":
    main()
