"""Benchmark: authenticated GET /v1/me against `warp serve` on loopback.

Starts the API (``warp serve``) on the database in use (WARP_DATABASE_URL, else the embedded
cluster), creates an API key with generous rate limits for an account BENCH, drives GET /v1/me with
N concurrent connections (``wrk`` when installed, else an asyncio httpx client), and prints
throughput and p50/p99 latency per concurrency level.

    .venv/bin/python bench/api_me.py --workers 2 --connections 16,64 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

from warp.accounts import service as accounts
from warp.accounts.errors import AccountNotFound
from warp.auth import api_keys
from warp.cli.session import staff_connection
from warp.db.connection import database_url
from warp.db.migrate import migrate
from warp.db.seed import seed


@dataclass
class Result:
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str


def prepare_key() -> tuple[str, str]:
    with staff_connection() as conn:
        try:
            account = accounts.get_account_by_ban(conn, "BENCH")
        except AccountNotFound:
            account = accounts.create_account(conn, name="Benchmark", ban="BENCH")
        key, clear = api_keys.create_api_key(
            conn,
            account_id=account.id,
            name="bench",
            scopes=["accounts:read"],
            rate_limits=(1_000_000, 100_000_000, 1_000_000_000),
        )
    return clear, str(key.id)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, key: str, connections: int, duration: int, threads: int) -> Result:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {key}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    seconds = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result(connections, requests, seconds, rps, p50, p99, errors, "wrk")


async def _httpx_load(url: str, key: str, connections: int, duration: int) -> Result:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, limits=limits) as client:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await client.get(url)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return Result(
        connections, len(latencies), seconds, len(latencies) / seconds, q[49], q[98], errors, "httpx"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--db-slots",
        type=int,
        default=0,
        help="requests per worker holding a transaction (0: warp serve's default)",
    )
    parser.add_argument("--connections", default="16,64", help="comma-separated concurrency levels")
    parser.add_argument("--duration", type=int, default=15, help="seconds per level")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    args = parser.parse_args()

    url = database_url()
    migrate(url)
    seed(url)
    key, key_id = prepare_key()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    env = os.environ | {"WARP_DATABASE_URL": url}
    warp = os.path.join(os.path.dirname(sys.executable), "warp")
    server = subprocess.Popen(
        [warp, "serve", "--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers)]
        + (["--db-slots", str(args.db_slots)] if args.db_slots else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = f"http://127.0.0.1:{args.port}/v1/me"
    results: list[Result] = []
    try:
        for _ in range(100):
            try:
                if httpx.get(target, headers={"Authorization": f"Bearer {key}"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the API did not come up")
        if tool == "wrk":
            run_wrk(target, key, 8, 3, 2)  # warm-up
        for n in (int(c) for c in args.connections.split(",")):
            if tool == "wrk":
                results.append(run_wrk(target, key, n, args.duration, min(2, n)))
            else:
                results.append(asyncio.run(_httpx_load(target, key, n, args.duration)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        with staff_connection() as conn:
            api_keys.revoke_api_key(conn, key_id)

    slots = args.db_slots or os.environ.get("WARP_API_DB_SLOTS", "1")
    table = Table(
        title=f"GET /v1/me, {args.workers} API worker(s) x {slots} db slot(s), {tool}, {os.cpu_count()} CPUs"
    )
    for column in ("connections", "requests", "seconds", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r.connections),
            str(r.requests),
            f"{r.seconds:.1f}",
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
