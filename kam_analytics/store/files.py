"""The dataset files: one immutable DuckDB file per published version, in the folder beside the
catalog (``<name>-datasets``).

* A load **stages** a new file (``staging``), attached read-write to this process's DuckDB
  connection; it is **sealed** (its tables renamed to ``tx`` / ``rej`` / ``ord`` / ``attr`` /
  ``recv``, then detached) before one catalog transaction publishes it. Nobody ever writes to a
  published file, so any number of processes read it at once.
* **Readers** attach the files the catalog names read-only and see each as views ``tx_NNNN``,
  ``rej_NNNN`` … in their own in-memory DuckDB (``show``). A reader that started on an old
  version keeps it: the writer unlinks the old file after the swap (``retire``), and on Linux
  the data stays readable to whoever has it open until they let go.
* A writer killed at any point leaves at most an unpublished file; the next start removes the
  files the catalog does not name whose writer is gone (``remove_orphans``; the file name
  carries its pid).
"""
from __future__ import annotations

import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import duckdb

from kam_analytics.store.records import Dataset, Staging, check_internal, sql_literal
from kam_analytics.tmpfiles import pid_alive

# the order table (``build_orders``): measures summed per order, and when it is kept
ADDITIVE_COLUMNS = ("amount", "profit", "cost", "quantity", "paid_amount")
ORDER_TABLE_SHARE = 0.75
HEAD_LINES, HEAD_SINGLE_SHARE = 100_000, 0.9  # (``_head_looks_single_line``)
DETACH_AFTER_S = 600.0  # a superseded version stays attached this long for queries still on it
_FILE = re.compile(r"^(?P<kind>tx|attr|recv|cost)-(?P<token>[0-9a-f]{16})-p(?P<pid>\d+)\.duckdb(?:\.wal)?$")


def pairs_decide(rows: int, kept: int, keyed_rows: int, keyed_lines: int) -> bool:
    """Whether the order table's count of (customer, order key) pairs can change a fact the
    load records (``Files.build_orders``). The pairs are never more than the keyed rows, nor
    these more than the rows kept, nor these more than the lines (``rows``). So
    ``single_line_orders`` (lines = keyed lines = pairs) needs them only when every line is a
    row of its own and has a key; ``single_row_orders`` (kept = keyed rows = pairs) only when
    the table is kept (at most ``ORDER_TABLE_SHARE`` of the lines) and every row has a key.
    Otherwise both are false whatever the count."""
    every_line_a_keyed_row = rows == kept == keyed_rows == keyed_lines
    kept_and_keyed = kept <= ORDER_TABLE_SHARE * rows and kept == keyed_rows
    return every_line_a_keyed_row or kept_and_keyed


def pieces_sql(aliases: list[str], parts: list[dict], table: str, keyed: bool, within: str | None = None) -> str:
    """The lines (``table`` 'tx') or the order table ('ord') of a dataset in parts (the base
    file, then each appended piece; ``aliases`` where each is attached): each part less the
    lines a later part replaces, by order id (``rep_orders``; only when the lines have order
    ids, ``keyed``) or by day (``rep_days``) — each kind one anti-join against the keys of every
    later piece of that rule. A part without an order table gives its lines as
    order rows of one line each (``lines`` = 1: the same sums, counts and dates). ``within``: a
    condition on a part's lines (alias ``t``) applied before the later parts' keys, so a
    selective one (an append's keys) spares the anti-joins most lines."""
    selects = []
    for i, (alias, part) in enumerate(zip(aliases, parts)):
        source = f'"{alias}".main."{table}"'
        if table == "ord" and not part.get("orders"):
            source = f'(SELECT *, CAST(1 AS BIGINT) AS lines FROM "{alias}".main."tx")'
        if within is not None:
            source = f"(SELECT * FROM {source} t WHERE {within})"
        conditions = []
        later = list(zip(aliases[i + 1:], parts[i + 1:]))
        by_order = [a for a, p in later if p.get("rule") == "orders" and keyed]
        by_day = [a for a, p in later if p.get("rule") == "days"]
        # one anti-join per kind, against the keys of every later piece of that rule together
        if by_order:
            keys = " UNION ALL ".join(f'SELECT order_id AS k FROM "{a}".main.rep_orders' for a in by_order)
            conditions.append(f"NOT EXISTS (SELECT 1 FROM ({keys}) r WHERE r.k = t.order_id)")
        if by_day:
            keys = " UNION ALL ".join(f'SELECT "day" AS k FROM "{a}".main.rep_days' for a in by_day)
            conditions.append(f"NOT EXISTS (SELECT 1 FROM ({keys}) r WHERE r.k = CAST(t.order_date AS DATE))")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        selects.append(f"SELECT t.* FROM {source} t{where}")
    return " UNION ALL BY NAME ".join(selects)


