"""Routing service functions. Each takes a connection; the caller owns the transaction.

Carriers, carrier trunks and partitions are platform reference data (staff writes them); customer
trunks and their ACLs are tenant data, so the same functions serve staff and customers: row-level
security decides what a transaction sees.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from warp.routing.errors import (
    AccountNotFound,
    AclNotFound,
    AclOverlap,
    CarrierNotFound,
    CarrierTrunkNotFound,
    Duplicate,
    InvalidRouting,
    PartitionNotFound,
    RoutingError,
    TrunkNotFound,
)

AUTH_TYPES = ("IP_ACL", "SIP_REGISTER", "BOTH")
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
STRATEGIES = ("LCR", "PRIORITY", "QUALITY", "WEIGHTED")
DEFAULT_REALM = "sip.warp.local"
_CODEC_RE = re.compile(r"^[A-Za-z0-9._/-]{1,32}$")

_DUPLICATES = {
    "carriers_name_key": "name: a carrier with this name already exists",
    "carrier_trunks_name_key": "name: a carrier trunk with this name already exists",
    "partitions_name_key": "name: a partition with this name already exists",
    "partitions_is_default_key": "default: another partition is already the default",
    "trunks_account_id_name_key": "name: the account already has a trunk with this name",
    "trunks_sip_username_key": "sip_username: already used by another trunk",
    "trunk_acl_trunk_id_network_key": "network: already in this trunk's ACL",
    "partition_carrier_trunks_partition_id_carrier_trunk_id_key": "carrier_trunks: listed twice",
}

_MISSING = {"trunks_account_id_fkey": "account_id: no such account"}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn constraint violations into routing errors naming the field (inside a savepoint)."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        name = exc.diag.constraint_name or ""
        raise Duplicate(_DUPLICATES.get(name, f"{name}: duplicate")) from exc
    except psycopg.errors.ExclusionViolation as exc:
        if exc.diag.constraint_name == "trunk_acl_network_excl":
            raise AclOverlap(
                "network: overlaps an ACL entry of another account (address space belongs to one account)"
            ) from exc
        raise InvalidRouting(f"{exc.diag.constraint_name}: {exc.diag.message_primary}") from exc
    except psycopg.errors.CheckViolation as exc:
        name = exc.diag.constraint_name or ""
        table = exc.diag.table_name or ""
        fld = name.removeprefix(f"{table}_").removesuffix("_check") if table else name
        raise InvalidRouting(f"{fld or 'value'}: invalid value ({exc.diag.message_primary})") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        name = exc.diag.constraint_name or ""
        raise InvalidRouting(_MISSING.get(name, f"{name}: refers to a missing row")) from exc


# --- carriers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Carrier:
    """A row of routing.carriers."""

    id: UUID
    name: str
    carrier_type: str
    enabled: bool
    created_at: datetime


def create_carrier(
    conn: psycopg.Connection[Any], *, name: str, carrier_type: str = "TERMINATION", enabled: bool = True
) -> Carrier:
    """Create a carrier."""
    if not name.strip():
        raise InvalidRouting("name: must not be empty")
    with _mapped_errors(), conn.transaction():
        cur = conn.cursor(row_factory=class_row(Carrier))
        row = cur.execute(
            "INSERT INTO routing.carriers (name, carrier_type, enabled) VALUES (%s, %s, %s) "
            "RETURNING id, name, carrier_type, enabled, created_at",
            (name, carrier_type.upper(), enabled),
        ).fetchone()
    assert row is not None
    return row


def list_carriers(conn: psycopg.Connection[Any]) -> list[Carrier]:
    """All carriers by name."""
    cur = conn.cursor(row_factory=class_row(Carrier))
    return cur.execute(
        "SELECT id, name, carrier_type, enabled, created_at FROM routing.carriers ORDER BY name"
    ).fetchall()


def get_carrier(conn: psycopg.Connection[Any], name: str) -> Carrier:
    """The carrier called ``name``."""
    cur = conn.cursor(row_factory=class_row(Carrier))
    row = cur.execute(
        "SELECT id, name, carrier_type, enabled, created_at FROM routing.carriers WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        raise CarrierNotFound(f"carrier: no carrier named {name!r}")
    return row


def set_carrier_enabled(conn: psycopg.Connection[Any], name: str, enabled: bool) -> Carrier:
    """Enable or disable a carrier (all its trunks stop being LCR candidates when disabled)."""
    carrier = get_carrier(conn, name)
    conn.execute("UPDATE routing.carriers SET enabled = %s WHERE id = %s", (enabled, carrier.id))
    return get_carrier(conn, name)


@dataclass(frozen=True)
class CarrierTrunk:
    """A row of routing.carrier_trunks with its carrier's name."""

    id: UUID
    carrier_id: UUID
    carrier: str
    name: str
    host: str
    port: int
    transport: str
    priority: int
    weight: int
    max_channels: int | None
    is_emergency: bool
    enabled: bool
    created_at: datetime


