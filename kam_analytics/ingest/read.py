"""Read a user's file into a raw all-VARCHAR DuckDB table, whatever its format and encoding.

The format is sniffed from the content (an .xlsx renamed .csv still loads); the encoding is
detected from the bytes (BOMs, UTF-16 without BOM, strict UTF-8, then a statistical guess
between GB18030, Big5 and cp1252); the delimiter from the first lines. DuckDB parses text
files itself, so a multi-GB CSV never passes through pandas. Files in an encoding DuckDB
does not read natively are transcoded to UTF-8 in a streaming pass (constant memory).
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kam_analytics.errors import IngestError
from kam_analytics.ingest.raw import RawTable, clean_headers, find_header, literal_path
from kam_analytics.ingest.text import read_text

SAMPLE_BYTES = 1 << 20
TEXT_EXTENSIONS = {".csv", ".tsv", ".txt", ".tab", ".dat", ""}


# -- sniffing ---------------------------------------------------------------------------------
def sniff_format(path: Path, head: bytes) -> str:
    """'xlsx', 'xls', 'parquet' or 'text', from the first bytes (extension only as a hint)."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    ext = path.suffix.lower()
    if ext in (".xlsx", ".xlsm"):
        return "xlsx"  # not a zip: reported as a damaged workbook by the reader
    if ext == ".parquet":
        return "parquet"
    return "text"


# -- reading ----------------------------------------------------------------------------------
def read_raw(con, path: str | Path, table: str, sheet: str | None = None, tmp_dir: Path | None = None,
             sample_rows: int | None = None) -> RawTable:
    """Read ``path`` into DuckDB table ``table`` (all VARCHAR). Raises IngestError when unusable.

    With ``sample_rows``, a text file longer than that is read only up to that many records
    and the RawTable carries ``full_source`` for one direct pass over the whole file later
    (the caller deletes ``temp_files`` when done)."""
    path = Path(path)
    if not path.exists():
        raise IngestError("file_missing", file=path.name)
    if path.is_dir():
        raise IngestError("file_is_folder", file=path.name)
    size = path.stat().st_size
    if size == 0:
        raise IngestError("file_empty", file=path.name)
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    kind = sniff_format(path, head)
    if kind == "xls":
        raise IngestError("file_xls", file=path.name)
    if kind == "xlsx":
        raw = _read_xlsx(con, path, table, sheet)
    elif kind == "parquet":
        raw = _read_parquet(con, path, table, tmp_dir)
    else:
        raw = read_text(con, path, table, head, truncated=size > len(head), tmp_dir=tmp_dir,
                        sample_rows=sample_rows)
    return raw


def _cell_text(value) -> str | None:
    """An Excel cell as text the parsers understand: dates ISO, integral floats without '.0'."""
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def list_sheets(path: str | Path) -> list[str]:
    import openpyxl

    try:
        with open(path, "rb") as handle:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            names = list(workbook.sheetnames)
            workbook.close()
            return names
    except Exception:
        raise IngestError("file_bad_xlsx", file=Path(path).name) from None


