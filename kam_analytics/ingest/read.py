"""Read a user's file into a raw all-VARCHAR DuckDB table, whatever its format and encoding.

The format is sniffed from the content (an .xlsx renamed .csv still loads); the encoding is
detected from the bytes (BOMs, UTF-16 without BOM, strict UTF-8, then a statistical guess
between GB18030, Big5 and cp1252); the delimiter from the first lines. DuckDB parses text
files itself, so a multi-GB CSV never passes through pandas. Files in an encoding DuckDB
does not read natively are transcoded to UTF-8 in a streaming pass (constant memory).
"""
from __future__ import annotations

import codecs
import os
import re
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kam_analytics.errors import IngestError

SAMPLE_BYTES = 1 << 20
TEXT_EXTENSIONS = {".csv", ".tsv", ".txt", ".tab", ".dat", ""}
DELIMITERS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", WHITESPACE: "whitespace"}
HEADER_SEARCH_ROWS = 20


@dataclass
class RawTable:
    """A file read into DuckDB: VARCHAR columns c0…cN plus where the data starts."""

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
    # Set when ``table`` holds only the first rows of a longer text file: the SQL that reads the
    # data records (after the header) of the whole file as c0…cN, and temp files it needs.
    full_source: str | None = None
    temp_files: list[Path] = field(default_factory=list)

    def row_number_sql(self) -> str:
        """The user-facing row number: the header is row 1, as a spreadsheet shows it."""
        return "rowid + 1" if self.header_rowid >= 0 else "rowid + 2"


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


def detect_encoding(sample: bytes, truncated: bool = True) -> str:
    """The encoding of a text sample: a Python codec name.

    Order: BOMs; UTF-16 without BOM (NUL bytes in every other position); strict UTF-8
    (a sample cut mid-character is trimmed first); else the best statistical guess among
    GB18030 (a superset of GBK/GB2312), Big5 and cp1252 that decodes the sample strictly.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    pairs = len(sample) // 2
    if pairs >= 2:
        even_nul, odd_nul = sample[0::2].count(0), sample[1::2].count(0)
        if odd_nul > 0.3 * pairs and even_nul < 0.05 * pairs:
            return "utf-16-le"
        if even_nul > 0.3 * pairs and odd_nul < 0.05 * pairs:
            return "utf-16-be"
    if truncated and b"\n" in sample:
        sample = sample[: sample.rfind(b"\n") + 1]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    return _guess_legacy(sample)


def _cjk_ratio(text: str) -> float:
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return 0.0
    common = sum(1 for c in non_ascii if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef")
    return common / len(non_ascii)


def _guess_legacy(sample: bytes) -> str:
    decodable = {}
    for encoding in ("gb18030", "big5", "cp1252"):
        try:
            decodable[encoding] = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
    if not decodable:
        return "gb18030"  # decodes nearly anything; odd bytes become U+FFFD and are counted
    if len(decodable) == 1:
        return next(iter(decodable))
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    guess = (best.encoding if best else "").lower()
    if guess.startswith(("gb", "hz", "chinese")) and "gb18030" in decodable:
        return "gb18030"
    if guess.startswith("big5") and "big5" in decodable:
        return "big5"
    # Chinese read with the right codec is almost all common CJK; with the wrong one it is not.
    ratios = {enc: _cjk_ratio(text) for enc, text in decodable.items() if enc != "cp1252"}
    if ratios:
        best_cjk = max(ratios, key=ratios.get)
        if ratios[best_cjk] >= 0.9:
            if best_cjk == "big5" and ratios.get("gb18030", 0) >= 0.9:
                return "gb18030" if not guess.startswith("big5") else "big5"
            return best_cjk
    if "cp1252" in decodable:
        return "cp1252"
    return next(iter(decodable))


def _split_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def detect_delimiter(lines: list[str]) -> str | None:
    """The field delimiter that splits the sample lines most consistently, or None.

    A candidate must give the same (non-zero) number of splits on at least 80% of the
    non-empty lines; among those, the most consistent, then the one giving more fields.
    Runs of spaces are the fallback when no character delimiter qualifies.
    """
    lines = [line for line in lines if line.strip()][:200]
    if not lines:
        return None
    best, best_key = None, (0.0, 0)
    for delimiter in DELIMITERS:
        counts = Counter(_split_outside_quotes(line, delimiter) for line in lines)
        splits, hits = counts.most_common(1)[0]
        if splits == 0:
            # title lines above the header have no delimiter; judge on the lines that do
            nonzero = [(n, c) for n, c in counts.items() if n > 0]
            if not nonzero:
                continue
            splits, hits = max(nonzero, key=lambda nc: nc[1])
        share = hits / len(lines)
        key = (round(share, 2), splits)
        if share >= 0.5 and key > best_key:
            best, best_key = delimiter, key
    if best is not None:
        return best
    if whitespace_splitter(lines) is not None:
        return WHITESPACE
    return None


_WS_FIELD = re.compile(r'"[^"]*"|\S+')
_WIDE_GAP = re.compile(r"\s{2,}|\t")


def whitespace_splitter(lines: list[str]):
    """How to split whitespace-aligned lines: on gaps of 2+ spaces (so 'Customer ID' stays one
    header) when that is consistent, else on any run of spaces; None when neither is."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    wide = lambda line: [f for f in _WIDE_GAP.split(line.strip()) if f]  # noqa: E731
    narrow = _WS_FIELD.findall
    for splitter in (wide, narrow):
        widths = Counter(len(splitter(line)) for line in lines)
        fields, hits = widths.most_common(1)[0]
        if fields >= 2 and hits / len(lines) >= 0.8:
            return splitter
    return None


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
        raw = _read_parquet(con, path, table)
    else:
        raw = _read_text(con, path, table, head, truncated=size > len(head), tmp_dir=tmp_dir,
                         sample_rows=sample_rows)
    return raw