_CT_SELECT = """
    SELECT ct.id, ct.carrier_id, c.name AS carrier, ct.name, ct.host, ct.port, ct.transport, ct.priority,
           ct.weight, ct.max_channels, ct.is_emergency, ct.enabled, ct.created_at
    FROM routing.carrier_trunks ct JOIN routing.carriers c ON c.id = ct.carrier_id
"""


def create_carrier_trunk(
    conn: psycopg.Connection[Any],
    *,
    carrier: str,
    name: str,
    host: str,
    port: int = 5060,
    transport: str = "udp",
    priority: int = 100,
    weight: int = 100,
    max_channels: int | None = None,
    is_emergency: bool = False,
    enabled: bool = True,
) -> CarrierTrunk:
    """Create a SIP endpoint of ``carrier``."""
    if transport.lower() not in TRANSPORTS:
        raise InvalidRouting(f"transport: must be one of {', '.join(TRANSPORTS)}")
    if not host.strip():
        raise InvalidRouting("host: must not be empty")
    owner = get_carrier(conn, carrier)
    with _mapped_errors(), conn.transaction():
        row = conn.execute(
            "INSERT INTO routing.carrier_trunks (carrier_id, name, host, port, transport, priority, weight, "
            "max_channels, is_emergency, enabled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                owner.id,
                name,
                host,
                port,
                transport.lower(),
                priority,
                weight,
                max_channels,
                is_emergency,
                enabled,
            ),
        ).fetchone()
    assert row is not None
    return get_carrier_trunk(conn, name)


def get_carrier_trunk(conn: psycopg.Connection[Any], name: str) -> CarrierTrunk:
    """The carrier trunk called ``name``."""
    cur = conn.cursor(row_factory=class_row(CarrierTrunk))
    row = cur.execute(_CT_SELECT + " WHERE ct.name = %s", (name,)).fetchone()
    if row is None:
        raise CarrierTrunkNotFound(f"carrier_trunk: no carrier trunk named {name!r}")
    return row


def list_carrier_trunks(conn: psycopg.Connection[Any], carrier: str | None = None) -> list[CarrierTrunk]:
    """Carrier trunks (optionally of one carrier) by carrier and name."""
    cur = conn.cursor(row_factory=class_row(CarrierTrunk))
    if carrier is None:
        return cur.execute(_CT_SELECT + " ORDER BY c.name, ct.name").fetchall()
    return cur.execute(_CT_SELECT + " WHERE c.name = %s ORDER BY ct.name", (carrier,)).fetchall()


def set_carrier_trunk_enabled(conn: psycopg.Connection[Any], name: str, enabled: bool) -> CarrierTrunk:
    """Enable or disable one carrier trunk."""
    trunk = get_carrier_trunk(conn, name)
    conn.execute("UPDATE routing.carrier_trunks SET enabled = %s WHERE id = %s", (enabled, trunk.id))
    return get_carrier_trunk(conn, name)


# --- partitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A routing partition with its member carrier trunks (names) and how many accounts use it."""

    id: UUID
    name: str
    strategy: str
    allow_loss_routing: bool
    is_default: bool
    enabled: bool
    carrier_trunks: list[str] = field(default_factory=list)
    accounts: int = 0


