"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from warp.db import migrate as m


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def applied_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM public.schema_migrations ORDER BY 1")]


def test_packaged_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = m.load_migrations()
    assert migrations, "the package ships no migrations"
    assert [x.version for x in migrations] == list(range(1, len(migrations) + 1))
    for x in migrations:
        assert m.FILENAME_RE.match(x.filename)


def test_fresh_database_to_head_then_noop(empty_db_url: str) -> None:
    files = m.load_migrations()
    applied = m.migrate(empty_db_url)
    assert [a.version for a in applied] == [f.version for f in files]
    assert {s.state for s in m.status(empty_db_url)} == {"applied"}
    assert m.migrate(empty_db_url) == []
    with psycopg.connect(empty_db_url) as conn:
        rows = conn.execute("SELECT version, checksum FROM public.schema_migrations ORDER BY 1").fetchall()
    assert rows == [(f.version, f.checksum) for f in files]


def test_migrate_to_stops_at_version(empty_db_url: str) -> None:
    m.migrate(empty_db_url, to=1)
    states = m.status(empty_db_url)
    assert [s.state for s in states][:1] == ["applied"]
    assert all(s.state == "pending" for s in states[1:])
    with pytest.raises(m.MigrationError, match="no migration with that version"):
        m.migrate(empty_db_url, to=9999)


def test_failed_migration_leaves_nothing_behind(empty_db_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_first.sql", "CREATE TABLE public.first_things (id int);\n")
    write(
        tmp_path,
        "0002_broken.sql",
        "-- creates a table, then fails\n"
        "CREATE TABLE public.half_done (id int);\n"
        "INSERT INTO public.half_done VALUES (1);\n"
        "\n"
        "INSERT INTO public.no_such_table\n  VALUES (1);\n",
    )
    migrations = m.load_migrations(tmp_path)
    with pytest.raises(m.MigrationError) as info:
        m.migrate(empty_db_url, migrations=migrations)
    message = str(info.value)
    assert "0002_broken.sql" in message
    assert "statement 3" in message
    assert "line 5" in message
    assert "no_such_table" in message
    assert applied_versions(empty_db_url) == [1]
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('public.half_done')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('public.first_things')").fetchone() is not None


def test_edited_or_missing_applied_file_is_drift(empty_db_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE public.a (id int);\n")
    write(tmp_path, "0002_b.sql", "CREATE TABLE public.b (id int);\n")
    m.migrate(empty_db_url, migrations=m.load_migrations(tmp_path))
    assert m.drift(m.status(empty_db_url, m.load_migrations(tmp_path))) == []

    write(tmp_path, "0001_a.sql", "CREATE TABLE public.a (id bigint);\n")
    (tmp_path / "0002_b.sql").unlink()
    states = {s.version: s.state for s in m.status(empty_db_url, m.load_migrations(tmp_path))}
    assert states == {1: "drifted", 2: "missing"}
    with pytest.raises(m.MigrationDriftError, match="0001_a"):
        m.migrate(empty_db_url, migrations=m.load_migrations(tmp_path))


def test_bad_file_names_and_duplicate_versions_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_ok.sql", "SELECT 1;")
    write(tmp_path, "1_bad.sql", "SELECT 1;")
    with pytest.raises(m.MigrationError, match=r"1_bad\.sql"):
        m.load_migrations(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    write(tmp_path, "0001_twin.sql", "SELECT 1;")
    with pytest.raises(m.MigrationError, match="share version 1"):
        m.load_migrations(tmp_path)


def test_concurrent_runners_apply_each_migration_once(empty_db_url: str) -> None:
    errors: list[BaseException] = []
    results: list[list[m.AppliedMigration]] = []

    def run() -> None:
        try:
            results.append(m.migrate(empty_db_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = len(m.load_migrations())
    assert sorted(len(r) for r in results) == [0, 0, 0, total]
    assert applied_versions(empty_db_url) == list(range(1, total + 1))


def test_two_cli_migrates_started_together_both_succeed(empty_db_url: str) -> None:
    env = {**os.environ, "WARP_DATABASE_URL": empty_db_url}
    cmd = [sys.executable, "-m", "warp.cli.main", "db", "migrate"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    total = len(m.load_migrations())
    assert applied_versions(empty_db_url) == list(range(1, total + 1))


def test_lock_timeout_stops_a_migration_stuck_behind_traffic(empty_db_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_t.sql", "CREATE TABLE public.busy (id int);\n")
    write(tmp_path, "0002_alter.sql", "ALTER TABLE public.busy ADD COLUMN note text;\n")
    m.migrate(empty_db_url, migrations=m.load_migrations(tmp_path), to=1)
    with psycopg.connect(empty_db_url) as reader:
        reader.execute("SELECT * FROM public.busy")  # holds ACCESS SHARE until rollback
        with pytest.raises(m.MigrationError, match="lock timeout"):
            m.migrate(empty_db_url, migrations=m.load_migrations(tmp_path), lock_timeout="200ms")
        reader.rollback()
    assert applied_versions(empty_db_url) == [1]
    m.migrate(empty_db_url, migrations=m.load_migrations(tmp_path))
    assert applied_versions(empty_db_url) == [1, 2]


def test_split_statements_respects_dollar_quotes_and_comments() -> None:
    text = (
        "-- header comment; with a semicolon\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  RETURN 1;\nEND;\n$$;\n"
        "SELECT 'a;b';\n"
        "/* block; comment */\n"
    )
    stmts = m.split_statements(text)
    assert [s.line for s in stmts] == [2, 7]
    assert "RETURN 1;" in stmts[0].text
    assert stmts[1].text.strip() == "SELECT 'a;b';"