def _looks_like_html(text: str) -> bool:
    start = text.lstrip()[:500].lower()
    return start.startswith(("<!doctype html", "<html", "<?xml")) or "<html" in start or "<body" in start


def _read_text(con, path: Path, table: str, head: bytes, truncated: bool, tmp_dir: Path | None,
               sample_rows: int | None = None) -> RawTable:
    encoding = detect_encoding(head, truncated)
    if "\x00" in head.decode(encoding if encoding.startswith("utf-16") else "latin-1", errors="replace") \
            and not encoding.startswith("utf-16"):
        raise IngestError("file_binary", file=path.name)
    text = head.decode(encoding, errors="replace")
    if _looks_like_html(text):
        raise IngestError("file_html", file=path.name)
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the last sampled line may be cut
    if not any(line.strip() for line in lines):
        raise IngestError("file_empty", file=path.name)
    delimiter = detect_delimiter(lines)
    if delimiter is None:
        if len([line for line in lines if line.strip()]) <= 1:
            raise IngestError("file_header_only", file=path.name)
        raise IngestError("file_no_delimiter", file=path.name)
    warnings: list[str] = []
    source = path
    native = encoding in ("utf-8", "utf-8-sig") and delimiter != WHITESPACE
    csv_delimiter = "\t" if delimiter == WHITESPACE else delimiter
    temp: Path | None = None
    keep_temp = False
    try:
        if not native:
            splitter = whitespace_splitter(lines) if delimiter == WHITESPACE else None
            temp, replaced = _transcode(path, encoding, splitter, tmp_dir)
            source = temp
            if replaced:
                warnings.append(f"undecodable_bytes:{replaced}")
        try:
            _load_csv(con, source, table, csv_delimiter, limit=sample_rows)
        except IngestError:
            raise
        except Exception as error:
            if native and "unicode" in str(error).lower():
                # The sample was clean UTF-8 but later bytes are not: detect from those bytes.
                encoding = detect_encoding(_non_ascii_sample(path), truncated=False)
                if encoding in ("utf-8", "utf-8-sig"):
                    encoding = "gb18030"
                temp, replaced = _transcode(path, encoding, None, tmp_dir)
                source = temp
                if replaced:
                    warnings.append(f"undecodable_bytes:{replaced}")
                _load_csv(con, temp, table, delimiter, limit=sample_rows)
            else:
                raise IngestError("file_unreadable_text", file=path.name,
                                  reason=str(error).splitlines()[0][:300]) from None
        columns, headers, header_rowid = _find_header(con, table)
        raw = RawTable(table, columns, headers, header_rowid, "text", _encoding_label(encoding),
                       DELIMITER_NAMES[delimiter], warnings=warnings)
        if sample_rows is not None:
            loaded = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            skip = _plain_lines_before_data(source, header_rowid, "utf-8-sig")
            if loaded >= sample_rows and skip is not None:
                raw.full_source = _csv_sql(source, csv_delimiter, skip=skip, names=columns)
                if temp is not None:
                    raw.temp_files.append(temp)
                    keep_temp = True
        return raw
    finally:
        if temp is not None and not keep_temp:
            temp.unlink(missing_ok=True)


def _plain_lines_before_data(source: Path, header_rowid: int, encoding: str) -> int | None:
    """How many physical lines precede the first data record, when each record up to the
    header is one non-blank line without quotes (so ``skip`` can count lines); else None."""
    with open(source, encoding=encoding, errors="replace", newline="") as fh:
        for _ in range(header_rowid + 1):
            line = fh.readline()
            if not line.strip() or '"' in line:
                return None
    return header_rowid + 1


def _csv_sql(source: Path, delimiter: str, skip: int = 0, names: list[str] | None = None) -> str:
    """A read_csv call as SQL text (paths and delimiters quoted as literals; both are ours)."""
    quote = lambda text: "'" + str(text).replace("'", "''") + "'"  # noqa: E731
    extra = f", skip = {int(skip)}" if skip else ""
    if names:
        extra += ", names = [" + ", ".join(quote(n) for n in names) + "]"
    return (f"read_csv({quote(source)}, delim = {quote(delimiter)}, header = false, all_varchar = true, "
            f"null_padding = true, quote = '\"', escape = '\"', max_line_size = 10000000, "
            f"ignore_errors = false{extra})")


