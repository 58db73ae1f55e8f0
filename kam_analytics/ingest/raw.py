"""A file read into DuckDB as text: the ``RawTable`` every reader returns, and its header."""
from __future__ import annotations

import contextvars

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kam_analytics.errors import IngestError
from kam_analytics.tmpfiles import owned_prefix

HEADER_SEARCH_ROWS = 20
_GLOB_CHARS = set("*?[]{}")


@dataclass
class RawTable:
    """A file read into DuckDB: VARCHAR columns c0…cN plus where the data starts.

    ``records`` is the number of non-empty records in the file as counted independently of
    DuckDB (``count_method`` says how); a complete table holds exactly that many rows."""

    table: str
    columns: list[str]
    headers: list[str]
    header_rowid: int  # rowid of the header record (-1 when the format carries names, e.g. Parquet)
    file_format: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    records: int | None = None
    blank_records: int = 0  # of ``records``: those with no value (an estimate, text files only)
    count_method: str | None = None
    encoding_reason: str | None = None
    complete: bool = True  # False when ``table`` holds only the first rows of the file
    # Set when ``table`` holds only the first rows of a longer text file: gives the SQL that
    # reads the data records (after the header) of the whole file as c0…cN, all VARCHAR except
    # the columns named in its ``types`` argument ({"c3": "DOUBLE"}); and temp files it needs.
    full_source: Callable[..., str] | None = None
    temp_files: list[Path] = field(default_factory=list)
    # Set with ``full_source``: the independent count, still running; ``settle`` waits for it.
    pending_count: Callable | None = None
    has_nul: bool = False
    maybe_padded: bool = True  # see ``RecordCount.maybe_padded``

    def set_count(self, count) -> None:
        """Take an independent ``RecordCount`` of the file."""
        self.records, self.blank_records, self.count_method = count.records, count.blank, count.method
        self.has_nul, self.maybe_padded = count.has_nul, count.maybe_padded

    def settle(self) -> None:
        """Wait for a count still running (see ``pending_count``)."""
        if self.pending_count is not None:
            self.set_count(self.pending_count())
            self.pending_count = None

    def row_number_sql(self) -> str:
        """The user-facing row number: the header is row 1, as a spreadsheet shows it."""
        return "rowid + 1" if self.header_rowid >= 0 else "rowid + 2"

    @property
    def leading_records(self) -> int:
        """Records up to and including the header (title lines above it, then the header)."""
        return self.header_rowid + 1


# The header row the user chose (1-based: the file's line or the sheet's row that holds the
# names), for the read under way (``read.read_raw`` sets it around one read); None: find it.
CHOSEN_HEADER_ROW: contextvars.ContextVar[int | None] = contextvars.ContextVar("chosen_header_row", default=None)


def find_header(con, table: str) -> tuple[list[str], list[str], int, list[str]]:
    """Locate the header record among the first rows: title lines above it are skipped.

    The header is the first of the first 20 records whose number of distinct filled cells
    reaches 80% of the widest of them (and at least 2). Counting distinct texts skips a title
    banner whose merged cells a workbook reader filled across the row (one text seven times is
    a title, not seven column names). Columns must already be named c0…cN.
    Returns columns, headers, the header's rowid and the header names that were repeated.
    """
    columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    rows = first_rows(con, table, HEADER_SEARCH_ROWS)
    filled = [(row[0], len({str(v).strip() for v in row[1:] if v is not None and str(v).strip()})) for row in rows]
    widest = max((n for _, n in filled), default=0)
    if widest == 0:
        raise IngestError("file_empty", file="")
    header_rowid, header_values = 0, rows[0][1:]
    chosen = CHOSEN_HEADER_ROW.get()
    if chosen is not None:
        if not 1 <= chosen <= len(rows):
            raise IngestError("header_row_out_of_range", row=chosen, rows=len(rows))
        row = rows[chosen - 1]
        headers, repeated = clean_headers(row[1:])
        return columns, headers, row[0], repeated
    for (rowid, n), row in zip(filled, rows):
        if n >= max(2, 0.8 * widest) or (widest == 1 and n == 1):
            header_rowid, header_values = rowid, row[1:]
            break
    headers, repeated = clean_headers(header_values)
    return columns, headers, header_rowid, repeated


def first_rows(con, table: str, count: int, columns: str = "*") -> list[tuple]:
    """The first ``count`` rows of a raw table as (rowid, cells…), in file order.

    A plain LIMIT scan (raw tables keep insertion order), sorted here: ORDER BY or a rowid
    filter over 10,000 columns took DuckDB 2–7 s for twenty rows."""
    rows = con.execute(f'SELECT rowid, {columns} FROM "{table}" LIMIT {int(count)}').fetchall()
    return sorted(rows, key=lambda row: row[0])


def clean_headers(values) -> tuple[list[str], list[str]]:
    """Header texts, trimmed; an empty one becomes 'column N'; a repeated one gets ' (2)', ' (3)'.
    Returns the headers and the names that were repeated (for a warning)."""
    headers, seen = [], Counter()
    for i, value in enumerate(values):
        text = str(value).replace("\ufeff", "").strip() if value is not None else ""
        text = text or f"column {i + 1}"
        seen[text] += 1
        headers.append(text if seen[text] == 1 else f"{text} ({seen[text]})")
    return headers, [name for name, n in seen.items() if n > 1]


def literal_path(path: Path, tmp_dir: Path | None, temps: list[Path]) -> Path:
    """The path DuckDB may read: DuckDB expands * ? [ ] { } in file names as globs, so a file
    named like that is read through a link with a plain name (a name is never a pattern)."""
    if not (_GLOB_CHARS & set(str(path.resolve()))):
        return path
    import tempfile

    folder = Path(tmp_dir or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"{owned_prefix('link')}{os.urandom(6).hex()}{''.join(c for c in path.suffix if c not in _GLOB_CHARS)}"
    link.symlink_to(path.resolve())
    temps.append(link)
    return link