def rejects_sql(aliases: list[str], parts: list[dict]) -> str:
    """The rejected rows of a dataset in parts: every part's, less those of a file a later part
    loaded again (by its name: the same export loaded twice counts its refused rows once)."""
    selects = []
    for i, (alias, part) in enumerate(zip(aliases, parts)):
        later = {name for p in parts[i + 1:] for name in p.get("files") or []}
        names = [n for n in part.get("files") or [] if n]
        if names and set(names) <= later:
            continue
        source = f'SELECT * FROM "{alias}".main."rej"'
        dropped = [n for n in names if n in later]
        if dropped:  # (a part of several files: its rows carry their file)
            source += " WHERE file NOT IN (" + ", ".join(sql_literal(n) for n in dropped) + ")"
        selects.append(source)
    return " UNION ALL BY NAME ".join(selects) if selects else 'SELECT CAST(NULL AS BIGINT) AS "row", ' \
        'CAST(NULL AS VARCHAR) AS reason WHERE false'


class Files:
    """The version files of one store (``folder``), read and written through one in-memory
    DuckDB connection per process (``con``); ``lock`` guards this process's attach, detach
    and views."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.con = duckdb.connect()
        self.lock = threading.RLock()
        self._attached: dict[str, str] = {}  # file name -> alias
        self._views: dict[str, str] = {}  # view name (tx_0001) -> file name it reads
        self._superseded: dict[str, float] = {}  # alias -> when a newer version replaced it

    def close(self) -> None:
        self.con.close()

    def remove_orphans(self, named: set[str]) -> None:
        """Delete dataset files the catalog does not name (``named``) whose writer is gone (a
        load killed before it published, or a superseded version its writer could not delete)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for file in self.folder.iterdir():
            match = _FILE.match(file.name)
            if match is None or file.name.removesuffix(".wal") in named:
                continue
            if not pid_alive(int(match["pid"])):  # (this process counts as alive: its loads may be running)
                file.unlink(missing_ok=True)

    def retire(self, file: str, named: set[str]) -> None:
        """Delete ``file`` when no catalog entry names it any more (``named``). Readers that
        have it open keep reading it (the data stays until they close it); new readers follow
        the catalog."""
        if file not in named:
            (self.folder / file).unlink(missing_ok=True)

    # -- reading ----------------------------------------------------------------------------
    def sync(self, current: list[Dataset]) -> None:
        """Make every current version's tables visible in this process (``show``) and detach
        the versions superseded more than ``DETACH_AFTER_S`` ago."""
        self.show(current)
        files = {f for d in current for f in d.files}
        now = time.monotonic()
        with self.lock:
            for file, alias in list(self._attached.items()):
                if file in files:
                    self._superseded.pop(alias, None)
                    continue
                since = self._superseded.setdefault(alias, now)
                if now - since >= DETACH_AFTER_S:
                    for view in [v for v, f in self._views.items() if f == file]:
                        self.con.execute(f'DROP VIEW IF EXISTS "{view}"')
                        del self._views[view]
                    self.con.execute(f'DETACH DATABASE IF EXISTS "{alias}"')
                    del self._attached[file]
                    self._superseded.pop(alias, None)

    def show(self, datasets: list[Dataset]) -> None:
        """Make these versions' tables visible in this process: attach each file read-only
        (once) and point the views ``tx_NNNN`` / ``rej_NNNN`` / ``attr_NNNN`` at it."""
        wanted: dict[str, tuple[str, str]] = {}  # view -> (file, table in the file)
        pieced = [d for d in datasets if d.data_file and d.segments]
        for d in datasets:
            if d.data_file and not d.segments:  # (an attached dataset has no file of lines)
                wanted[d.table_name] = (d.data_file, "tx")
                wanted[d.rejects_table] = (d.data_file, "rej")
                if d.orders_table:
                    wanted[d.orders_table] = (d.data_file, "ord")
            if d.attributes_file:
                wanted[d.attributes_table] = (d.attributes_file, "attr")
            if d.receivables_file:
                wanted[d.receivables_table] = (d.receivables_file, "recv")
                wanted[d.receivables_rejects] = (d.receivables_file, "rej")
            if d.costs_file:
                wanted[d.costs_table] = (d.costs_file, "cost")
                wanted[d.costs_rejects] = (d.costs_file, "rej")
        with self.lock:
            for view, (file, table) in wanted.items():
                if self._views.get(view) == file:
                    continue
                alias = self._attach(file)
                self.con.execute(f'CREATE OR REPLACE VIEW "{check_internal(view)}" AS '
                                 f'SELECT * FROM "{alias}".main."{table}"')
                self._views[view] = file
            for d in pieced:
                self._show_pieces(d)

    def _show_pieces(self, d: Dataset) -> None:
        """The views of a dataset made of a base file and appended pieces (``Dataset.segments``):
        each part's lines less those a later part replaces — its orders (``rep_orders``: every
        line of an order id a later part holds) or its days (``rep_days``: every line dated on
        a day a later part covers) — one after the other (``pieces_sql``). Rejected rows: each
        part's, less those of a file a later part loaded again. Nothing is copied: the views
        read the files as they are."""
        key = "+".join(d.files)
        if self._views.get(d.table_name) == key:
            return
        aliases, parts = self.parts(d)
        keyed = "order_id" in d.columns
        views = {d.table_name: pieces_sql(aliases, parts, "tx", keyed),
                 d.rejects_table: rejects_sql(aliases, parts)}
        if d.orders_table:
            views[d.orders_table] = pieces_sql(aliases, parts, "ord", keyed)
        for view, sql in views.items():
            self.con.execute(f'CREATE OR REPLACE VIEW "{check_internal(view)}" AS {sql}')
            self._views[view] = key

    def _attach(self, file: str) -> str:
        alias = self._attached.get(file)
        if alias is None:
            match = _FILE.match(file)
            if match is None:
                raise ValueError(f"not a dataset file name: {file!r}")
            alias = f"ds_{match['token']}"
            self.con.execute(f'ATTACH {sql_literal(self.folder / file)} AS "{alias}" (READ_ONLY)')
            self._attached[file] = alias
        return alias

    def rows(self, dataset: Dataset, view: str, limit: int | None = None):
        """The rows of one of ``dataset``'s views (rejected rows), ordered by their ``row``
        number, as a DataFrame."""
        sql = f'SELECT * FROM "{check_internal(view)}" ORDER BY "row"'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        self.show([dataset])
        return self.con.cursor().execute(sql).df()

    # -- writing a new version --------------------------------------------------------------
    @contextmanager
    def staging(self, kind: str, current: list[Dataset]):
        """A new DuckDB file for one load, attached read-write, and a cursor whose tables are
        created in it (``USE``); the ``current`` datasets' views stay visible. The file is
        deleted unless it was published before leaving."""
        token = uuid.uuid4().hex[:16]
        stage = Staging(self.folder / f"{kind}-{token}-p{os.getpid()}.duckdb", f"stg_{token}", kind)
        self.sync(current)
        with self.lock:
            self.con.execute(f'ATTACH {sql_literal(stage.path)} AS "{stage.alias}"')
        cur = self.con.cursor()
        cur.execute(f'USE "{stage.alias}"')
        cur.execute(f"SET search_path = '{stage.alias}.main,memory.main'")
        published = False
        try:
            yield stage, cur
            published = stage.published
        finally:
            cur.close()
            with self.lock:
                self.con.execute(f'DETACH DATABASE IF EXISTS "{stage.alias}"')
            if not published:
                for leftover in (stage.path, stage.path.with_name(stage.path.name + ".wal")):
                    leftover.unlink(missing_ok=True)

    def staged_totals(self, stage: Staging, table: str) -> dict:
        """``customers.dataset_totals`` of a staged table, asked in SQL: a load need not import
        Ibis and pandas for it (0.4 s of a command's start). The same figures: rows, distinct
        customers, revenue (Σ amount; 0 without lines), first and last date (None without)."""
        source = f'"{stage.alias}".main."{check_internal(table)}"'
        with self.lock:
            # the distinct customers are kept in the file (``customers``): an append counts the
            # customers of its new version from them instead of from every line
            self.con.execute(f'CREATE OR REPLACE TABLE "{stage.alias}".main.customers AS '
                             f'SELECT DISTINCT customer_id FROM {source}')
            rows, revenue, first, last = self.con.execute(
                f'SELECT count(*), CAST(sum(amount) AS DOUBLE), min(order_date), max(order_date) FROM {source}').fetchone()
            customers = self.con.execute(f'SELECT count(*) FROM "{stage.alias}".main.customers').fetchone()[0]
        return {"rows": int(rows), "customers": int(customers), "revenue": float(revenue or 0.0),
                "date_min": first, "date_max": last}

    def alias(self, file: str) -> str:
        """The name ``file`` is attached under in this process (attached now if it is not)."""
        with self.lock:
            return self._attach(file)

    def has_table(self, alias: str, table: str) -> bool:
        return bool(self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                                     [alias, table]).fetchone()[0])

    def parts(self, d: Dataset) -> tuple[list[str], list[dict]]:
        """The aliases and descriptions of ``d``'s parts (the base file, then each piece)."""
        parts = [{"file": d.data_file, "rule": None, "files": d.details.get("source_files") or [d.source_file],
                  "orders": bool(d.orders_table)}, *d.segments]
        with self.lock:
            return [self._attach(p["file"]) for p in parts], parts

    def pieces_rejected(self, before: Dataset, stage: Staging, piece: dict) -> int:
        """The rejected rows of ``before`` with the staged ``piece`` (its tables renamed,
        ``rename_staged``) appended, as readers will count them (``rejects_sql``)."""
        parts = [{"file": before.data_file, "files": before.details.get("source_files") or [before.source_file],
                  "orders": bool(before.orders_table)}, *before.segments, piece]
        with self.lock:
            aliases = [self._attach(p["file"]) for p in parts[:-1]] + [stage.alias]
            return int(self.con.execute(f"SELECT count(*) FROM ({rejects_sql(aliases, parts)})").fetchone()[0])

    def columns(self, stage: Staging, table: str) -> list[str]:
        """A staged table's columns, in order."""
        return [r[0] for r in self.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? "
            "ORDER BY column_index", [stage.alias, check_internal(table)]).fetchall()]

    def count_or_create_rejects(self, stage: Staging, rejects: str | None) -> int:
        """How many rows the staged rejects table holds; without one, an empty ``rej`` is
        created (every version file has one) and 0 returned."""
        if rejects:
            return int(self.con.execute(
                f'SELECT count(*) FROM "{stage.alias}".main."{check_internal(rejects)}"').fetchone()[0])
        self.con.execute(f'CREATE TABLE "{stage.alias}".main."rej" ("row" BIGINT, reason VARCHAR)')
        return 0

    def seal(self, stage: Staging, renames: dict[str, str]) -> None:
        """Give the staged tables their published names and close the file: from here on
        nobody writes to it."""
        with self.lock:
            self.rename_staged(stage, renames)
            self.con.execute(f'DETACH DATABASE "{stage.alias}"')

    def rename_staged(self, stage: Staging, renames: dict[str, str]) -> None:
        """Give staged tables their published names (the file stays open for writing)."""
        with self.lock:
            for old, new in renames.items():
                if old:
                    self.con.execute(f'ALTER TABLE "{stage.alias}".main."{check_internal(old)}" RENAME TO "{new}"')

    def build_orders(self, stage: Staging, tx_table: str, columns: list[str], rows: int) -> dict:
        """Write the order table (``ord``) into the staging file beside the lines: one row per
        distinct combination of every column that is not an additive measure (customer, order
        id, date, every dimension, rate and due/paid date), the additive measures
        (``ADDITIVE_COLUMNS``) summed and ``lines`` counted. Any analysis that sums, counts
        distinct values or takes minima and maxima gets the same figures from it as from the
        lines (``service.order_lines``). Kept only when it has at most ``ORDER_TABLE_SHARE`` of
        the rows; not written at all when the file's first lines look like one line per order
        (``_head_looks_single_line``) and its (customer, order key) pairs, which the table
        would have at least as many rows as, are more than that share (an export of one line
        per order, ten million lines: 1.5 s for the pairs, where the table of ten million rows
        was written and dropped).

        Returns what the catalog keeps in the dataset's details: ``order_table`` (kept) and,
        while the table is hot, ``filters.every_order_is_one_line`` of what the pages read —
        ``single_line_orders`` of the lines and, when it is kept, ``single_row_orders`` of the
        order table (``service.order_lines_single``, ``service.single_line_orders``): 0.6 s
        of a page's first query on a freshly loaded ten million lines, about 0.2 s here."""
        if not rows:
            return {}
        keys = [c for c in columns if c not in ADDITIVE_COLUMNS]
        sums = [c for c in columns if c in ADDITIVE_COLUMNS]
        source = f'"{stage.alias}".main."{check_internal(tx_table)}"'
        ord_table = f'"{stage.alias}".main."ord"'
        quoted = ", ".join(f'"{c}"' for c in keys)
        # ``filters.order_key`` and ``every_order_is_one_line`` in SQL (the load does not import
        # Ibis): the order id, else the order day; one row / line per (customer, key) pair.
        key = '"order_id"' if "order_id" in columns else 'CAST(CAST("order_date" AS DATE) AS VARCHAR)'
        if self._head_looks_single_line(source, quoted):
            # the order table would have a row per line or nearly: the pairs of the lines
            # decide without it (it has at least as many rows as they are)
            keyed_lines, pairs = self._order_pairs(source, key)
            if pairs > ORDER_TABLE_SHARE * rows:
                return {"single_line_orders": bool(rows == keyed_lines == pairs)}
        # written uncompressed: 2.1 s -> 1.35 s for 5,000,000 rows (the file grows by about
        # 180 MB: unique order ids are what compresses slowly); in no particular order, which
        # lets DuckDB write it from both threads (10,000,000 lines into 5,000,000 rows: 2.0 ->
        # 1.7 s; a grouping has no order to keep)
        cur = self.con.cursor()
        try:
            cur.execute("SET force_compression = 'uncompressed'")
            cur.execute("SET preserve_insertion_order = false")
            cur.execute(
                f'CREATE TABLE {ord_table} AS SELECT {quoted}, '
                + "".join(f'sum("{c}") AS "{c}", ' for c in sums)
                + f'count(*) AS lines FROM {source} GROUP BY {quoted}')
        finally:
            cur.execute("RESET force_compression")
            cur.execute("RESET preserve_insertion_order")
            cur.close()
        # Grouping keeps the distinct pairs, so the order table answers for the lines too.
        kept, keyed_rows, keyed_lines = self.con.execute(
            f'SELECT count(*), count({key}), coalesce(sum(lines) FILTER (WHERE {key} IS NOT NULL), 0) '
            f'FROM {ord_table}').fetchone()
        pairs = self._order_pairs(ord_table, key)[1] if pairs_decide(rows, kept, keyed_rows, keyed_lines) else -1
        facts = {"single_line_orders": bool(rows == keyed_lines == pairs)}
        if kept > ORDER_TABLE_SHARE * rows:
            self.con.execute(f'DROP TABLE {ord_table}')
            return facts
        return {**facts, "order_table": True, "single_row_orders": bool(kept == keyed_rows == pairs)}

    def _head_looks_single_line(self, source: str, quoted: str) -> bool:
        """Whether the first ``HEAD_LINES`` lines of ``source`` (as the load wrote them: runs of
        the file in its order) are more than ``HEAD_SINGLE_SHARE`` distinct combinations of
        ``quoted``, the order table's keys: an export of one line per order, for which the
        table would not be kept. A guess (0.03 s): the pairs of the whole file decide
        (``build_orders``), and a guess that is wrong costs only time."""
        lines, groups = self.con.execute(
            f'SELECT count(*), count(DISTINCT hash({quoted})) FROM (SELECT {quoted} FROM {source} '
            f'LIMIT {HEAD_LINES})').fetchone()
        return groups > HEAD_SINGLE_SHARE * lines

    def _order_pairs(self, table: str, key: str) -> tuple[int, int]:
        """(rows with an order key, distinct (customer, order key) pairs) of ``table`` (the
        lines or the order table), the pairs counted by their 64-bit hash
        (``hash(customer_id, key)``): 0.40 s against 0.71 s for the pairs themselves over
        5,000,000 rows. Two pairs of one hash would count once, so the count can only come out
        low, never high; a low count makes the facts it decides false, and the pages then group
        lines by order as for any dataset (the same figures, a little slower). For five million
        pairs the chance of that is about 7e-7."""
        keyed, pairs = self.con.execute(
            f'SELECT count({key}), count(DISTINCT hash("customer_id", {key})) FILTER (WHERE {key} IS NOT NULL) '
            f'FROM {table}').fetchone()
        return int(keyed), int(pairs)
