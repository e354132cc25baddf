"""Customer trunks: HA1 credentials, ACL lookup (most specific wins, IPv6), overlap refusal, RLS."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from routing_helpers import account

from warp.db import tenant
from warp.routing import service
from warp.routing.errors import AclOverlap, Duplicate, InvalidRouting, TrunkNotFound

Conn = psycopg.Connection[Any]


def staff(conn: Conn) -> Any:
    return tenant.transaction(conn, tenant.STAFF)


def trunk(conn: Conn, account_id: Any, name: str, *acl: str, **kw: Any) -> service.Trunk:
    with staff(conn):
        t = service.create_trunk(conn, account_id=account_id, name=name, **kw)
        for network in acl:
            service.add_acl(conn, t.id, network)
    return t


def who(conn: Conn, source: str) -> str | None:
    with staff(conn):
        found = service.identify_trunk(conn, source)
    return None if found is None else found.trunk_name


def test_sip_credentials_are_stored_as_ha1_only(conn: Conn) -> None:
    acme = account(conn, "ACME")
    t = trunk(
        conn,
        acme,
        "reg",
        auth_type="SIP_REGISTER",
        sip_username="acme1",
        sip_password="s3cret!",
        sip_realm="sip.example",
    )
    row = conn.execute(
        "SELECT row_to_json(t)::text, sip_ha1 FROM routing.trunks t WHERE id = %s", (t.id,)
    ).fetchone()
    assert row is not None
    assert row[1] == service.digest_ha1("acme1", "sip.example", "s3cret!")
    assert "s3cret!" not in row[0]
    assert t.has_sip_credentials and t.sip_username == "acme1"
    audit = conn.execute("SELECT new_row::text FROM audit.audit_log WHERE table_name = 'trunks'").fetchone()
    assert audit is not None and row[1] not in audit[0] and "s3cret!" not in audit[0]
    with pytest.raises(InvalidRouting, match="sip_username, sip_password"), staff(conn):
        service.create_trunk(conn, account_id=acme, name="bad", auth_type="BOTH", sip_username="x")
    with pytest.raises(Duplicate, match="sip_username"):
        trunk(conn, acme, "reg2", auth_type="SIP_REGISTER", sip_username="acme1", sip_password="p")


def test_ha1_matches_rfc_digest() -> None:
    import hashlib

    expected = hashlib.md5(b"alice:example.com:pw", usedforsecurity=False).hexdigest()
    assert service.digest_ha1("alice", "example.com", "pw") == expected


def test_trunk_limits_codecs_and_update(conn: Conn) -> None:
    acme = account(conn, "ACME")
    t = trunk(
        conn,
        acme,
        "main",
        max_concurrent_calls=50,
        max_calls_per_second=10,
        codecs=["G729", "PCMU"],
        tech_prefix="77#",
    )
    assert (t.max_concurrent_calls, t.max_calls_per_second, t.codecs, t.tech_prefix) == (
        50,
        10,
        ["G729", "PCMU"],
        "77#",
    )
    with staff(conn):
        t2 = service.update_trunk(
            conn,
            t.id,
            enabled=False,
            codecs=["OPUS"],
            auth_type="BOTH",
            sip_username="main1",
            sip_password="pw",
        )
    assert (t2.enabled, t2.codecs, t2.auth_type, t2.has_sip_credentials) == (False, ["OPUS"], "BOTH", True)
    with pytest.raises(InvalidRouting, match="max_concurrent_calls"), staff(conn):
        service.update_trunk(conn, t.id, max_concurrent_calls=0)
    with pytest.raises(InvalidRouting, match="tech_prefix"), staff(conn):
        service.update_trunk(conn, t.id, tech_prefix="abc")
    with staff(conn):
        service.delete_trunk(conn, t.id)
    with pytest.raises(TrunkNotFound), staff(conn):
        service.get_trunk(conn, t.id)


def test_most_specific_network_wins_ipv4_and_ipv6(conn: Conn) -> None:
    acme = account(conn, "ACME")
    trunk(conn, acme, "wide", "10.0.0.0/8", "2001:db8::/32")
    trunk(conn, acme, "narrow", "10.1.0.0/16", "2001:db8:1::/48")
    trunk(conn, acme, "host", "10.1.2.3", "2001:db8:1::7/128")
    assert who(conn, "10.9.9.9") == "wide"
    assert who(conn, "10.1.9.9") == "narrow"
    assert who(conn, "10.1.2.3") == "host"
    assert who(conn, "2001:db8:ffff::1") == "wide"
    assert who(conn, "2001:db8:1::8") == "narrow"
    assert who(conn, "2001:db8:1::7") == "host"
    assert who(conn, "192.0.2.1") is None
    assert who(conn, "::ffff:10.1.2.3") is None  # an IPv6 address is never inside an IPv4 network


def test_disabled_and_sip_only_trunks_are_not_identified(conn: Conn) -> None:
    acme = account(conn, "ACME")
    trunk(conn, acme, "wide", "10.0.0.0/8")
    narrow = trunk(conn, acme, "narrow", "10.1.0.0/16")
    assert who(conn, "10.1.2.3") == "narrow"
    with staff(conn):
        service.update_trunk(conn, narrow.id, enabled=False)
    assert who(conn, "10.1.2.3") == "wide"  # the enabled one that contains it
    with staff(conn):
        service.update_trunk(
            conn, narrow.id, enabled=True, auth_type="SIP_REGISTER", sip_username="n", sip_password="p"
        )
    assert who(conn, "10.1.2.3") == "wide"


def test_overlapping_acls_of_two_accounts_are_refused(conn: Conn) -> None:
    acme, beta = account(conn, "ACME"), account(conn, "BETA")
    a1 = trunk(conn, acme, "a1", "10.1.0.0/16", "2001:db8::/32")
    a2 = trunk(conn, acme, "a2")
    b1 = trunk(conn, beta, "b1")
    for network in ("10.1.2.3", "10.0.0.0/8", "10.1.128.0/17", "2001:db8:5::/48"):
        with pytest.raises(AclOverlap), staff(conn):
            service.add_acl(conn, b1.id, network)
    with staff(conn):
        service.add_acl(conn, a2.id, "10.1.2.0/24")  # the same account may nest networks
        service.add_acl(conn, b1.id, "10.2.0.0/16")
        assert [e.network for e in service.list_acl(conn, a1.id)] == ["10.1.0.0/16", "2001:db8::/32"]
    with pytest.raises(Duplicate), staff(conn):
        service.add_acl(conn, a1.id, "10.1.0.0/16")
    with pytest.raises(InvalidRouting, match="network"), staff(conn):
        service.add_acl(conn, a1.id, "10.1.0.300")
    with staff(conn):
        service.remove_acl(conn, a1.id, "10.1.0.0/16")
        service.add_acl(conn, b1.id, "10.1.0.0/24")  # free again (a2 still holds 10.1.2.0/24)
    assert who(conn, "10.1.0.9") == "b1"
    assert who(conn, "10.1.2.9") == "a2"


def test_identify_trunk_needs_no_tenant_but_tenants_see_only_their_trunks(conn: Conn, db_url: str) -> None:
    acme, beta = account(conn, "ACME"), account(conn, "BETA")
    trunk(conn, acme, "a1", "10.1.0.0/16")
    trunk(conn, beta, "b1", "10.2.0.0/16")
    with psycopg.connect(db_url) as c2:
        with tenant.transaction(c2, tenant.Context()):  # the switch: warp_app, no tenant
            found = service.identify_trunk(c2, "10.2.3.4")
            assert found is not None and found.account_id == beta
            assert service.list_trunks(c2) == []
        with tenant.transaction(c2, tenant.Context(account_id=acme)):
            assert [t.name for t in service.list_trunks(c2)] == ["a1"]
        with tenant.transaction(c2, tenant.Context(account_id=beta)):
            b = service.list_trunks(c2)[0]
        with pytest.raises(TrunkNotFound), tenant.transaction(c2, tenant.Context(account_id=acme)):
            service.get_trunk(c2, b.id)
