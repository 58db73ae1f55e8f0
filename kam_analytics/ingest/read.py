"""Read a user's file into a raw all-VARCHAR DuckDB table, whatever its format and encoding.

The format is sniffed from the content (an .xlsx renamed .csv still loads); the encoding is
detected from the bytes (BOMs, UTF-16 without BOM, strict UTF-8, then a statistical guess
between GB18030, Big5 and cp1252); the delimiter from the first lines. DuckDB parses text
files itself, so a multi-GB CSV never passes through pandas. Files in an encoding DuckDB
does not read natively are transcoded to UTF-8 in a streaming pass (constant memory).
"""
from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kam_analytics.errors import IngestError
from kam_analytics.ingest.raw import CHOSEN_HEADER_ROW, RawTable, clean_headers, find_header, literal_path
from kam_analytics.ingest.text import read_text

SAMPLE_BYTES = 1 << 20
TEXT_EXTENSIONS = {".csv", ".tsv", ".txt", ".tab", ".dat", ""}


# -- sniffing ---------------------------------------------------------------------------------
WORKBOOKS = ("xlsx", "xls", "xlsb", "ods")


def sniff_format(path: Path, head: bytes) -> str:
    """'xlsx', 'xlsb', 'ods', 'xls', 'parquet' or 'text', from the file's content (the
    extension only as a hint): a zip is told apart by the parts it holds."""
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return "xlsx"  # a damaged or partly downloaded workbook: the reader says so
        if "xl/workbook.bin" in names:
            return "xlsb"
        if "content.xml" in names:
            return "ods"
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    ext = path.suffix.lower()
    if ext in (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"):
        return "xlsx"  # not a workbook inside: reported as a damaged workbook by the reader
    if ext == ".parquet":
        return "parquet"
    return "text"


# -- how far a workbook may expand --------------------------------------------------------------
# A workbook is a zip: 413 KB can hold a 400 MB cell (34 s and 3.5 GB to read). Its parts' sizes
# are checked before any reader opens it. A real sheet's XML packs 5–20 times (a 200,000-row
# sheet of one repeated row: 16.7 times); a part that expands more than MAX_WORKBOOK_RATIO
# times, once past MAX_RATIO_FROM bytes, is refused, and so is a workbook past
# MAX_WORKBOOK_EXPANDED in all (a million rows of ten columns is about 300 MB).
MAX_WORKBOOK_EXPANDED = 2 * 1024**3
MAX_WORKBOOK_RATIO = 100
MAX_RATIO_FROM = 10 * 1024**2


def check_workbook_expansion(path: Path) -> None:
    """Refuse a zipped workbook (.xlsx, .xlsm, .xlsb, .ods) whose parts would expand past the
    bounds above, naming the part and both sizes; a file that is not a readable zip is left to
    the reader, which says it is damaged."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return
    expanded = sum(p.file_size for p in parts)
    if expanded > MAX_WORKBOOK_EXPANDED:
        raise IngestError("file_workbook_too_large", file=path.name, size=f"{expanded / 1024**2:,.0f}",
                          limit=f"{MAX_WORKBOOK_EXPANDED / 1024**2:,.0f}")
    for part in parts:
        if part.file_size > MAX_RATIO_FROM and part.file_size > MAX_WORKBOOK_RATIO * max(part.compress_size, 1):
            raise IngestError("file_workbook_bomb", file=path.name, part=part.filename,
                              size=f"{part.file_size / 1024**2:,.0f}", packed=f"{part.compress_size / 1024:,.0f}",
                              ratio=MAX_WORKBOOK_RATIO)


# -- reading ----------------------------------------------------------------------------------
def read_raw(con, path: str | Path, table: str, sheet: str | None = None, tmp_dir: Path | None = None,
             sample_rows: int | None = None, header_row: int | None = None) -> RawTable:
    """Read ``path`` into DuckDB table ``table`` (all VARCHAR). Raises IngestError when unusable.

    With ``sample_rows``, a text file longer than that is read only up to that many records
    and the RawTable carries ``full_source`` for one direct pass over the whole file later
    (the caller deletes ``temp_files`` when done). ``header_row``: the line (text) or row
    (sheet), counted from 1 among the first records, that holds the column names; None finds
    it (``raw.find_header``)."""
    token = CHOSEN_HEADER_ROW.set(header_row)
    try:
        return _read_raw(con, path, table, sheet, tmp_dir, sample_rows)
    finally:
        CHOSEN_HEADER_ROW.reset(token)


def _read_raw(con, path: str | Path, table: str, sheet: str | None, tmp_dir: Path | None,
              sample_rows: int | None) -> RawTable:
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
    if kind in WORKBOOKS:
        if head.startswith(b"PK\x03\x04"):
            check_workbook_expansion(path)
        raw = _read_workbook(con, path, table, sheet, kind)
    elif kind == "parquet":
        raw = _read_parquet(con, path, table, tmp_dir)
    else:
        raw = read_text(con, path, table, head, truncated=size > len(head), tmp_dir=tmp_dir,
                        sample_rows=sample_rows)
    return raw


def _float_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _datetime_text(value) -> str:
    return value.isoformat(sep=" ", timespec="seconds")


# by the cell's exact type (a workbook has millions of cells: one dictionary lookup each)
_CELL_TEXT = {
    str: lambda value: value or None,
    float: _float_text,
    int: str,
    bool: str,
    dt.datetime: _datetime_text,
    dt.date: dt.date.isoformat,
    type(None): lambda value: None,
}


def _cell_text(value) -> str | None:
    """An Excel cell as text the parsers understand: dates ISO ('2024-01-02', '2024-01-02
    10:30:00'), integral floats without '.0', empty cells None. Subclasses (a pandas
    Timestamp) take their base type's form."""
    convert = _CELL_TEXT.get(type(value))
    if convert is None:
        base = next((kind for kind in (dt.datetime, dt.date, float) if isinstance(value, kind)), None)
        convert = _CELL_TEXT[base] if base else (lambda v: str(v) if v != "" else None)
    return convert(value)


def _blank(value) -> bool:
    return value is None or not str(value).strip()


_NONE = type(None)
SHEET_HEAD_ROWS = 100  # where titles and the header row live
_HUGEINT = 1.7e38  # integral floats below this print exactly through DuckDB's HUGEINT


def _float_text_sql(column: str) -> str:
    """SQL printing a DOUBLE column as ``_float_text`` prints each value: integral values
    without '.0' (through HUGEINT: the caller keeps values at or beyond ``_HUGEINT`` away),
    the others as DuckDB's shortest round-trip text, which matches Python's repr; NaN as NULL."""
    return (f"CASE WHEN isnan({column}) THEN NULL WHEN {column} = trunc({column}) "
            f"THEN CAST(CAST({column} AS HUGEINT) AS VARCHAR) ELSE CAST({column} AS VARCHAR) END")


def _column_as_text(values: tuple, column: str):
    """One sheet column for the database, and the SQL that turns it into the text
    ``_cell_text`` makes of each cell. A column of one kind (text, numbers, date-times or
    dates, with empty cells) goes over as typed values and is printed in the database: the
    same text, without a Python call per cell (measured: 3.8 s of 12.9 s for a
    1,000,000-row, four-column sheet); any other column is converted cell by cell."""
    import numpy as np
    import pandas as pd

    kinds = set(map(type, values))
    if kinds <= {str, _NONE}:
        return pd.Series(values, dtype=object), f"nullif({column}, '')"
    if kinds <= {float, _NONE} and float in kinds:
        numbers = pd.Series(values, dtype="float64")
        if not np.nanmax(np.abs(numbers.to_numpy())) >= _HUGEINT:
            return numbers, _float_text_sql(column)
    for kind, pattern in ((dt.datetime, "%Y-%m-%d %H:%M:%S"), (dt.date, "%Y-%m-%d")):
        if kinds <= {kind, _NONE} and kind in kinds:
            try:
                return pd.to_datetime(pd.Series(values, dtype=object)), f"strftime({column}, '{pattern}')"
            except (ValueError, OverflowError):  # beyond pandas' dates (a 9999-12-31 placeholder): cell by cell
                break
    return pd.Series([_cell_text(v) for v in values], dtype=object), column


def _open_workbook(path: Path):
    import python_calamine

    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception:
        raise IngestError("file_bad_xlsx", file=path.name) from None


def list_sheets(path: str | Path) -> list[str]:
    path = Path(path)
    check_workbook_expansion(path)  # (the page lists a workbook's sheets before it reads one)
    workbook = _open_workbook(path)
    try:
        return list(workbook.sheet_names)
    finally:
        workbook.close()


_UNCALCULATED = re.compile(rb'<c\b[^>]*\br="([A-Z]+[0-9]+)"[^>]*>\s*<f\b[^>]*(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>')
_MERGE = re.compile(rb'<mergeCell\b[^>]*\bref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


@dataclass
class _SheetFacts:
    """Read from the sheet's XML, apart from the reader: rows holding a value, merged
    ranges, and formula cells saved without a calculated value."""

    value_rows: int
    merged: list[str]
    uncalculated: list[str]


_TAG = lambda name: re.compile(rb"<(?:\w+:)?" + name + rb"\b[^>]*>", re.S)  # noqa: E731
_SHEET_TAG, _RELATION_TAG = _TAG(rb"sheet"), _TAG(rb"Relationship")


def _attribute(tag: bytes, name: bytes) -> str | None:
    found = re.search(rb'\s' + name + rb'="([^"]*)"', tag)
    return found.group(1).decode("utf-8") if found else None


def _sheet_entry(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The archive member holding worksheet ``sheet`` of an .xlsx/.xlsm file, or None."""
    import html

    rels = {_attribute(tag, rb"Id"): _attribute(tag, rb"Target")
            for tag in _RELATION_TAG.findall(archive.read("xl/_rels/workbook.xml.rels"))}
    for tag in _SHEET_TAG.findall(archive.read("xl/workbook.xml")):
        name, rid = _attribute(tag, rb"name"), _attribute(tag, rb"r:id")
        if name is not None and html.unescape(name) == sheet and rels.get(rid):
            target = rels[rid].lstrip("/")
            return target if target.startswith("xl/") else f"xl/{target}"
    return None


def _sheet_xml(path: Path, sheet: str) -> bytes | None:
    """The XML of worksheet ``sheet`` of an .xlsx/.xlsm file (None when it cannot be found)."""
    try:
        with zipfile.ZipFile(path) as archive:
            entry = _sheet_entry(archive, sheet)
            return None if entry is None else archive.read(entry)
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError):
        return None


def _sheet_size(path: Path, sheet: str) -> int:
    """The uncompressed size of the sheet's XML (0 when it cannot be found), without reading it."""
    try:
        with zipfile.ZipFile(path) as archive:
            entry = _sheet_entry(archive, sheet)
            return 0 if entry is None else archive.getinfo(entry).file_size
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError):
        return 0


def _value_rows(xml: bytes) -> int:
    """Rows of a sheet's XML holding a value (``<v>`` or an inline string ``<is>``). Text
    inside cells is escaped, so '<row', '<v>' and '<is>' occur only as tags; the part after
    the last row holds no value tag. (Measured: 0.5 s for a 1,000,000-row, 198 MB sheet.)"""
    return sum(1 for part in xml.split(b"<row")[1:]
               if part[:1] in (b" ", b">") and (b"<v>" in part or b"<is>" in part))


def _sheet_facts(path: Path, sheet: str) -> _SheetFacts | None:
    xml = _sheet_xml(path, sheet)
    return None if xml is None else _sheet_facts_of(xml)


def _sheet_facts_of(xml: bytes) -> _SheetFacts:
    merged = [m.decode() for m in _MERGE.findall(xml)] if b"<mergeCell" in xml else []
    uncalculated = [m.decode() for m in _UNCALCULATED.findall(xml)] if b"<f" in xml else []
    return _SheetFacts(_value_rows(xml), merged, uncalculated)


def _cell_ref(row: int, col: int) -> str:
    """'B7' for the zero-based (6, 1)."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row + 1}"


def _fill_merged(rows: list[list], ranges: list[tuple]) -> None:
    """Every cell of a merged range ((first row, first col), (last row, last col), zero-based)
    takes the value shown in it (its top-left cell's)."""
    for (min_row, min_col), (max_row, max_col) in ranges:
        if min_row >= len(rows):
            continue
        value = rows[min_row][min_col] if min_col < len(rows[min_row]) else None
        for r in range(min_row, min(max_row + 1, len(rows))):
            for c in range(min_col, max_col + 1):
                if c < len(rows[r]):
                    rows[r][c] = value


FAST_SHEET_BYTES = 1 << 20  # a sheet's XML from this size (about 5,000 rows) is read column by column
_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\sr="(\d+)"')


def _head_workbook(path: Path, xml: bytes, sheet: str) -> bytes | None:
    """The workbook with sheet ``sheet`` (its XML: ``xml``) cut after its first
    ``SHEET_HEAD_ROWS`` rows, the rest of the workbook as it is, as .xlsx bytes; None when the
    sheet has no more rows than that, or rows without their number."""
    import io

    cut = None
    for found in _ROW_NUMBER.finditer(xml):
        if int(found.group(1)) > SHEET_HEAD_ROWS:
            cut = found.start()
            break
    if cut is None or xml.count(b"<row", 0, cut) != len(_ROW_NUMBER.findall(xml, 0, cut)):
        return None
    end = xml.find(b"</sheetData>", cut)
    if end < 0:
        return None
    out = io.BytesIO()
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        entry = _sheet_entry(archive, sheet)
        for info in archive.infolist():
            copy.writestr(info.filename, xml[:cut] + xml[end:] if info.filename == entry else archive.read(info.filename))
    return out.getvalue()


def _arrow_column_sql(kind, column: str) -> str | None:
    """The SQL that prints a typed column of fastexcel's as ``_cell_text`` prints its cells
    (None for a type it does not handle): text as it is (empty: NULL), numbers as
    ``_column_as_text`` prints them, TRUE/FALSE as Python's True/False, date-times at midnight
    as dates and others to the second."""
    import pyarrow as pa

    if pa.types.is_null(kind):
        return "CAST(NULL AS VARCHAR)"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return f"nullif({column}, '')"
    if pa.types.is_floating(kind):
        return _float_text_sql(column)
    if pa.types.is_integer(kind):
        return f"CAST({column} AS VARCHAR)"
    if pa.types.is_boolean(kind):
        return f"CASE WHEN {column} THEN 'True' WHEN NOT {column} THEN 'False' END"
    if pa.types.is_timestamp(kind):
        return (f"CASE WHEN {column} = date_trunc('day', {column}) THEN strftime({column}, '%Y-%m-%d') "
                f"ELSE strftime({column}, '%Y-%m-%d %H:%M:%S') END")
    if pa.types.is_date(kind):
        return f"strftime({column}, '%Y-%m-%d')"
    return None


def _load_after_head(path: Path, sheet: str):
    """The sheet below its first ``SHEET_HEAD_ROWS`` rows as typed Arrow columns (fastexcel,
    which reads a sheet into Arrow about five times as fast as calamine hands over Python
    values), each column of one kind through the whole sheet (strict types, inferred from
    every row); None when a column mixes kinds or it cannot be read."""
    try:
        import fastexcel

        # eagerly: one Arrow batch straight from the sheet's cells (the same columns as the lazy
        # sheet's to_arrow, which copies them once more: 0.03-0.1 s at a million rows)
        return fastexcel.read_excel(str(path)).load_sheet_eager(
            sheet, header_row=None, skip_rows=SHEET_HEAD_ROWS, dtype_coercion="strict", schema_sample_rows=None)
    except Exception:  # a mixed column, a type it does not know, no fastexcel: cell by cell
        return None


def _write_xlsx_columns(con, table: str, sheet: str, head_bytes: bytes, rest, value_cells: int) -> int | None:
    """A large .xlsx sheet into ``table`` (all VARCHAR, the same text as the cell-by-cell
    read): its first ``SHEET_HEAD_ROWS`` rows cell by cell (calamine, on ``head_bytes``, a
    copy of the workbook cut there: titles and the header row), the rest (``rest``,
    ``_load_after_head``) column by column, printed in the database. Only where that is
    exact (the sheet starting at A1, every column of a type ``_arrow_column_sql`` prints, and
    as many values as the sheet's XML has cells with a value, ``value_cells``: fastexcel reads
    text such as 'n/a' or 'NA' in a column of numbers as no value, and an error cell too);
    else None and nothing written. Returns the rows written, trailing blank rows left out."""
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import python_calamine

    head_sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(head_bytes)).get_sheet_by_name(sheet)
    if head_sheet.start != (0, 0):  # fastexcel's rows and columns start where the cells do
        return None
    head = head_sheet.to_python(skip_empty_area=False)
    exprs = [_arrow_column_sql(field.type, f'"{field.name}"') for field in rest.schema]
    if any(sql is None for sql in exprs):
        return None
    for field, column in zip(rest.schema, rest.columns):
        # integral beyond HUGEINT: Python prints every digit; NaN: the text 'nan' in the cell.
        # (min_max in one pass, without the copy abs makes: 0.004 s against 0.035-0.1 s for
        # a million values; both leave out NULL, and NaN is looked for apart)
        if pa.types.is_floating(field.type):
            bounds = pc.min_max(column)
            largest = max(abs(bounds["min"].as_py() or 0), abs(bounds["max"].as_py() or 0))
            if largest >= _HUGEINT or pc.any(pc.is_nan(column)).as_py():
                return None
    values = sum(1 for row in head for v in row if v is not None and v != "")
    if values + sum(len(column) - column.null_count for column in rest.columns) != value_cells:
        return None
    width = max([len(r) for r in head] + [rest.num_columns])
    head = [list(r) + [None] * (width - len(r)) for r in head]
    head += [[None] * width for _ in range(SHEET_HEAD_ROWS - len(head))]
    # the head as parameters of one VALUES list: neither pandas nor a Python list made into
    # Arrow (pyarrow imports pandas for that, 0.17 s of the command's start)
    row_sql = "(" + ", ".join(["CAST(? AS VARCHAR)"] * width) + ")"
    con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM (VALUES {", ".join([row_sql] * len(head))}) '
                f'AS v({", ".join(f"c{i}" for i in range(width))})', [_cell_text(v) for row in head for v in row])
    con.register("_kam_xlsx_rest", rest)
    try:
        columns = [f'CAST({sql} AS VARCHAR)' for sql in exprs] + ["NULL"] * (width - len(exprs))
        con.execute(f'INSERT INTO "{table}" SELECT {", ".join(columns)} FROM _kam_xlsx_rest')
    finally:
        con.unregister("_kam_xlsx_rest")
    # trailing rows with nothing but blanks go, as the cell-by-cell read pops them (none when
    # the sheet's last row has a value that is more than whitespace: no scan of the table then)
    if rest.num_rows and any(not _blank(column[rest.num_rows - 1].as_py()) for column in rest.columns):
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    filled = " OR ".join(f"""trim(coalesce("c{i}", '')) <> ''""" for i in range(width))
    last = con.execute(f'SELECT max(rowid) FROM "{table}" WHERE {filled}').fetchone()[0]
    con.execute(f'DELETE FROM "{table}" WHERE rowid > {-1 if last is None else last}')
    return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def _read_workbook(con, path: Path, table: str, sheet: str | None, kind: str) -> RawTable:
    """A workbook (.xlsx/.xlsm, .xlsb, .xls, .ods) read with calamine: the named sheet, else
    the first with a value. For .xlsx the sheet's own XML is also read, apart from calamine:
    rows holding a value (the independent count), merged ranges, formulas saved uncalculated.
    A large .xlsx sheet is read column by column where that gives the same text
    (``_read_xlsx_fast``)."""
    workbook = _open_workbook(path)
    try:
        names = list(workbook.sheet_names)
        if sheet is not None and sheet not in names:
            raise IngestError("sheet_unknown", file=path.name, sheet=sheet, sheets=", ".join(names))
        rows: list[list] = []
        chosen = merged = None
        fast = _read_xlsx_fast(con, path, table, sheet or names[0]) if kind == "xlsx" and names else None
        if fast is not None:
            chosen, facts, written = fast
        try:
            for name in [] if fast else [sheet] if sheet else names:
                worksheet = workbook.get_sheet_by_name(name)
                rows = worksheet.to_python(skip_empty_area=False)  # the cells as Python values
                while rows and all(_blank(v) for v in rows[-1]):
                    rows.pop()
                if any(any(not _blank(v) for v in r) for r in rows):
                    chosen, merged = name, list(worksheet.merged_cell_ranges or [])
                    break
        except IngestError:
            raise
        except Exception as error:
            raise IngestError("file_bad_xlsx", file=path.name) from error
    finally:
        workbook.close()
    if chosen is None:
        raise IngestError("file_empty", file=path.name)
    warnings = []
    if fast is None:
        facts = _sheet_facts(path, chosen) if kind == "xlsx" else None
        written = _write_rows(con, table, rows, facts, merged, warnings, path)
    records, with_values = written.rows, written.with_values
    if facts is not None:
        if with_values is None:
            width = len(con.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
            with_values = con.execute(f'SELECT count(*) FROM "{table}" WHERE ' + " OR ".join(
                f'"c{i}" IS NOT NULL' for i in range(width))).fetchone()[0]
        if with_values != facts.value_rows:
            raise IngestError("file_count_mismatch", file=path.name, counted=f"{facts.value_rows:,}",
                              read=f"{with_values:,}")
    columns, headers, header_rowid, repeated = find_header(con, table)
    if repeated:
        warnings.append(f"duplicate_headers:{', '.join(repeated)}")
    loaded = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    if loaded != records:
        raise IngestError("file_count_mismatch", file=path.name, counted=f"{records:,}", read=f"{loaded:,}")
    return RawTable(table, columns, headers, header_rowid, kind, sheet=chosen, sheets=names, warnings=warnings,
                    records=records, count_method="sheet rows")


@dataclass
class _Written:
    rows: int
    with_values: int | None  # rows holding a value, counted before merged ranges were filled


def _write_rows(con, table: str, rows: list[list], facts, merged, warnings: list, path: Path) -> _Written:
    """The sheet's cells (Python values, calamine's) into ``table``, all VARCHAR."""
    import pandas as pd

    if facts is not None and facts.uncalculated:
        raise IngestError("file_formulas_uncalculated", file=path.name, count=len(facts.uncalculated),
                          cells=", ".join(facts.uncalculated[:5]))
    # rows holding a value, as the sheet's XML counts them (a merged range filled below may
    # add values, so with one they are counted here, before; otherwise in the database)
    with_values = sum(1 for r in rows if any(v is not None and v != "" for v in r)) if merged else None
    if merged:
        rows = [list(r) for r in rows]
        _fill_merged(rows, merged)
        refs = [f"{_cell_ref(*first)}:{_cell_ref(*last)}" for first, last in merged]
        warnings.append(f"merged_filled:{', '.join(refs[:10])}")
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        rows = [list(r) + [None] * (width - len(r)) for r in rows]
    # the first rows (titles, the header: text above numbers) cell by cell, the rest column by
    # column (``_column_as_text``), appended in order
    for part, (first, last) in enumerate(((0, SHEET_HEAD_ROWS), (SHEET_HEAD_ROWS, len(rows)))):
        if first >= len(rows) and part:
            break
        data, exprs = {}, []
        for i, values in enumerate(zip(*rows[first:last])):
            data[f"c{i}"], sql = (_column_as_text(values, f'"c{i}"') if part else
                                  (pd.Series([_cell_text(v) for v in values], dtype=object), f'"c{i}"'))
            exprs.append(f'CAST({sql} AS VARCHAR) AS "c{i}"')
        con.register("_kam_xlsx_rows", pd.DataFrame(data))
        try:
            into = f'CREATE TEMP TABLE "{table}" AS' if part == 0 else f'INSERT INTO "{table}"'
            con.execute(f'{into} SELECT {", ".join(exprs)} FROM _kam_xlsx_rows')
        finally:
            con.unregister("_kam_xlsx_rows")
    return _Written(len(rows), with_values)


def _read_xlsx_fast(con, path: Path, table: str, sheet: str):
    """(sheet, facts, ``_Written``) when a large sheet was read column by column
    (``_write_xlsx_columns``), else None and nothing written: a small sheet, merged cells, a
    first sheet without a value (the cell-by-cell read looks for the first with one), or a
    sheet it cannot read exactly. The sheet's XML is read and counted (``_sheet_facts_of``),
    and the workbook cut after its head (``_head_workbook``), while fastexcel reads the cells
    (it lets go of Python meanwhile: 1.5 s and 1.3 s at 1,000,000 rows, side by side). Formulas saved uncalculated are refused as they are there."""
    import threading

    if _sheet_size(path, sheet) < FAST_SHEET_BYTES:
        return None
    found: dict = {}

    def read_xml():
        found["xml"] = xml = _sheet_xml(path, sheet)
        if xml is not None:
            found["facts"] = _sheet_facts_of(xml)
            found["cells"] = xml.count(b"<v>") + xml.count(b"<is>")  # cells holding a value
            try:  # the workbook cut after its head, made here while fastexcel still reads
                found["head"] = _head_workbook(path, xml, sheet)
            except Exception:  # noqa: BLE001 — read cell by cell instead, which says what is wrong
                found["head"] = None

    reader = threading.Thread(target=read_xml, name="kam-xlsx-xml", daemon=True)
    reader.start()
    rest = _load_after_head(path, sheet)
    reader.join()
    facts = found.get("facts")
    if facts is None:
        return None
    if facts.uncalculated:
        raise IngestError("file_formulas_uncalculated", file=path.name, count=len(facts.uncalculated),
                          cells=", ".join(facts.uncalculated[:5]))
    if rest is None or facts.merged or not facts.value_rows:
        return None
    written = None
    try:
        head_bytes = found.get("head")
        written = _write_xlsx_columns(con, table, sheet, head_bytes, rest, found["cells"]) if head_bytes else None
    except Exception:  # noqa: BLE001 — read cell by cell instead, which says what is wrong
        written = None
    if not written:
        con.execute(f'DROP TABLE IF EXISTS "{table}"')
        return None
    return sheet, facts, _Written(written, None)


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
