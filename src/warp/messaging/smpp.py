"""SMPP credentials: customers' binds (messaging.customer_sms_auth) and vendor binds (smpp_connectors).

No SMPP server yet; this validates and stores the data a server will authenticate against.
SMPP 3.4 limits: system_id at most 15 characters, password at most 8 (C-octet strings of 16 and 9).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import bcrypt
import psycopg
from psycopg.rows import dict_row, tuple_row

from warp.messaging.errors import InvalidCredential

Conn = psycopg.Connection[Any]
SYSTEM_ID = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
SECRET_REF = re.compile(r"^(env|file|secret):\S+$")
BCRYPT_ROUNDS = 12


@dataclass(frozen=True)
class SmsCredential:
    id: UUID
    account_id: UUID
    auth_type: str
    system_id: str | None
    allowed_ips: list[str]
    max_tps: int
    enabled: bool


def _networks(allowed_ips: list[str]) -> list[str]:
    out, bad = [], []
    for value in allowed_ips:
        try:
            out.append(str(ipaddress.ip_network(value, strict=True)))
        except ValueError:
            bad.append(value)
    if bad:
        raise InvalidCredential(f"allowed_ips: not an address or network without host bits: {', '.join(bad)}")
    return out


def create_smpp_credential(
    conn: Conn,
    *,
    account_id: UUID,
    system_id: str,
    password: str,
    allowed_ips: list[str],
    max_tps: int = 10,
    rounds: int = BCRYPT_ROUNDS,
) -> SmsCredential:
    """Store an SMPP bind for a customer: bcrypt hash of the password, allowed source networks."""
    problems = []
    if not SYSTEM_ID.match(system_id):
        problems.append("system_id: 1-15 characters of letters, digits, _ . -")
    if not 1 <= len(password) <= 8 or not password.isascii() or not password.isprintable():
        problems.append("password: 1-8 printable ASCII characters (SMPP 3.4)")
    if not allowed_ips:
        problems.append("allowed_ips: at least one address or network (binds are IP-restricted)")
    if not 1 <= max_tps <= 10000:
        problems.append("max_tps: between 1 and 10000")
    if problems:
        raise InvalidCredential("; ".join(problems))
    networks = _networks(allowed_ips)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
    try:
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "INSERT INTO messaging.customer_sms_auth (account_id, auth_type, system_id, password_hash, "
                "allowed_ips, max_tps) VALUES (%s, 'SMPP', %s, %s, %s::inet[], %s) "
                "RETURNING id, account_id, auth_type, system_id, allowed_ips, max_tps, enabled",
                (account_id, system_id, hashed, networks, max_tps),
            )
            .fetchone()
        )
    except psycopg.errors.UniqueViolation as exc:
        raise InvalidCredential(f"system_id: {system_id} is already in use") from exc
    assert row is not None
    row["allowed_ips"] = [str(n) for n in row["allowed_ips"]]
    return SmsCredential(**row)


def authenticate_bind(conn: Conn, system_id: str, password: str, source_ip: str) -> UUID | None:
    """The account of a valid, enabled SMPP bind from an allowed address, else None (staff transaction)."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT account_id, password_hash, %s::inet <<= ANY(allowed_ips) FROM messaging.customer_sms_auth "
            "WHERE system_id = %s AND auth_type = 'SMPP' AND enabled",
            (source_ip, system_id),
        )
        .fetchone()
    )
    if row is None or not row[2]:
        return None
    if not bcrypt.checkpw(password.encode(), str(row[1]).encode()):
        return None
    return UUID(str(row[0]))


def validate_connector(config: dict[str, Any]) -> list[str]:
    """Problems with a vendor SMPP connector definition (empty when valid)."""
    problems = []
    if not str(config.get("host") or "").strip():
        problems.append("host: required")
    port = config.get("port", 2775)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append("port: 1-65535")
    if not SYSTEM_ID.match(str(config.get("system_id") or "")):
        problems.append("system_id: 1-15 characters of letters, digits, _ . -")
    if not SECRET_REF.match(str(config.get("password_ref") or "")):
        problems.append(
            "password_ref: a secret reference (env:NAME, file:/path or secret:NAME), never a password"
        )
    if config.get("bind_type", "TRANSCEIVER") not in {"TRANSMITTER", "RECEIVER", "TRANSCEIVER"}:
        problems.append("bind_type: TRANSMITTER, RECEIVER or TRANSCEIVER")
    for name in ("throughput_mps", "window_size"):
        value = config.get(name, 10)
        if not isinstance(value, int) or value <= 0:
            problems.append(f"{name}: a positive integer")
    return problems