_PARTITION_SELECT = """
    SELECT p.id, p.name, p.strategy, p.allow_loss_routing, p.is_default, p.enabled,
           ARRAY(SELECT ct.name::text FROM routing.partition_carrier_trunks pct
                 JOIN routing.carrier_trunks ct ON ct.id = pct.carrier_trunk_id
                 WHERE pct.partition_id = p.id ORDER BY ct.name) AS carrier_trunks,
           (SELECT count(*)::integer FROM routing.account_partitions ap WHERE ap.partition_id = p.id) AS accounts
    FROM routing.partitions p
"""


def create_partition(
    conn: psycopg.Connection[Any],
    *,
    name: str,
    carrier_trunks: Sequence[str],
    strategy: str = "LCR",
    allow_loss_routing: bool = False,
    is_default: bool = False,
) -> Partition:
    """Create a partition over the named carrier trunks."""
    strategy = strategy.upper()
    if strategy not in STRATEGIES:
        raise InvalidRouting(f"strategy: must be one of {', '.join(STRATEGIES)}")
    names = [n.strip() for n in carrier_trunks if n.strip()]
    if len(set(names)) != len(names):
        raise InvalidRouting("carrier_trunks: a carrier trunk is listed twice")
    rows = conn.execute(
        "SELECT name, id FROM routing.carrier_trunks WHERE name = ANY(%s)", (names,)
    ).fetchall()
    found = {_first(r): _second(r) for r in rows}
    missing = [n for n in names if n not in found]
    if missing:
        raise CarrierTrunkNotFound(f"carrier_trunks: no carrier trunk named {', '.join(map(repr, missing))}")
    with _mapped_errors(), conn.transaction():
        row = conn.execute(
            "INSERT INTO routing.partitions (name, strategy, allow_loss_routing, is_default) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (name, strategy, allow_loss_routing, is_default),
        ).fetchone()
        assert row is not None
        partition_id = _first(row)
        conn.execute(
            "INSERT INTO routing.partition_carrier_trunks (partition_id, carrier_trunk_id) "
            "SELECT %s, unnest(%s::uuid[])",
            (partition_id, [found[n] for n in names]),
        )
    return get_partition(conn, name)


def get_partition(conn: psycopg.Connection[Any], name: str) -> Partition:
    """The partition called ``name``."""
    cur = conn.cursor(row_factory=class_row(Partition))
    row = cur.execute(_PARTITION_SELECT + " WHERE p.name = %s", (name,)).fetchone()
    if row is None:
        raise PartitionNotFound(f"partition: no partition named {name!r}")
    return row


def list_partitions(conn: psycopg.Connection[Any]) -> list[Partition]:
    """All partitions by name."""
    cur = conn.cursor(row_factory=class_row(Partition))
    return cur.execute(_PARTITION_SELECT + " ORDER BY p.name").fetchall()


def assign_partition(
    conn: psycopg.Connection[Any], *, account_id: UUID, partition: str, trunk_id: UUID | None = None
) -> Partition:
    """Route ``account_id`` through ``partition`` (replacing its previous account-level assignment).

    With ``trunk_id`` (one of the account's customer trunks) the assignment is that trunk's override:
    calls arriving on the trunk use ``partition`` whatever the account's own partition is.
    """
    target = get_partition(conn, partition)
    if trunk_id is not None:
        _account_trunk(conn, account_id, trunk_id)
    with _mapped_errors(), conn.transaction():
        conn.execute(
            "INSERT INTO routing.account_partitions (account_id, trunk_id, partition_id) VALUES (%s, %s, %s) "
            "ON CONFLICT ON CONSTRAINT account_partitions_account_id_trunk_id_key "
            "DO UPDATE SET partition_id = EXCLUDED.partition_id",
            (account_id, trunk_id, target.id),
        )
    return get_partition(conn, partition)


def _account_trunk(conn: psycopg.Connection[Any], account_id: UUID, trunk_id: UUID) -> None:
    """Refuse a customer trunk that is not visible or not ``account_id``'s."""
    row = conn.execute("SELECT account_id FROM routing.trunks WHERE id = %s", (trunk_id,)).fetchone()
    if row is None:
        raise TrunkNotFound(f"trunk: no trunk {trunk_id}")
    if _first(row) != account_id:
        raise InvalidRouting(f"trunk: trunk {trunk_id} belongs to another account")


