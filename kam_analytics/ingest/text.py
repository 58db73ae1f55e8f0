"""Read a text table (CSV, TSV, TXT, whitespace-aligned or fixed-width) into DuckDB.

DuckDB parses the file itself, so a multi-GB CSV never passes through pandas. Around it:
the encoding is decided over the whole file (``encoding``), files DuckDB cannot read as they
are get a UTF-8 copy, and the records are counted independently (``count``) so a table that
holds fewer rows than the file is refused instead of loaded.
"""
from __future__ import annotations

import functools

import re
import threading
from collections import Counter
from pathlib import Path

from kam_analytics.errors import IngestError
from kam_analytics.ingest import encoding as enc
from kam_analytics.ingest.count import RecordCount, csv_records, scan_records
from kam_analytics.ingest.raw import RawTable, find_header, literal_path

DELIMITERS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MAX_LINE_BYTES = 10_000_000  # DuckDB's max_line_size here; a longer line is refused with that reason
BINARY_SHARE = 0.01  # more control bytes than this in the first megabyte: not a text table
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"


# -- delimiters and layouts -------------------------------------------------------------------
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

    A candidate must give the same (non-zero) number of splits on at least half of the
    non-empty lines; among those, the most consistent, then the one giving more fields.
    Whitespace (runs of spaces, or fixed-width columns) is the fallback.
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
    if whitespace_layout(lines) is not None:
        return WHITESPACE
    return None


_WS_FIELD = re.compile(r'"[^"]*"|\S+')
_WIDE_GAP = re.compile(r"\s{2,}|\t")


def _wide(line: str) -> list[str]:
    return [f for f in _WIDE_GAP.split(line.strip()) if f]


def _narrow(line: str) -> list[str]:
    return _WS_FIELD.findall(line)


def _fixed_width(lines: list[str]):
    """Column positions shared by every line: the gaps where every line has a space (or has
    ended). A splitter cutting at those positions, or None when fewer than two columns."""
    width = max(len(line.rstrip()) for line in lines)
    space = [True] * width
    for line in lines:
        for i, char in enumerate(line.rstrip()):
            if not char.isspace():
                space[i] = False
    spans, start = [], None
    for i, is_space in enumerate(space + [True]):
        if not is_space and start is None:
            start = i
        elif is_space and start is not None:
            spans.append((start, i))
            start = None
    if len(spans) < 2:
        return None
    cuts = [s for s, _ in spans][1:]
    bounds = list(zip([0] + cuts, cuts + [None]))

    def split(line: str) -> list[str]:
        if not line.strip():
            return []
        return [line[a:b].strip() for a, b in bounds]
    return split


