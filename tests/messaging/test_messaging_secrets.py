"""``secret:NAME`` references (the pluggable secret store) for webhook signing and vendor callbacks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from messaging_helpers import VENDOR, Msg, build, queue, vendor_post

from warp.auth.policy import AuthPolicy
from warp.messaging.errors import InvalidMessage, SecretUnavailable
from warp.messaging.secrets import encrypt_secret, resolve_secret
from warp.messaging.service import set_inbound_route
from warp.messaging.signing import verify_signature
from warp.vendors.errors import SecretUnavailable as VendorSecretUnavailable
from warp.vendors.secrets import DirectorySecretStore, SecretResolver
from warp.workers.webhooks import WebhookSettings, WebhookWorker
from warp_auth_fixtures import TEST_POLICY, World

FAST = WebhookSettings(base_delay=30, max_delay=60, lease=timedelta(seconds=30), batch=50, concurrency=2)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw}
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default ``dir`` secret backend, pointed at a temporary directory (as the demo would mount it)."""
    (tmp_path / "webhooks").mkdir()
    (tmp_path / "webhooks" / "ACME").write_text("acme-signing-secret\n")
    (tmp_path / "vendors").mkdir()
    (tmp_path / "vendors" / "loop-callbacks").write_text("vendor-callback-from-store")
    monkeypatch.setenv("WARP_SECRET_BACKEND", "dir")
    monkeypatch.setenv("WARP_SECRETS_DIR", str(tmp_path))
    return tmp_path


def route_with(m: Msg, url: str, ref: str) -> None:
    with m.world.staff() as conn:
        set_inbound_route(conn, TEST_POLICY, account_id=m.world.acme, webhook_url=url, secret_ref=ref)


def run_worker(world: World) -> None:
    worker = WebhookWorker(world.url, TEST_POLICY, FAST)  # default resolver: WARP_SECRET_BACKEND / _DIR
    try:
        with psycopg.connect(world.url) as conn:
            worker.run_once(conn)
    finally:
        worker.close()


def test_store_reference_signs_the_webhook(world: World, receiver: Receiver, store: Path) -> None:
    m = build(world)
    route_with(m, receiver.url, "secret:webhooks/ACME")
    queue(m, 1)
    run_worker(world)
    (request,) = receiver.requests
    h = request["headers"]
    verify_signature("acme-signing-secret", h["x-warp-timestamp"], h["x-warp-signature"], request["raw"])
    assert json.loads(request["raw"])["type"] == "message.queued"
    with world.staff() as conn:
        event = conn.execute("SELECT status, secret_ref FROM messaging.webhook_events").fetchone()
    assert (event["status"], event["secret_ref"]) == ("DELIVERED", "secret:webhooks/ACME")


def test_unresolvable_secret_is_recorded_on_the_attempt_and_retried(
    world: World, receiver: Receiver, store: Path
) -> None:
    m = build(world)
    route_with(m, receiver.url, "secret:webhooks/NOBODY")
    queue(m, 1)
    run_worker(world)  # does not raise
    assert receiver.requests == []  # nothing unsigned ever leaves
    with world.staff() as conn:
        attempt = conn.execute(
            "SELECT attempt, status_code, error FROM messaging.webhook_attempts"
        ).fetchone()
        event = conn.execute(
            "SELECT status, attempt_count, next_attempt_at > now() AS later FROM messaging.webhook_events"
        ).fetchone()
    assert attempt["attempt"] == 1 and attempt["status_code"] is None
    assert attempt["error"] == (
        "signing secret unavailable: secret reference secret:webhooks/NOBODY: not in the secret store"
    )
    assert (event["status"], event["attempt_count"], event["later"]) == ("PENDING", 1, True)

    # Once the operator adds the secret, the next try signs and delivers it.
    (store / "webhooks" / "NOBODY").write_text("late-secret")
    with world.staff() as conn:
        conn.execute("UPDATE messaging.webhook_events SET next_attempt_at = now()")
    run_worker(world)
    (request,) = receiver.requests
    h = request["headers"]
    verify_signature("late-secret", h["x-warp-timestamp"], h["x-warp-signature"], request["raw"])