def _first(row: Any) -> Any:
    return row[next(iter(row))] if isinstance(row, dict) else row[0]


def _second(row: Any) -> Any:
    return list(row.values())[1] if isinstance(row, dict) else row[1]


# --- customer trunks and ACLs -------------------------------------------------------------------


@dataclass(frozen=True)
class Trunk:
    """A customer SIP trunk (the HA1 digest is never returned)."""

    id: UUID
    account_id: UUID
    name: str
    description: str | None
    auth_type: str
    sip_username: str | None
    sip_realm: str | None
    has_sip_credentials: bool
    max_concurrent_calls: int
    max_calls_per_second: int
    codecs: list[str]
    tech_prefix: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


_TRUNK_SELECT = """
    SELECT id, account_id, name, description, auth_type, sip_username, sip_realm,
           sip_ha1 IS NOT NULL AS has_sip_credentials, max_concurrent_calls, max_calls_per_second, codecs,
           tech_prefix, enabled, created_at, updated_at
    FROM routing.trunks
"""


def digest_ha1(username: str, realm: str, password: str) -> str:
    """SIP digest HA1 = MD5(username:realm:password), what Kamailio's auth_db checks against."""
    # MD5 is mandated by SIP digest authentication (RFC 2617/3261), not chosen for security here.
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def _check_codecs(codecs: Sequence[str]) -> list[str]:
    cleaned = [c.strip() for c in codecs if c.strip()]
    bad = [c for c in cleaned if not _CODEC_RE.match(c)]
    if bad or not cleaned:
        raise InvalidRouting(f"codecs: invalid codec name(s) {bad}" if bad else "codecs: at least one codec")
    return cleaned


def _credentials(
    auth_type: str, sip_username: str | None, sip_password: str | None, sip_realm: str | None
) -> dict[str, Any]:
    if auth_type not in AUTH_TYPES:
        raise InvalidRouting(f"auth_type: must be one of {', '.join(AUTH_TYPES)}")
    if auth_type == "IP_ACL":
        if sip_password:
            raise InvalidRouting("sip_password: an IP_ACL trunk takes no SIP credentials")
        return {"auth_type": auth_type, "sip_username": None, "sip_realm": None, "sip_ha1": None}
    if not sip_username or not sip_password:
        raise InvalidRouting(f"sip_username, sip_password: required for auth_type {auth_type}")
    realm = sip_realm or DEFAULT_REALM
    return {
        "auth_type": auth_type,
        "sip_username": sip_username,
        "sip_realm": realm,
        "sip_ha1": digest_ha1(sip_username, realm, sip_password),
    }


def create_trunk(
    conn: psycopg.Connection[Any],
    *,
    account_id: UUID,
    name: str,
    auth_type: str = "IP_ACL",
    sip_username: str | None = None,
    sip_password: str | None = None,
    sip_realm: str | None = None,
    max_concurrent_calls: int = 10,
    max_calls_per_second: int = 5,
    codecs: Sequence[str] = ("PCMU", "PCMA"),
    tech_prefix: str | None = None,
    description: str | None = None,
    enabled: bool = True,
) -> Trunk:
    """Create a customer trunk; a SIP password is turned into its digest HA1 and never stored."""
    values = _credentials(auth_type.upper(), sip_username, sip_password, sip_realm)
    values.update(
        account_id=account_id,
        name=name,
        description=description,
        max_concurrent_calls=max_concurrent_calls,
        max_calls_per_second=max_calls_per_second,
        codecs=_check_codecs(codecs),
        tech_prefix=tech_prefix,
        enabled=enabled,
    )
    stmt = sql.SQL("INSERT INTO routing.trunks ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(map(sql.Identifier, values)), sql.SQL(", ").join(sql.Placeholder() * len(values))
    )
    with _mapped_errors(), conn.transaction():
        row = conn.execute(stmt, list(values.values())).fetchone()
    if row is None:  # pragma: no cover - RETURNING always yields a row or raises
        raise RoutingError("trunk was not created")
    return get_trunk(conn, _first(row))