def whitespace_layout(lines: list[str]):
    """How to split whitespace-aligned lines, as (layout name, splitter), or None.

    In order: gaps of 2+ spaces or tabs (so 'Customer ID' stays one header) when every line
    gives the same number of fields; any run of spaces when every line agrees; fixed-width
    columns at the positions every line leaves blank; else whichever of the first two gives
    the same number of fields on 80% of the lines."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    candidates = (("whitespace_wide", _wide), ("whitespace_any", _narrow))
    for name, splitter in candidates:
        widths = {len(splitter(line)) for line in lines}
        if len(widths) == 1 and widths.pop() >= 2:
            return name, splitter
    fixed = _fixed_width(lines)
    if fixed is not None:
        return "fixed_width", fixed
    for name, splitter in candidates:
        widths = Counter(len(splitter(line)) for line in lines)
        fields, hits = widths.most_common(1)[0]
        if fields >= 2 and hits / len(lines) >= 0.8:
            return name, splitter
    return None


def sample_records(text: str) -> list[str]:
    """The sample split into records: at line breaks outside double quotes (a quoted address
    with a line break is one record), so delimiter detection sees whole records."""
    if '"' not in text:
        return text.splitlines()
    records, current = [], []
    for token in _RECORD_TOKENS.findall(text):
        if token in ("\r\n", "\n", "\r"):
            records.append("".join(current))
            current = []
        else:
            current.append(token)
    if current:
        records.append("".join(current))
    return records


_RECORD_TOKENS = re.compile(r'"[^"]*"?|[^"\r\n]+|\r\n|\r|\n')


# -- reading ----------------------------------------------------------------------------------
def _looks_like_html(text: str) -> bool:
    start = text.lstrip()[:500].lower()
    return start.startswith(("<!doctype html", "<html", "<?xml")) or "<html" in start or "<body" in start


class _Source:
    """The UTF-8 file DuckDB reads (the user's file, a safely named link to it, or a copy),
    with its independent record count and the warnings its preparation produced.

    For a file DuckDB reads as it is, the count runs in a thread of its own while DuckDB
    reads the file (NumPy and DuckDB both release the GIL): nothing waits for it until the
    table is checked."""

    def __init__(self, path: Path, count, warnings: list[str], temps: list[Path]):
        self.path, self.warnings, self.temps = path, warnings, temps
        self._count = count if isinstance(count, RecordCount) else None
        self._result: dict = {}
        self._thread = None
        if self._count is None:
            def run():
                try:
                    self._result["count"] = count()
                except BaseException as error:  # re-raised in the caller's thread
                    self._result["error"] = error
            self._thread = threading.Thread(target=run, name="kam-count", daemon=True)
            self._thread.start()

    @property
    def count(self) -> RecordCount:
        if self._count is None:
            self._thread.join()
            if "error" in self._result:
                raise self._result["error"]
            self._count = self._result["count"]
        return self._count


def _prepare(path: Path, choice: enc.EncodingChoice, delimiter: str, splitter, tmp_dir: Path | None,
             force_copy: bool = False) -> _Source:
    """The file DuckDB will read: the user's file when DuckDB reads it as it is, else a UTF-8
    copy (another encoding, a whitespace layout, or NUL bytes to remove: ``force_copy``)."""
    temps: list[Path] = []
    warnings: list[str] = []
    try:
        if choice.native and splitter is None and not force_copy:
            source = literal_path(path, tmp_dir, temps)
            return _Source(source, lambda: scan_records(source, delimiter), warnings, temps)
        copy = enc.transcode(path, choice, tmp_dir, path.name, splitter)
        temps.append(copy.path)
        if copy.replaced:
            warnings.append(f"undecodable_bytes:{copy.replaced}")
        if copy.nul_lines:
            warnings.append(f"nul_removed:{_line_list(copy.nul_lines)}")
        if splitter is not None:
            count = RecordCount(copy.lines, 0, "line count")
        else:
            count = scan_records(copy.path, delimiter)
        return _Source(copy.path, count, warnings, temps)
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise


def _line_list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" … (+{len(numbers) - limit})" if len(numbers) > limit else "")


def read_text(con, path: Path, table: str, head: bytes, truncated: bool, tmp_dir: Path | None,
              sample_rows: int | None = None) -> RawTable:
    """Read a text file into ``table``; with ``sample_rows`` only that many records when the
    file is longer and the rest can be read in one later pass (``RawTable.full_source``)."""
    name = path.name
    choice = enc.detect_encoding(head, truncated)
    if not choice.codec.startswith("utf-16") and len(head) - len(head.translate(None, _CONTROL)) > BINARY_SHARE * len(head):
        raise IngestError("file_binary", file=name)
    text = head.decode(choice.codec, errors="replace").replace("\x00", "")
    if _looks_like_html(text):
        raise IngestError("file_html", file=name)
    if truncated and "\n" not in text and "\r" not in text:
        raise IngestError("file_line_too_long", file=name, line=1, limit=f"{len(head):,}")
    lines = sample_records(text)
    if truncated and lines:
        lines = lines[:-1]  # the last sampled line may be cut
    if not any(line.strip() for line in lines):
        raise IngestError("file_empty", file=name)
    delimiter = detect_delimiter(lines)
    if delimiter is None:
        if len([line for line in lines if line.strip()]) <= 1:
            raise IngestError("file_header_only", file=name)
        raise IngestError("file_no_delimiter", file=name)
    layout, splitter = whitespace_layout(lines) if delimiter == WHITESPACE else (DELIMITER_NAMES[delimiter], None)
    csv_delimiter = "\t" if splitter is not None else delimiter
    source = _prepare(path, choice, csv_delimiter, splitter, tmp_dir)
    keep: set[Path] = set()
    try:
        try:
            _load_csv(con, source.path, table, csv_delimiter, limit=sample_rows)
        except IngestError:
            raise
        except Exception as error:
            if not (choice.native and "unicode" in str(error).lower()):
                raise _text_error(name, error, source.path) from None
            # The first megabyte was UTF-8 but a later byte is not: decide over the whole file.
            choice = enc.after_invalid_utf8(path, name)
            source = _replace_source(source, path, choice, csv_delimiter, splitter, tmp_dir)
            _load_or_explain(con, source, table, csv_delimiter, sample_rows, name)
        loaded = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        columns, headers, header_rowid, repeated = find_header(con, table)
        sampled = sample_rows is not None and loaded >= sample_rows
        skip = _plain_lines_before_data(source.path, header_rowid) if sampled else None
        if skip is None:  # the table must hold the whole file
            has_nul = source.count.has_nul
            if has_nul:  # found by the count: read a copy without them
                source = _replace_source(source, path, choice, csv_delimiter, splitter, tmp_dir, force_copy=True)
            if sampled or has_nul:  # (sampled: title lines with quotes or blanks above the header)
                con.execute(f'DROP TABLE "{table}"')
                _load_or_explain(con, source, table, csv_delimiter, None, name)
                loaded = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                columns, headers, header_rowid, repeated = find_header(con, table)
        warnings = source.warnings + ([f"duplicate_headers:{', '.join(repeated)}"] if repeated else [])
        raw = RawTable(table, columns, headers, header_rowid, "text", choice.label, layout, warnings=warnings,
                       encoding_reason=choice.reason)
        if skip is not None:
            # the rest is read in one pass later; the count is awaited only then (``settle``)
            raw.complete = False
            raw.full_source = functools.partial(_csv_sql, source.path, csv_delimiter, skip=skip, names=columns)
            raw.pending_count = lambda: source.count
            raw.temp_files.extend(source.temps)
            keep.update(source.temps)
            return raw
        raw.set_count(source.count)
        _check_count(raw, loaded, source, csv_delimiter, splitter is None, name)
        return raw
    finally:
        for temp in source.temps:
            if temp not in keep:
                temp.unlink(missing_ok=True)


def _replace_source(old: _Source, path: Path, choice, delimiter: str, splitter, tmp_dir, force_copy: bool = False):
    for temp in old.temps:
        temp.unlink(missing_ok=True)
    return _prepare(path, choice, delimiter, splitter, tmp_dir, force_copy=force_copy)


def _load_or_explain(con, source: _Source, table: str, delimiter: str, limit: int | None, name: str) -> None:
    try:
        _load_csv(con, source.path, table, delimiter, limit=limit)
    except IngestError:
        raise
    except Exception as error:
        raise _text_error(name, error, source.path) from None


def _check_count(raw: RawTable, loaded: int, source: _Source, delimiter: str, delimited: bool, name: str) -> None:
    """The table must hold every record of the file. When the byte scan disagrees, Python's csv
    module decides (a quote inside an unquoted field is literal to a CSV reader); a table that
    still disagrees is refused: loading it would lose or invent rows."""
    if loaded == raw.records:
        return
    if delimited:
        arbiter = csv_records(source.path, delimiter)
        if arbiter.records == loaded:
            raw.records, raw.blank_records, raw.count_method = arbiter.records, arbiter.blank, arbiter.method
            return
    raise IngestError("file_count_mismatch", file=name, counted=f"{raw.records:,}", read=f"{loaded:,}")


def _text_error(name: str, error: Exception, source: Path | None = None) -> IngestError:
    message = str(error)
    line = re.search(r"Line: (\d+)", message)
    if "maximum line size" in message.lower() or "line size" in message.lower():
        opened = unclosed_quote_line(source) if source is not None and source.stat().st_size <= MAX_LINE_BYTES else None
        if opened is not None:  # a small file cannot hold a line that long: a quote runs to its end
            return IngestError("file_unclosed_quote", file=name, line=opened)
        return IngestError("file_line_too_long", file=name, line=line.group(1) if line else "?",
                           limit=f"{MAX_LINE_BYTES:,}")
    return IngestError("file_unreadable_text", file=name, reason=message.splitlines()[0][:300])


def unclosed_quote_line(source: Path) -> int | None:
    """The line (1-based) where a double quote opens that no later quote closes, so that the
    rest of the file would be one cell; None when every quote is closed. Quotes are counted as
    a CSV reader pairs them (a doubled quote inside a quoted cell opens and closes again)."""
    opened_at, inside = None, False
    with open(source, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            for _ in range(line.count(b'"')):
                inside = not inside
                if inside and opened_at is None:
                    opened_at = number
                elif not inside:
                    opened_at = None
    return opened_at if inside else None


def _plain_lines_before_data(source: Path, header_rowid: int) -> int | None:
    """How many physical lines precede the first data record, when each record up to the
    header is one non-blank line without quotes (so ``skip`` can count lines); else None."""
    with open(source, encoding="utf-8-sig", errors="replace", newline="") as fh:
        for _ in range(header_rowid + 1):
            line = fh.readline()
            if not line.strip() or '"' in line:
                return None
    return header_rowid + 1


def _csv_sql(source: Path, delimiter: str, skip: int = 0, names: list[str] | None = None,
             parallel: bool = True, types: dict[str, str] | None = None) -> str:
    """A read_csv call as SQL text (paths and delimiters quoted as literals; both are ours).

    Every column is read as VARCHAR, except those ``types`` names (with ``names``): the reader
    then parses them itself and fails on a value it cannot read."""
    quote = lambda text: "'" + str(text).replace("'", "''") + "'"  # noqa: E731
    extra = f", skip = {int(skip)}" if skip else ""
    if names:
        extra += ", names = [" + ", ".join(quote(n) for n in names) + "]"
    if not parallel:
        extra += ", parallel = false"
    if types and names:
        kinds = ", ".join(f"{quote(n)}: {quote(types.get(n, 'VARCHAR'))}" for n in names)
        columns = f"types = {{{kinds}}}"
    else:
        columns = "all_varchar = true"
    return (f"read_csv({quote(source)}, delim = {quote(delimiter)}, header = false, {columns}, "
            f"null_padding = true, quote = '\"', escape = '\"', max_line_size = {MAX_LINE_BYTES}, "
            f"ignore_errors = false{extra})")


def _load_csv(con, source: Path, table: str, delimiter: str, limit: int | None = None) -> None:
    """CREATE the table c0…cN from ``source``: names given up front (renaming 10,000 columns one
    ALTER at a time was quadratic). Quoted line breaks need DuckDB's single-threaded reader."""
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    for parallel in (True, False):
        try:
            width = len(con.execute(f"DESCRIBE SELECT * FROM {_csv_sql(source, delimiter, parallel=parallel)}").fetchall())
            names = [f"c{i}" for i in range(width)]
            con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM '
                        f'{_csv_sql(source, delimiter, names=names, parallel=parallel)}{limit_sql}')
            return
        except Exception as error:
            if parallel and "parallel" in str(error).lower():
                con.execute(f'DROP TABLE IF EXISTS "{table}"')
                continue
            raise
