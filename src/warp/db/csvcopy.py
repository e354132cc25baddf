"""Header-named CSV files streamed into staging tables with COPY, and the line-accurate fallback.

Shared by every bulk import (rate decks, LERG, LRN, CDRs, vendor CDRs): the file's bytes go to
``COPY ... FROM STDIN (FORMAT csv, HEADER)`` into a temporary table whose identity column numbers
the rows (line = row + 1, the header being line 1). When COPY refuses the file as a whole (ragged
rows, unterminated quotes), :func:`malformed_lines` finds every bad line and returns the good ones
prefixed with their original line number, to be staged again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while the file streams in."""


def header(path: Path) -> list[str]:
    """The header's column names, lower-cased and trimmed (empty list for an empty file)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        return []
    return [c.strip().lower() for c in next(csv.reader([first]))]


def column_problems(names: list[str], known: Sequence[str]) -> list[str]:
    """What is wrong with a header's columns: names not in ``known``, names given twice."""
    problems = []
    unknown = [c for c in names if c not in known]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)} (known: {', '.join(known)})")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        problems.append(f"column(s) given twice: {', '.join(dupes)}")
    return problems


def copy_file(
    conn: psycopg.Connection[Any], statement: sql.Composed, path: Path, progress: Progress | None = None
) -> None:
    """Stream ``path``'s bytes to the ``COPY ... FROM STDIN`` ``statement`` (a UTF-8 BOM is dropped)."""
    total = path.stat().st_size
    with path.open("rb") as fh, conn.cursor().copy(statement) as cp:
        head = fh.read(3)
        if head != BOM:
            cp.write(head)
        done = len(head)
        while chunk := fh.read(CHUNK):
            cp.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    if progress:
        progress(total, total)


def malformed_lines(
    path: Path, width: int, line_header: str = "src_line"
) -> tuple[list[tuple[int, str]], bytes]:
    """Every structurally bad CSV line, and the good ones (header included) prefixed with their line number."""
    problems: list[tuple[int, str]] = []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        start = 1
        try:
            for record in reader:
                line = start
                start = reader.line_num + 1
                if not record or record == [""]:
                    continue
                if len(record) != width:
                    problems.append(
                        (line, f"expected {width} fields (as in the header), found {len(record)}")
                    )
                    continue
                writer.writerow([line if line > 1 else line_header, *record])
        except csv.Error as exc:
            problems.append((start, f"malformed CSV: {exc}"))
    return problems, out.getvalue().encode()


def stage_csv(
    conn: psycopg.Connection[Any],
    table: str,
    path: Path,
    columns: list[str],
    progress: Progress | None = None,
) -> list[tuple[int, str]]:
    """COPY the CSV ``path`` (header = ``columns``) into temp ``table`` (text columns + row_no, src_line).

    ``table`` must exist with ``row_no`` identity and ``src_line`` columns. Returns the structurally bad
    lines (already excluded) when COPY refused the file as a whole; the good ones are staged with
    ``src_line`` set. Otherwise ``src_line`` is NULL and the line is ``row_no + 1``.
    """
    ident = sql.Identifier(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    try:
        with conn.transaction():
            copy_file(
                conn,
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)").format(ident, cols),
                path,
                progress,
            )
        return []
    except (
        psycopg.errors.BadCopyFileFormat,
        psycopg.errors.InvalidTextRepresentation,
        psycopg.errors.CharacterNotInRepertoire,
        psycopg.errors.UntranslatableCharacter,
    ):
        pass
    problems, cleaned = malformed_lines(path, len(columns))
    with conn.cursor().copy(
        sql.SQL("COPY {} (src_line, {}) FROM STDIN (FORMAT csv, HEADER true)").format(ident, cols)
    ) as cp:
        cp.write(cleaned)
    return problems or [(0, "malformed CSV")]