def get_trunk(conn: psycopg.Connection[Any], trunk_id: UUID) -> Trunk:
    """The trunk ``trunk_id`` if visible to the transaction."""
    cur = conn.cursor(row_factory=class_row(Trunk))
    row = cur.execute(_TRUNK_SELECT + " WHERE id = %s", (trunk_id,)).fetchone()
    if row is None:
        raise TrunkNotFound(f"trunk: no trunk {trunk_id}")
    return row


def get_trunk_by_name(conn: psycopg.Connection[Any], account_id: UUID, name: str) -> Trunk:
    """The account's customer trunk called ``name``."""
    cur = conn.cursor(row_factory=class_row(Trunk))
    row = cur.execute(_TRUNK_SELECT + " WHERE account_id = %s AND name = %s", (account_id, name)).fetchone()
    if row is None:
        raise TrunkNotFound(f"trunk: the account has no trunk named {name!r}")
    return row


def list_trunks(conn: psycopg.Connection[Any], account_id: UUID | None = None) -> list[Trunk]:
    """Trunks visible to the transaction (optionally of one account), by name."""
    cur = conn.cursor(row_factory=class_row(Trunk))
    if account_id is None:
        return cur.execute(_TRUNK_SELECT + " ORDER BY name, id").fetchall()
    return cur.execute(_TRUNK_SELECT + " WHERE account_id = %s ORDER BY name, id", (account_id,)).fetchall()


def list_trunks_page(
    conn: psycopg.Connection[Any],
    *,
    limit: int,
    after: tuple[datetime, UUID] | None = None,
    account_id: UUID | None = None,
) -> list[Trunk]:
    """Up to ``limit`` trunks visible to the transaction, oldest first, after the (created_at, id) key."""
    where = [sql.SQL("true")]
    params: list[Any] = []
    if account_id is not None:
        where.append(sql.SQL("account_id = %s"))
        params.append(account_id)
    if after is not None:
        where.append(sql.SQL("(created_at, id) > (%s, %s)"))
        params.extend(after)
    stmt = sql.SQL(_TRUNK_SELECT) + sql.SQL(" WHERE {} ORDER BY created_at, id LIMIT %s").format(
        sql.SQL(" AND ").join(where)
    )
    cur = conn.cursor(row_factory=class_row(Trunk))
    return cur.execute(stmt, [*params, limit]).fetchall()


_UPDATABLE = {
    "name",
    "description",
    "max_concurrent_calls",
    "max_calls_per_second",
    "codecs",
    "tech_prefix",
    "enabled",
}


def update_trunk(conn: psycopg.Connection[Any], trunk_id: UUID, **changes: Any) -> Trunk:
    """Change a trunk. ``auth_type``/``sip_username``/``sip_password``/``sip_realm`` replace credentials."""
    current = get_trunk(conn, trunk_id)
    values: dict[str, Any] = {}
    cred_keys = {"auth_type", "sip_username", "sip_password", "sip_realm"}
    unknown = set(changes) - _UPDATABLE - cred_keys
    if unknown:
        raise InvalidRouting(f"{', '.join(sorted(unknown))}: cannot be changed")
    for key in _UPDATABLE & set(changes):
        values[key] = _check_codecs(changes[key]) if key == "codecs" else changes[key]
    if cred_keys & set(changes):
        auth_type = (changes.get("auth_type") or current.auth_type).upper()
        if auth_type != "IP_ACL" and "sip_password" not in changes:
            raise InvalidRouting("sip_password: required to set or change SIP credentials")
        values.update(
            _credentials(
                auth_type,
                changes.get("sip_username") or current.sip_username,
                changes.get("sip_password"),
                changes.get("sip_realm") or current.sip_realm,
            )
        )
    if values:
        stmt = sql.SQL("UPDATE routing.trunks SET {} WHERE id = {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values
            ),
            sql.Placeholder(),
        )
        with _mapped_errors(), conn.transaction():
            conn.execute(stmt, [*values.values(), trunk_id])
    return get_trunk(conn, trunk_id)