def test_vendor_callbacks_verify_with_a_store_secret(client: TestClient, world: World, store: Path) -> None:
    m = build(world)
    with world.staff() as conn:
        conn.execute(
            "UPDATE vendor_mgmt.service_providers SET config = %s WHERE name = %s",
            (json.dumps({"callback_secret_ref": "secret:vendors/loop-callbacks"}), VENDOR),
        )
    (mid,) = queue(m, 1)
    ok = vendor_post(
        client, "dlr", {"message_id": str(mid), "status": "sending"}, secret="vendor-callback-from-store"
    )
    assert ok.status_code == 200, ok.text
    bad = vendor_post(
        client, "dlr", {"message_id": str(mid), "status": "sent"}, secret="vendor-callback-secret"
    )
    assert bad.status_code == 401


def test_routes_take_store_references_and_refuse_other_values(world: World) -> None:
    m = build(world)
    with world.staff() as conn:
        set_inbound_route(
            conn,
            TEST_POLICY,
            account_id=m.world.globex,
            webhook_url="https://h.example/",
            secret_ref="secret:webhooks/GLOBEX",
        )
        for bad in ("plain-secret", "vault:webhooks/GLOBEX", "secret:"):
            with pytest.raises(
                InvalidMessage, match="secret_ref: must be enc:, env:NAME, file:/path or secret:NAME"
            ):
                set_inbound_route(
                    conn,
                    TEST_POLICY,
                    account_id=m.world.globex,
                    webhook_url="https://h.example/",
                    secret_ref=bad,
                )


def test_one_resolver_for_every_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "webhooks").mkdir()
    (tmp_path / "webhooks" / "DEMO-ACME").write_text("from-dir")
    (tmp_path / "token").write_text("from-file\n")
    (tmp_path / ".hidden").write_text("never")
    monkeypatch.setenv("WEBHOOK_SECRET", "from-env")
    resolver = SecretResolver(
        environ={"WARP_SECRETS_DIR": str(tmp_path), "WEBHOOK_SECRET": "from-env"}, policy=TEST_POLICY
    )
    assert resolve_secret(TEST_POLICY, "secret:webhooks/DEMO-ACME", resolver) == "from-dir"
    assert resolve_secret(TEST_POLICY, f"file:{tmp_path}/token", resolver) == "from-file"
    assert resolve_secret(TEST_POLICY, "env:WEBHOOK_SECRET", resolver) == "from-env"
    assert resolve_secret(TEST_POLICY, encrypt_secret(TEST_POLICY, "from-enc"), resolver) == "from-enc"
    # Without an explicit resolver: the configured store, and the policy's key for enc:.
    monkeypatch.setenv("WARP_SECRETS_DIR", str(tmp_path))
    assert resolve_secret(TEST_POLICY, "secret:webhooks/DEMO-ACME") == "from-dir"
    assert resolve_secret(TEST_POLICY, encrypt_secret(TEST_POLICY, "x")) == "x"
    # Store names never leave the directory.
    store = DirectorySecretStore(tmp_path)
    for name in ("../token", "webhooks/../token", ".hidden", "webhooks//DEMO-ACME", "/etc/passwd", ""):
        assert store.get(name) is None, name
    # One error type for both domains, naming the reference and never a secret.
    with pytest.raises(SecretUnavailable) as caught:
        resolve_secret(TEST_POLICY, "secret:webhooks/NONE", resolver)
    assert isinstance(caught.value, VendorSecretUnavailable)
    assert caught.value.message == "secret reference secret:webhooks/NONE: not in the secret store"
    other_key = encrypt_secret(AuthPolicy(secret_key="another-key"), "x")
    with pytest.raises(SecretUnavailable, match="cannot be decrypted"):
        resolve_secret(TEST_POLICY, other_key, resolver)
