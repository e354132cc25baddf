"""``warp worker messaging`` as a real subprocess: failover, graceful SIGTERM, crash recovery, two workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from messaging_helpers import Msg, VendorServer, add_provider, build, queue, statuses

from warp_auth_fixtures import World


@pytest.fixture
def m(world: World) -> Msg:
    return build(world)


@pytest.fixture
def vendor() -> Iterator[VendorServer]:
    server = VendorServer(delay=0.7)
    yield server
    server.close()


def worker(m: Msg, *args: str) -> subprocess.Popen[str]:
    env = os.environ | {"WARP_DATABASE_URL": m.world.url, "WARP_SECRETS_DIR": "/nonexistent"}
    return subprocess.Popen(
        [sys.executable, "-m", "warp.cli.main", "worker", "messaging", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def only_http(m: Msg, vendor: VendorServer, path: str) -> None:
    """Messages accepted from now on are assigned to one HTTP vendor on loopback."""
    with m.world.staff() as conn:
        conn.execute("UPDATE vendor_mgmt.service_providers SET enabled = false WHERE name = 'loop-sms'")
        add_provider(conn, "http-vendor", "http", {"url": vendor.base + path}, 5)


def test_once_fails_over_to_the_next_provider_and_prints_a_summary(m: Msg) -> None:
    ids = queue(m, 5)  # assigned to loop-sms
    with m.world.staff() as conn:
        conn.execute(
            "UPDATE vendor_mgmt.service_providers SET config = config || '{\"fail\": true}' WHERE name = 'loop-sms'"
        )
        backup = add_provider(conn, "loop-backup", "loopback", {}, 20)
    code, out, err = finish(worker(m, "--once", "--json"))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["claimed"] == 5 and summary["sent"] == 5 and summary["failed"] == 0
    assert summary["failovers"] == 5 and summary["by_provider"] == {"loop-backup": 5}
    assert summary["stopped_by_signal"] is False
    assert "batch 1: claimed 5, sent 5, failed 0, failovers 5 (loop-backup 5)" in err  # progress line
    assert statuses(m, ids) == {"SENT": 5}
    with m.world.staff() as conn:
        carriers = conn.execute(
            "SELECT DISTINCT service_provider_id FROM messaging.mdr WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        down = conn.execute(
            "SELECT p.health_status, h.error FROM vendor_mgmt.service_providers p "
            "JOIN vendor_mgmt.provider_health_checks h ON h.service_provider_id = p.id WHERE p.name = 'loop-sms'"
        ).fetchall()
    assert [c["service_provider_id"] for c in carriers] == [backup]
    assert down and down[0]["health_status"] == "DOWN" and "configured to fail" in down[0]["error"]


def test_sigterm_finishes_the_batch_in_flight_then_exits_zero(m: Msg, vendor: VendorServer) -> None:
    only_http(m, vendor, "/slow")
    ids = queue(m, 4)
    proc = worker(m, "--batch", "2", "--interval", "0.2")
    assert vendor.first.wait(60), "the worker never called the vendor"
    proc.send_signal(signal.SIGTERM)  # while the first message of the first batch is at the vendor
    code, out, err = finish(proc)
    assert code == 0, err
    assert "SIGTERM: finishing the batch in flight" in err
    assert "claimed 2, sent 2" in out and "(stopped by signal)" in out
    # The batch in flight was completed and recorded; nothing was left half-done in SENDING.
    assert statuses(m, ids) == {"SENT": 2, "QUEUED": 2}
    assert len(vendor.requests) == 2


def test_a_killed_worker_leaves_sending_rows_that_the_next_one_recovers(m: Msg, vendor: VendorServer) -> None:
    only_http(m, vendor, "/slow")
    ids = queue(m, 4)
    vendor.delay = 5.0  # the first message stays at the vendor until the worker is dead
    proc = worker(m, "--batch", "2")
    assert vendor.first.wait(60), "the worker never called the vendor"
    proc.kill()  # SIGKILL: no chance to record anything
    proc.wait(30)
    vendor.delay = 0.05
    assert statuses(m, ids) == {"SENDING": 2, "QUEUED": 2}

    code, out, err = finish(worker(m, "--once", "--stale-after", "0", "--json"))
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    assert summary["recovered"] == 2 and summary["sent"] == 4
    assert "recovered 2 message(s) stuck in SENDING" in err
    assert statuses(m, ids) == {"SENT": 4}
    with m.world.staff() as conn:
        recovered = conn.execute(
            "SELECT count(*) AS n FROM messaging.mdr WHERE id = ANY(%s) AND metadata ->> 'dispatch_recoveries' = '1'",
            (ids,),
        ).fetchone()
    assert recovered["n"] == 2
    # At least once: the message that was at the vendor when the worker died is sent again, with the
    # same WARP id for the vendor to deduplicate on; its batch mate had not been sent yet.
    counts = Counter(vendor.message_ids())
    assert sorted(counts.values()) == [1, 1, 1, 2]
    assert set(counts) == {str(i) for i in ids}


def test_two_workers_never_send_the_same_message(m: Msg, vendor: VendorServer) -> None:
    only_http(m, vendor, "/ok")
    ids = queue(m, 30)
    procs = [worker(m, "--once", "--batch", "3", "--json") for _ in range(2)]
    results = [finish(p) for p in procs]
    assert [r[0] for r in results] == [0, 0], [r[2] for r in results]
    sent = [json.loads(r[1])["sent"] for r in results]
    assert sum(sent) == 30
    assert statuses(m, ids) == {"SENT": 30}
    counts = Counter(vendor.message_ids())
    assert len(counts) == 30 and set(counts.values()) == {1}