def delete_trunk(conn: psycopg.Connection[Any], trunk_id: UUID) -> None:
    """Delete a trunk (its ACL entries go with it)."""
    cur = conn.execute("DELETE FROM routing.trunks WHERE id = %s", (trunk_id,))
    if cur.rowcount == 0:
        raise TrunkNotFound(f"trunk: no trunk {trunk_id}")


@dataclass(frozen=True)
class AclEntry:
    """One network allowed to send calls on a trunk."""

    id: UUID
    trunk_id: UUID
    network: str
    description: str | None
    created_at: datetime


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise InvalidRouting(f"network: {value!r} is not an IP address or network") from exc


def add_acl(
    conn: psycopg.Connection[Any], trunk_id: UUID, network: str, description: str | None = None
) -> AclEntry:
    """Allow ``network`` (address or CIDR; host bits are cleared) on the trunk."""
    trunk = get_trunk(conn, trunk_id)
    cur = conn.cursor(row_factory=class_row(AclEntry))
    with _mapped_errors(), conn.transaction():
        row = cur.execute(
            "INSERT INTO routing.trunk_acl (trunk_id, account_id, network, description) "
            "VALUES (%s, %s, %s::inet, %s) RETURNING id, trunk_id, network::text AS network, description, "
            "created_at",
            (trunk.id, trunk.account_id, _network(network), description),
        ).fetchone()
    assert row is not None
    return row


def list_acl(conn: psycopg.Connection[Any], trunk_id: UUID) -> list[AclEntry]:
    """The trunk's ACL, most specific networks first."""
    get_trunk(conn, trunk_id)
    cur = conn.cursor(row_factory=class_row(AclEntry))
    return cur.execute(
        "SELECT id, trunk_id, network::text AS network, description, created_at FROM routing.trunk_acl "
        "WHERE trunk_id = %s ORDER BY family(network), masklen(network) DESC, network",
        (trunk_id,),
    ).fetchall()