def _encoding_label(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "gb18030": "GB18030", "big5": "Big5",
            "cp1252": "cp1252", "utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}.get(encoding, encoding)


def _non_ascii_sample(path: Path, limit: int = SAMPLE_BYTES) -> bytes:
    """Up to ``limit`` bytes of the lines that contain non-ASCII bytes, from the whole file."""
    out = bytearray()
    with open(path, "rb") as fh:
        for line in fh:
            if any(b > 127 for b in line):
                out += line
                if len(out) >= limit:
                    break
    return bytes(out)


def _transcode(path: Path, encoding: str, splitter, tmp_dir: Path | None) -> tuple[Path, int]:
    """Stream ``path`` into a UTF-8 temp file (tab-separated when whitespace-delimited).

    Returns the temp path and the number of undecodable characters replaced by U+FFFD.
    """
    tmp_dir = Path(tmp_dir or tempfile.gettempdir())
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".csv", dir=tmp_dir)
    replaced = 0
    with open(path, encoding=encoding, errors="replace", newline="") as src, \
            os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
        if splitter is not None:
            for line in src:
                fields = splitter(line)
                replaced += line.count("\ufffd")
                dst.write("\t".join(f.strip('"') for f in fields) + "\n")
        else:
            while chunk := src.read(1 << 22):
                replaced += chunk.count("\ufffd")
                dst.write(chunk)
    return Path(name), replaced


def _load_csv(con, source: Path, table: str, delimiter: str, limit: int | None = None) -> None:
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM {_csv_sql(source, delimiter)}{limit_sql}')


def _find_header(con, table: str) -> tuple[list[str], list[str], int]:
    """Locate the header record among the first rows: title lines above it are skipped.

    The header is the first of the first 20 records whose number of filled cells reaches
    80% of the widest of them (and at least 2).
    """
    columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    rows = con.execute(f'SELECT rowid, * FROM "{table}" ORDER BY rowid LIMIT {HEADER_SEARCH_ROWS}').fetchall()
    filled = [(row[0], sum(1 for v in row[1:] if v is not None and str(v).strip())) for row in rows]
    widest = max((n for _, n in filled), default=0)
    if widest == 0:
        raise IngestError("file_empty", file="")
    header_rowid, header_values = 0, rows[0][1:]
    for (rowid, n), row in zip(filled, rows):
        if n >= max(2, 0.8 * widest) or (widest == 1 and n == 1):
            header_rowid, header_values = rowid, row[1:]
            break
    headers = _clean_headers(header_values)
    renamed = [f"c{i}" for i in range(len(columns))]
    for old, new in zip(columns, renamed):
        if old != new:
            con.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{old}" TO "{new}"')
    return renamed, headers, header_rowid


def _clean_headers(values) -> list[str]:
    headers, seen = [], Counter()
    for i, value in enumerate(values):
        text = str(value).replace("\ufeff", "").strip() if value is not None else ""
        text = text or f"column {i + 1}"
        seen[text] += 1
        headers.append(text if seen[text] == 1 else f"{text} ({seen[text]})")
    return headers


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
        rows: list[tuple] = []
        chosen = None
        try:
            for name in [sheet] if sheet else names:
                rows = [tuple(_cell_text(v) for v in r) for r in workbook[name].iter_rows(values_only=True)]
                while rows and all(v is None or not str(v).strip() for v in rows[-1]):
                    rows.pop()
                if any(any(v is not None and str(v).strip() for v in r) for r in rows):
                    chosen = name
                    break
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as error:
            raise IngestError("file_bad_xlsx", file=path.name) from error
    finally:
        workbook.close()
        handle.close()
    if chosen is None:
        raise IngestError("file_empty", file=path.name)
    width = max(len(r) for r in rows)
    frame = pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows],
                         columns=[f"c{i}" for i in range(width)], dtype=object)
    con.register("_kam_xlsx_rows", frame)
    try:
        casts = ", ".join(f'CAST("c{i}" AS VARCHAR) AS "c{i}"' for i in range(width))
        con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT {casts} FROM _kam_xlsx_rows')
    finally:
        con.unregister("_kam_xlsx_rows")
    columns, headers, header_rowid = _find_header(con, table)
    return RawTable(table, columns, headers, header_rowid, "xlsx", sheet=chosen, sheets=names)


def _read_parquet(con, path: Path, table: str) -> RawTable:
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except Exception:
        raise IngestError("file_bad_parquet", file=path.name) from None
    import duckdb

    names = [r[0] for r in described]
    # Column names are user text: select them through the expression API, never spliced into SQL.
    relation = con.read_parquet(str(path)).select(
        *[duckdb.ColumnExpression(n).cast(duckdb.sqltype("VARCHAR")).alias(f"c{i}") for i, n in enumerate(names)])
    # registered under a fixed name rather than found by DuckDB's scan of Python locals
    con.register("_kam_parquet_rows", relation)
    try:
        con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM _kam_parquet_rows')
    finally:
        con.unregister("_kam_parquet_rows")
    return RawTable(table, [f"c{i}" for i in range(len(names))], _clean_headers(names), -1, "parquet")