_ROW = re.compile(rb"<row\b[^>]*>(.*?)</row>", re.S)
_UNCALCULATED = re.compile(rb'<c\b[^>]*\br="([A-Z]+[0-9]+)"[^>]*>\s*<f\b[^>]*(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>')
_MERGE = re.compile(rb'<mergeCell\b[^>]*\bref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


@dataclass
class _SheetFacts:
    """Read from the sheet's XML, apart from openpyxl's parse: rows holding a value, merged
    ranges, and formula cells saved without a calculated value."""

    value_rows: int
    merged: list[str]
    uncalculated: list[str]


def _sheet_facts(workbook, worksheet) -> _SheetFacts | None:
    try:
        with workbook._archive.open(worksheet._worksheet_path) as fh:
            xml = fh.read()
    except (AttributeError, KeyError, OSError):
        return None
    value_rows = sum(1 for m in _ROW.finditer(xml) if b"<v>" in m.group(1) or b"<is>" in m.group(1))
    return _SheetFacts(value_rows, [m.decode() for m in _MERGE.findall(xml)],
                       [m.decode() for m in _UNCALCULATED.findall(xml)])


def _fill_merged(rows: list[list], ranges: list[str]) -> None:
    """Every cell of a merged range takes the value shown in it (its top-left cell's)."""
    from openpyxl.utils import range_boundaries

    for ref in ranges:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
        if min_row > len(rows):
            continue
        value = rows[min_row - 1][min_col - 1] if min_col - 1 < len(rows[min_row - 1]) else None
        for r in range(min_row - 1, min(max_row, len(rows))):
            for c in range(min_col - 1, max_col):
                if c < len(rows[r]):
                    rows[r][c] = value


def _read_xlsx(con, path: Path, table: str, sheet: str | None) -> RawTable:
    import openpyxl
    import pandas as pd

    handle = open(path, "rb")  # a file object: openpyxl refuses names not ending in .xlsx
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception:
        handle.close()
        raise IngestError("file_bad_xlsx", file=path.name) from None
    try:
        names = list(workbook.sheetnames)
        if sheet is not None and sheet not in names:
            raise IngestError("sheet_unknown", file=path.name, sheet=sheet, sheets=", ".join(names))
        rows: list[list] = []
        chosen = facts = None
        try:
            for name in [sheet] if sheet else names:
                rows = [[_cell_text(v) for v in r] for r in workbook[name].iter_rows(values_only=True)]
                while rows and all(v is None or not str(v).strip() for v in rows[-1]):
                    rows.pop()
                if any(any(v is not None and str(v).strip() for v in r) for r in rows):
                    chosen = name
                    facts = _sheet_facts(workbook, workbook[name])
                    break
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as error:
            raise IngestError("file_bad_xlsx", file=path.name) from error
    finally:
        workbook.close()
        handle.close()
    if chosen is None:
        raise IngestError("file_empty", file=path.name)
    warnings = []
    if facts is not None:
        if facts.uncalculated:
            raise IngestError("file_formulas_uncalculated", file=path.name, count=len(facts.uncalculated),
                              cells=", ".join(facts.uncalculated[:5]))
        with_values = sum(1 for r in rows if any(v is not None for v in r))
        if with_values != facts.value_rows:
            raise IngestError("file_count_mismatch", file=path.name, counted=f"{facts.value_rows:,}",
                              read=f"{with_values:,}")
        if facts.merged:
            _fill_merged(rows, facts.merged)
            warnings.append(f"merged_filled:{', '.join(facts.merged[:10])}")
    width = max(len(r) for r in rows)
    frame = pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows],
                         columns=[f"c{i}" for i in range(width)], dtype=object)
    con.register("_kam_xlsx_rows", frame)
    try:
        casts = ", ".join(f'CAST("c{i}" AS VARCHAR) AS "c{i}"' for i in range(width))
        con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT {casts} FROM _kam_xlsx_rows')
    finally:
        con.unregister("_kam_xlsx_rows")
    columns, headers, header_rowid, repeated = find_header(con, table)
    if repeated:
        warnings.append(f"duplicate_headers:{', '.join(repeated)}")
    loaded = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    if loaded != len(rows):
        raise IngestError("file_count_mismatch", file=path.name, counted=f"{len(rows):,}", read=f"{loaded:,}")
    return RawTable(table, columns, headers, header_rowid, "xlsx", sheet=chosen, sheets=names, warnings=warnings,
                    records=len(rows), count_method="sheet rows")


def _read_parquet(con, path: Path, table: str, tmp_dir: Path | None) -> RawTable:
    import pyarrow.parquet as pq

    temps: list[Path] = []
    try:
        source = str(literal_path(path, tmp_dir, temps))
        try:
            records = pq.ParquetFile(path).metadata.num_rows  # the file's own row count
            described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [source]).fetchall()
        except Exception:
            raise IngestError("file_bad_parquet", file=path.name) from None
        return _parquet_table(con, path, source, table, described, records)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def _parquet_table(con, path: Path, source: str, table: str, described, records: int) -> RawTable:
    import duckdb

    names = [r[0] for r in described]
    # Column names are user text: select them through the expression API, never spliced into SQL.
    relation = con.read_parquet(source).select(
        *[duckdb.ColumnExpression(n).cast(duckdb.sqltype("VARCHAR")).alias(f"c{i}") for i, n in enumerate(names)])
    # registered under a fixed name rather than found by DuckDB's scan of Python locals
    con.register("_kam_parquet_rows", relation)
    try:
        con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM _kam_parquet_rows')
    finally:
        con.unregister("_kam_parquet_rows")
    loaded = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    if loaded != records:
        raise IngestError("file_count_mismatch", file=path.name, counted=f"{records:,}", read=f"{loaded:,}")
    headers, repeated = clean_headers(names)
    warnings = [f"duplicate_headers:{', '.join(repeated)}"] if repeated else []
    return RawTable(table, [f"c{i}" for i in range(len(names))], headers, -1, "parquet", warnings=warnings,
                    records=records, count_method="parquet metadata")