def list_acl_page(
    conn: psycopg.Connection[Any], trunk_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[AclEntry]:
    """Up to ``limit`` ACL entries of the trunk, oldest first, after the (created_at, id) key."""
    get_trunk(conn, trunk_id)
    cur = conn.cursor(row_factory=class_row(AclEntry))
    if after is None:
        after_sql, params = "", [trunk_id, limit]
    else:
        after_sql, params = " AND (created_at, id) > (%s, %s)", [trunk_id, *after, limit]
    return cur.execute(
        "SELECT id, trunk_id, network::text AS network, description, created_at FROM routing.trunk_acl "
        f"WHERE trunk_id = %s{after_sql} ORDER BY created_at, id LIMIT %s",
        params,
    ).fetchall()


def remove_acl(conn: psycopg.Connection[Any], trunk_id: UUID, network: str) -> None:
    """Remove ``network`` from the trunk's ACL."""
    get_trunk(conn, trunk_id)
    cur = conn.execute(
        "DELETE FROM routing.trunk_acl WHERE trunk_id = %s AND network = %s::inet",
        (trunk_id, _network(network)),
    )
    if cur.rowcount == 0:
        raise AclNotFound(f"network: {network} is not in the ACL of trunk {trunk_id}")


@dataclass(frozen=True)
class IdentifiedTrunk:
    """The answer of routing.identify_trunk."""

    trunk_id: UUID
    account_id: UUID
    trunk_name: str
    network: str


def identify_trunk(conn: psycopg.Connection[Any], source: str) -> IdentifiedTrunk | None:
    """The enabled trunk whose ACL holds ``source`` (most specific network wins), or None."""
    cur = conn.cursor(row_factory=class_row(IdentifiedTrunk))
    return cur.execute(
        "SELECT trunk_id, account_id, trunk_name, network::text AS network FROM routing.identify_trunk(%s::inet)",
        (source,),
    ).fetchone()


# --- least cost routing -------------------------------------------------------------------------


@dataclass(frozen=True)
class LcrRow:
    """One carrier trunk judged for a call: ranked, or excluded with the reason."""

    rank: int | None
    carrier_trunk_id: UUID | None
    carrier_trunk: str | None
    carrier: str | None
    prefix: str | None
    rate: Decimal | None
    connection_fee: Decimal | None
    initial_increment: int | None
    subsequent_increment: int | None
    priority: int | None
    weight: int | None
    asr: Decimal | None
    acd_seconds: Decimal | None
    excluded: str | None


@dataclass(frozen=True)
class LcrDecision:
    """Where a call goes and why: ordered candidates, the trunks left out with reasons, and context."""

    destination: str
    origin: str | None
    partition: str | None
    strategy: str | None
    jurisdiction: str | None
    sell_rate: Decimal | None
    candidates: list[LcrRow]
    exclusions: list[LcrRow]
    blocked: str | None = None
    partition_source: str | None = None  # 'trunk' (the trunk's override), 'account' or 'default'

    def as_dict(self, *, show_costs: bool = True) -> dict[str, Any]:
        """JSON-ready form; ``show_costs=False`` hides costs, sell rate and exclusions (customer view)."""

        def row(r: LcrRow) -> dict[str, Any]:
            out: dict[str, Any] = {
                "rank": r.rank,
                "carrier_trunk": r.carrier_trunk,
                "carrier": r.carrier,
                "prefix": r.prefix,
            }
            if show_costs:
                out.update(
                    carrier_trunk_id=None if r.carrier_trunk_id is None else str(r.carrier_trunk_id),
                    rate=None if r.rate is None else str(r.rate),
                    connection_fee=None if r.connection_fee is None else str(r.connection_fee),
                    initial_increment=r.initial_increment,
                    subsequent_increment=r.subsequent_increment,
                    priority=r.priority,
                    weight=r.weight,
                    asr=None if r.asr is None else str(r.asr),
                    acd_seconds=None if r.acd_seconds is None else str(r.acd_seconds),
                )
            if r.excluded is not None:
                out["reason"] = r.excluded
            return out

        data: dict[str, Any] = {
            "destination": self.destination,
            "origin": self.origin,
            "partition": self.partition,
            "partition_source": self.partition_source,
            "strategy": self.strategy,
            "jurisdiction": self.jurisdiction,
            "blocked": self.blocked,
            "candidates": [row(r) for r in self.candidates],
        }
        if show_costs:
            data["sell_rate"] = None if self.sell_rate is None else str(self.sell_rate)
            data["exclusions"] = [row(r) for r in self.exclusions]
        return data


def lcr(
    conn: psycopg.Connection[Any],
    destination: str,
    account_id: UUID,
    *,
    origin: str | None = None,
    limit: int = 5,
    at: datetime | None = None,
    trunk_id: UUID | None = None,
) -> LcrDecision:
    """Route a call like routing.calculate_lcr does, with the reasons for every trunk left out.

    ``trunk_id``: the account's customer trunk the call arrives on (its partition override applies).
    """
    if limit < 1:
        raise InvalidRouting("limit: must be at least 1")
    try:
        if trunk_id is not None:
            _account_trunk(conn, account_id, trunk_id)
        with conn.transaction():
            rows = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    "SELECT * FROM routing.explain_lcr(%s, %s, %s, coalesce(%s, now()), %s)",
                    (destination, account_id, origin, at, trunk_id),
                )
                .fetchall()
            )
    except psycopg.errors.InvalidParameterValue as exc:
        raise InvalidRouting(f"destination: {exc.diag.message_primary}") from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise AccountNotFound(f"account_id: no account {account_id}") from exc
    names = LcrRow.__dataclass_fields__
    judged = [LcrRow(**{k: r[k] for k in names}) for r in rows]
    first = rows[0] if rows else {}
    candidates = [r for r in judged if r.rank is not None][:limit]
    exclusions = [r for r in judged if r.rank is None and r.carrier_trunk_id is not None]
    blocked = next((r.excluded for r in judged if r.rank is None and r.carrier_trunk_id is None), None)
    return LcrDecision(
        destination=destination,
        origin=origin,
        partition=first.get("partition_name"),
        strategy=first.get("strategy"),
        jurisdiction=first.get("jurisdiction"),
        sell_rate=first.get("sell_rate"),
        candidates=candidates,
        exclusions=exclusions,
        blocked=blocked,
        partition_source=first.get("partition_source"),
    )
