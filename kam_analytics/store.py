"""The store: a small catalog plus one immutable DuckDB file per loaded dataset version.

How it works (README: "How the store works")
--------------------------------------------
* The **catalog** (the file ``KAM_DB`` names) is a SQLite database in WAL mode: the datasets
  registry, follow-ups, settings. Every change is one short transaction, so the app, any number
  of CLI processes and the app's own sessions can write to it at once; a writer that finds it
  busy waits (``BUSY_TIMEOUT_S``) instead of failing.
* Each load writes a **new DuckDB file** in the folder beside the catalog (``<name>-datasets``)
  holding the transactions (``tx``) and the rejected rows (``rej``); attributes uploads get
  their own file (``attr``). Only when the file is complete and closed does one catalog
  transaction point the dataset at it (a replace swaps the pointer and bumps the version).
  Nobody ever writes to a published file, so any number of processes read it at once.
* **Readers** (``Store.table``) attach the file of the version the catalog names, read-only,
  and see it as ``tx_NNNN`` (a view in their own in-memory DuckDB). A reader that started on
  the old version keeps it: the writer unlinks the old file after the swap, and on Linux the
  data stays readable to whoever has it open until they let go.
* A writer killed at any point leaves at most an unpublished file; the next ``Store.open``
  removes files the catalog does not name whose writer is gone (the file name carries its pid).

Internal names (``tx_0001``, file names) are generated, never built from user text; user text
only ever travels as query parameters.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from kam_analytics.errors import StoreError
from kam_analytics.tmpfiles import pid_alive, scratch_dir, sweep

FORMAT_VERSION = 2  # 1: one DuckDB file holding everything (opened read-write by one process)
FOLLOWUP_STATUSES = ("new", "contacted", "recovering", "lost", "dismissed")
# the order table (``Store._build_orders``): measures summed per order, and when it is kept
ADDITIVE_COLUMNS = ("amount", "profit", "cost", "quantity", "paid_amount")
ORDER_TABLE_SHARE = 0.75
HEAD_LINES, HEAD_SINGLE_SHARE = 100_000, 0.9  # (``Store._head_looks_single_line``)
BUSY_TIMEOUT_S = 60.0  # how long a catalog write waits for another writer's transaction
DETACH_AFTER_S = 600.0  # a superseded version stays attached this long for queries still on it
_INTERNAL = re.compile(r"^(tx|rej|ord|attr|recv|rrej|stg)_[0-9a-z_]+$")
_FILE = re.compile(r"^(?P<kind>tx|attr|recv)-(?P<token>[0-9a-f]{16})-p(?P<pid>\d+)\.duckdb(?:\.wal)?$")

_CATALOG = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    number INTEGER NOT NULL,
    data_file TEXT NOT NULL,
    attributes_number INTEGER,
    attributes_file TEXT,
    source_file TEXT, file_format TEXT, encoding TEXT, delimiter TEXT,
    mapping TEXT, details TEXT, columns TEXT,
    rows INTEGER, rejected INTEGER, customers INTEGER, revenue REAL,
    date_min TEXT, date_max TEXT, created_at TEXT,
    version INTEGER NOT NULL,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS followups (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL, customer_id TEXT NOT NULL, status TEXT NOT NULL,
    note TEXT, owner TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, dataset TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS followups_by_dataset ON followups (dataset_id, customer_id);
CREATE INDEX IF NOT EXISTS settings_by_key ON settings (dataset_id, key);
"""


def _pairs_decide(rows: int, kept: int, keyed_rows: int, keyed_lines: int) -> bool:
    """Whether the order table's count of (customer, order key) pairs can change a fact the
    load records (``Store._build_orders``). The pairs are never more than the keyed rows, nor
    these more than the rows kept, nor these more than the lines (``rows``). So
    ``single_line_orders`` (lines = keyed lines = pairs) needs them only when every line is a
    row of its own and has a key; ``single_row_orders`` (kept = keyed rows = pairs) only when
    the table is kept (at most ``ORDER_TABLE_SHARE`` of the lines) and every row has a key.
    Otherwise both are false whatever the count."""
    every_line_a_keyed_row = rows == kept == keyed_rows == keyed_lines
    kept_and_keyed = kept <= ORDER_TABLE_SHARE * rows and kept == keyed_rows
    return every_line_a_keyed_row or kept_and_keyed


@dataclass(frozen=True)
class Dataset:
    """One registered dataset (a row of the catalog) at one version."""

    id: int
    name: str
    table_name: str  # what readers query: a view over the version's file, unique per version
    rejects_table: str | None
    attributes_table: str | None
    # the lines summed per order (``Store.orders``), when the load found it worth keeping
    orders_table: str | None
    source_file: str | None
    file_format: str | None
    encoding: str | None
    delimiter: str | None
    mapping: dict
    details: dict
    columns: list[str]
    rows: int
    rejected: int
    customers: int
    revenue: float
    date_min: datetime | None
    date_max: datetime | None
    created_at: datetime | None
    version: int
    data_file: str = ""
    attributes_file: str | None = None
    updated_at: datetime | None = None  # when this version was published (a load, rename, attributes)
    engine: str = "duckdb"  # 'duckdb' (a loaded file) or 'spark' (an attached table, ``ingest.attach``)
    source: dict = field(default_factory=dict)  # an attached table: {"table": …, "mapping": {…}}
    # an accounts-receivable export attached to the dataset (``ingest.receivables``): its
    # invoice lines, the rows it refused, and what its load reported
    receivables_table: str | None = None
    receivables_rejects: str | None = None
    receivables_file: str | None = None
    receivables_details: dict = field(default_factory=dict)

    def has(self, column: str) -> bool:
        return column in self.columns


@dataclass
class DatasetMeta:
    """What an ingest tells the registry about a new dataset's table."""

    source_file: str | None = None
    file_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    mapping: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)


@dataclass
class Staging:
    """A DuckDB file being written by one load, attached to the store's connection as
    ``alias``; published by ``Store.commit_dataset`` / ``Store.set_attributes``."""

    path: Path
    alias: str
    kind: str  # 'tx' or 'attr'
    published: bool = False


def _check_internal(name: str) -> str:
    # Internal names are generated, but assert it: they are the only text ever spliced into SQL.
    if not _INTERNAL.match(name):
        raise ValueError(f"not an internal table name: {name!r}")
    return name


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _file_kind(path: Path) -> str:
    """'sqlite', 'duckdb', 'missing', 'folder' or 'other' by the file's first bytes."""
    if not path.exists():
        return "missing"
    if path.is_dir():
        return "folder"
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if len(head) >= 12 and head[8:12] == b"DUCK":
        return "duckdb"
    return "empty" if not head else "other"


def iso_text(value, sep: str = "T") -> str | None:
    """A date, time or timestamp as ISO text (the catalog's; ``sep=" "`` for the reports of
    ``ingest --json`` and ``attach --json``: '2024-01-05 00:00:00'); None, NaN and NaT as None."""
    if value is None:
        return None
    try:
        if value != value:  # NaN and NaT are the values not equal to themselves
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, datetime):
        return value.isoformat(sep=sep)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Store:
    """The store. Use ``Store.open(path)`` (``path``: the catalog file); close with ``close()``.

    One in-memory DuckDB connection per process (``con``) reads the dataset files; every query
    runs on a cursor of its own (``cursor``). Catalog reads and writes open a short SQLite
    connection each (they are thread- and process-safe)."""

    def __init__(self, path: Path):
        self.path = path
        self.folder = path.with_name(f"{path.stem}-datasets")
        self.con = duckdb.connect()
        self.write_lock = threading.RLock()  # guards this process's attach / detach / views
        self._attached: dict[str, str] = {}  # file name -> alias
        self._views: dict[str, str] = {}  # view name (tx_0001) -> file name it reads
        self._superseded: dict[str, float] = {}  # alias -> when a newer version replaced it

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        path = Path(path)
        kind = _file_kind(path)
        if kind == "folder":
            raise StoreError("store_not_kam", path=str(path), reason="a folder")
        if kind == "other":
            raise StoreError("store_not_kam", path=str(path), reason="not a KAM Analytics catalog")
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "duckdb":
            from kam_analytics.store_migrate import migrate_v1

            migrate_v1(path)  # a store of format 1: converted in place, the old file kept beside it
        store = cls(path)
        try:
            store._initialise()
        except sqlite3.DatabaseError as error:
            store.con.close()
            raise StoreError("store_unreadable", path=str(path), reason=str(error).splitlines()[0]) from None
        except BaseException:
            store.con.close()
            raise
        sweep(scratch_dir(path))
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def catalog(self, write: bool = False):
        """A short catalog connection; with ``write`` one IMMEDIATE transaction, committed on
        leaving (rolled back on an error). Writers queue behind each other for up to
        ``BUSY_TIMEOUT_S`` rather than fail."""
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            db.row_factory = sqlite3.Row
            if write:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            else:
                yield db
        finally:
            db.close()

    def _initialise(self) -> None:
        # WAL lets readers and one writer work at once. Switching to it needs the file to
        # itself and does not wait for a busy one: two processes creating a store at the same
        # moment retry here (a store already in WAL mode is only read).
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self.catalog() as db:
                    if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                        db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with self.catalog(write=True) as db:
            for statement in filter(str.strip, _CATALOG.split(";")):
                db.execute(statement)
            known = {r[1] for r in db.execute("PRAGMA table_info(datasets)")}
            if "receivables_file" not in known:  # (catalogs made before receivables files)
                db.execute("ALTER TABLE datasets ADD COLUMN receivables_number INTEGER")
                db.execute("ALTER TABLE datasets ADD COLUMN receivables_file TEXT")
                db.execute("ALTER TABLE datasets ADD COLUMN receivables_details TEXT")
            if "engine" not in known:  # (catalogs made before attached tables existed)
                db.execute("ALTER TABLE datasets ADD COLUMN engine TEXT NOT NULL DEFAULT 'duckdb'")
                db.execute("ALTER TABLE datasets ADD COLUMN source TEXT")
            row = db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('format_version', ?)", [str(FORMAT_VERSION)])
            elif int(row[0]) > FORMAT_VERSION:
                raise StoreError("store_newer", path=str(self.path), found=int(row[0]), supported=FORMAT_VERSION)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Delete dataset files no catalog entry names whose writer is gone (a load killed
        before it published, or a superseded version its writer could not delete)."""
        named = self._named_files()
        for file in self.folder.iterdir():
            match = _FILE.match(file.name)
            if match is None or file.name.removesuffix(".wal") in named:
                continue
            if not pid_alive(int(match["pid"])):  # (this process counts as alive: its loads may be running)
                file.unlink(missing_ok=True)

    def _named_files(self) -> set[str]:
        with self.catalog() as db:
            rows = db.execute("SELECT data_file, attributes_file, receivables_file FROM datasets").fetchall()
        return {name for row in rows for name in row if name}

    def _next(self, db, counter: str) -> int:
        db.execute("INSERT INTO counters VALUES (?, 0) ON CONFLICT (name) DO NOTHING", [counter])
        db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", [counter])
        return int(db.execute("SELECT value FROM counters WHERE name = ?", [counter]).fetchone()[0])

    # -- reading ------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for one query (readers never share one); every current
        dataset's tables are visible by their internal names."""
        self._sync()
        return self.con.cursor()

    def datasets(self) -> list[Dataset]:
        with self.catalog() as db:
            rows = db.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        return [self._dataset_from_row(dict(row)) for row in rows]

    @staticmethod
    def _dataset_from_row(row: dict) -> Dataset:
        number, attrs = row["number"], row["attributes_number"]
        return Dataset(
            id=row["id"], name=row["name"], table_name=f"tx_{number:04d}", rejects_table=f"rej_{number:04d}",
            orders_table=f"ord_{number:04d}" if json.loads(row["details"] or "{}").get("order_table") else None,
            attributes_table=f"attr_{attrs:04d}" if row["attributes_file"] else None,
            source_file=row["source_file"], file_format=row["file_format"], encoding=row["encoding"],
            delimiter=row["delimiter"], mapping=json.loads(row["mapping"] or "{}"),
            details=json.loads(row["details"] or "{}"), columns=json.loads(row["columns"] or "[]"),
            rows=int(row["rows"] or 0), rejected=int(row["rejected"] or 0),
            customers=int(row["customers"] or 0), revenue=float(row["revenue"] or 0.0),
            date_min=_when(row["date_min"]), date_max=_when(row["date_max"]), created_at=_when(row["created_at"]),
            version=int(row["version"]), data_file=row["data_file"], attributes_file=row["attributes_file"],
            updated_at=_when(row["updated_at"]) or _when(row["created_at"]),
            engine=row.get("engine") or "duckdb", source=json.loads(row.get("source") or "{}"),
            receivables_table=f"recv_{row['receivables_number']:04d}" if row.get("receivables_file") else None,
            receivables_rejects=f"rrej_{row['receivables_number']:04d}" if row.get("receivables_file") else None,
            receivables_file=row.get("receivables_file"),
            receivables_details=json.loads(row.get("receivables_details") or "{}"),
        )

    def find(self, name: str) -> Dataset | None:
        with self.catalog() as db:
            row = db.execute("SELECT * FROM datasets WHERE name = ?", [name]).fetchone()
        return self._dataset_from_row(dict(row)) if row else None

    def dataset(self, name: str) -> Dataset:
        found = self.find(name)
        if found is None:
            names = ", ".join(d.name for d in self.datasets()) or "—"
            raise StoreError("dataset_unknown", name=name, names=names)
        return found

    def dataset_by_id(self, dataset_id: int) -> Dataset | None:
        with self.catalog() as db:
            row = db.execute("SELECT * FROM datasets WHERE id = ?", [dataset_id]).fetchone()
        return self._dataset_from_row(dict(row)) if row else None

    def _sync(self) -> None:
        """Make every current version's tables visible in this process (``_show``) and detach
        the versions superseded more than ``DETACH_AFTER_S`` ago."""
        current = self.datasets()
        self._show(current)
        files = {f for d in current for f in (d.data_file, d.attributes_file, d.receivables_file) if f}
        now = time.monotonic()
        with self.write_lock:
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

    def _show(self, datasets: list[Dataset]) -> None:
        """Make these versions' tables visible in this process: attach each file read-only
        (once) and point the views ``tx_NNNN`` / ``rej_NNNN`` / ``attr_NNNN`` at it."""
        wanted: dict[str, tuple[str, str]] = {}  # view -> (file, table in the file)
        for d in datasets:
            if d.data_file:  # (an attached dataset has no file of lines)
                wanted[d.table_name] = (d.data_file, "tx")
                wanted[d.rejects_table] = (d.data_file, "rej")
                if d.orders_table:
                    wanted[d.orders_table] = (d.data_file, "ord")
            if d.attributes_file:
                wanted[d.attributes_table] = (d.attributes_file, "attr")
            if d.receivables_file:
                wanted[d.receivables_table] = (d.receivables_file, "recv")
                wanted[d.receivables_rejects] = (d.receivables_file, "rej")
        with self.write_lock:
            for view, (file, table) in wanted.items():
                if self._views.get(view) == file:
                    continue
                alias = self._attach(file)
                self.con.execute(f'CREATE OR REPLACE VIEW "{_check_internal(view)}" AS '
                                 f'SELECT * FROM "{alias}".main."{table}"')
                self._views[view] = file

    def _attach(self, file: str) -> str:
        alias = self._attached.get(file)
        if alias is None:
            match = _FILE.match(file)
            if match is None:
                raise ValueError(f"not a dataset file name: {file!r}")
            alias = f"ds_{match['token']}"
            self.con.execute(f'ATTACH {_literal(self.folder / file)} AS "{alias}" (READ_ONLY)')
            self._attached[file] = alias
        return alias

    def _ibis(self, dataset: Dataset, view: str):
        """A view of ``dataset`` as an Ibis table; only that version is made visible (the
        caller already read it from the catalog: no second catalog read here)."""
        import ibis

        self._show([dataset])
        return ibis.duckdb.from_connection(self.con.cursor()).table(_check_internal(view))

    def table(self, dataset: Dataset | str):
        """The dataset's transactions as an Ibis table, on a cursor of its own (an attached
        dataset: on its engine, ``engines.attached``)."""
        if isinstance(dataset, str):
            dataset = self.dataset(dataset)
        if dataset.engine != "duckdb":
            from kam_analytics import engines

            return engines.attached(dataset)
        return self._ibis(dataset, dataset.table_name)

    def orders(self, dataset: Dataset):
        """The dataset's lines summed per order (``ORDER_TABLE_SQL``) as an Ibis table, or None
        (no such table: an attached dataset, or a load where it would not be much smaller)."""
        if dataset.engine != "duckdb" or not dataset.orders_table:
            return None
        return self._ibis(dataset, dataset.orders_table)

    def attributes(self, dataset: Dataset):
        """The per-customer attributes table as an Ibis table, or None (for an attached
        dataset, a copy on its engine: attributes are one row per customer)."""
        if not dataset.attributes_table:
            return None
        local = self._ibis(dataset, dataset.attributes_table)
        if dataset.engine != "duckdb":
            from kam_analytics import engines

            return engines.attached_attributes(dataset, local)
        return local

    # -- writing a new version ----------------------------------------------------------
    @staticmethod
    def staging_name() -> str:
        """A generated name for a table a load builds in its staging file."""
        return f"stg_{uuid.uuid4().hex[:12]}"

    @contextmanager
    def staging(self, kind: str = "tx"):
        """A new DuckDB file for one load, attached read-write, and a cursor whose tables are
        created in it (``USE``); the dataset's views stay visible. The file is deleted unless
        it was published (``commit_dataset`` / ``set_attributes``) before leaving."""
        token = uuid.uuid4().hex[:16]
        stage = Staging(self.folder / f"{kind}-{token}-p{os.getpid()}.duckdb", f"stg_{token}", kind)
        self._sync()
        with self.write_lock:
            self.con.execute(f'ATTACH {_literal(stage.path)} AS "{stage.alias}"')
        cur = self.con.cursor()
        cur.execute(f'USE "{stage.alias}"')
        cur.execute(f"SET search_path = '{stage.alias}.main,memory.main'")
        published = False
        try:
            yield stage, cur
            published = stage.published
        finally:
            cur.close()
            with self.write_lock:
                self.con.execute(f'DETACH DATABASE IF EXISTS "{stage.alias}"')
            if not published:
                for leftover in (stage.path, stage.path.with_name(stage.path.name + ".wal")):
                    leftover.unlink(missing_ok=True)

    def staged(self, stage: Staging, table: str):
        """A table of a staging file (loaded, not yet published) as an Ibis table."""
        import ibis

        return ibis.duckdb.from_connection(self.con.cursor()).table(
            _check_internal(table), database=(stage.alias, "main"))

    def staged_totals(self, stage: Staging, table: str) -> dict:
        """``customers.dataset_totals`` of a staged table, asked in SQL: a load need not import
        Ibis and pandas for it (0.4 s of a command's start). The same figures: rows, distinct
        customers, revenue (Σ amount; 0 without lines), first and last date (None without)."""
        with self.write_lock:
            rows, customers, revenue, first, last = self.con.execute(
                f'SELECT count(*), count(DISTINCT customer_id), CAST(sum(amount) AS DOUBLE), min(order_date), '
                f'max(order_date) FROM "{stage.alias}".main."{_check_internal(table)}"').fetchone()
        return {"rows": int(rows), "customers": int(customers), "revenue": float(revenue or 0.0),
                "date_min": first, "date_max": last}

    def _seal(self, stage: Staging, renames: dict[str, str]) -> None:
        """Give the staged tables their published names and close the file: from here on
        nobody writes to it."""
        with self.write_lock:
            for old, new in renames.items():
                if old:
                    self.con.execute(f'ALTER TABLE "{stage.alias}".main."{_check_internal(old)}" RENAME TO "{new}"')
            self.con.execute(f'DETACH DATABASE "{stage.alias}"')

    def commit_dataset(self, name: str, stage: Staging, tx_table: str, rejects: str | None, meta: DatasetMeta,
                       totals: dict, replace: bool = False, expected_version: int | None = None,
                       actor: str | None = None) -> Dataset:
        """Publish the staged load as dataset ``name`` in one catalog transaction, with its
        ``totals`` (``customers.dataset_totals`` of the staged table).

        With ``replace`` an existing dataset of that name is swapped for the new file (same id,
        so follow-ups and settings stay attached, and a new version); without it, an existing
        name is an error and nothing changes. ``expected_version``: the version the load
        started from (None: the name did not exist then); when another load published in the
        meantime, this one is refused and nothing changes."""
        with self.write_lock:
            columns = [r[0] for r in self.con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? "
                "ORDER BY column_index", [stage.alias, _check_internal(tx_table)]).fetchall()]
            if rejects:
                rejected = int(self.con.execute(
                    f'SELECT count(*) FROM "{stage.alias}".main."{_check_internal(rejects)}"').fetchone()[0])
            else:
                rejected = 0
                self.con.execute(f'CREATE TABLE "{stage.alias}".main."rej" ("row" BIGINT, reason VARCHAR)')
            order_facts = self._build_orders(stage, tx_table, columns, totals["rows"])
            self._seal(stage, {tx_table: "tx", rejects: "rej"})
            with self.catalog(write=True) as db:
                values = dict(
                    data_file=stage.path.name,
                    source_file=meta.source_file, file_format=meta.file_format, encoding=meta.encoding,
                    delimiter=meta.delimiter, mapping=json.dumps(meta.mapping, ensure_ascii=False),
                    details=json.dumps({**meta.details, **order_facts},
                                       ensure_ascii=False, default=str),
                    columns=json.dumps(columns), rows=totals["rows"], rejected=rejected,
                    customers=totals["customers"], revenue=totals["revenue"], date_min=iso_text(totals["date_min"]),
                    date_max=iso_text(totals["date_max"]), engine="duckdb", source=None,
                )
                dataset_id, old_file = self._publish(db, name, values, replace, expected_version, actor, "upload",
                                                     file=meta.source_file, rows=totals["rows"], rejected=rejected)
            stage.published = True
        if old_file:
            self._retire(old_file)
        return self.dataset_by_id(dataset_id)

    def _build_orders(self, stage: Staging, tx_table: str, columns: list[str], rows: int) -> dict:
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
        source = f'"{stage.alias}".main."{_check_internal(tx_table)}"'
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
        pairs = self._order_pairs(ord_table, key)[1] if _pairs_decide(rows, kept, keyed_rows, keyed_lines) else -1
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
        (``_build_orders``), and a guess that is wrong costs only time."""
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

    def commit_attached(self, name: str, engine: str, source: dict, columns: list[str], totals: dict, rejected: int,
                        details: dict, replace: bool = False, expected_version: int | None = None,
                        actor: str | None = None) -> Dataset:
        """Register an attached table (``ingest.attach``) as dataset ``name`` in one catalog
        transaction; the same rules as ``commit_dataset`` for an existing name and for a load
        that another one overtook."""
        with self.catalog(write=True) as db:
            values = dict(
                data_file="", source_file=source["table"], file_format=engine, encoding=None, delimiter=None,
                mapping=json.dumps(source["mapping"], ensure_ascii=False),
                details=json.dumps(details, ensure_ascii=False, default=str), columns=json.dumps(columns),
                rows=totals["rows"], rejected=rejected, customers=totals["customers"], revenue=totals["revenue"],
                date_min=iso_text(totals["date_min"]), date_max=iso_text(totals["date_max"]), engine=engine,
                source=json.dumps(source, ensure_ascii=False),
            )
            dataset_id, old_file = self._publish(db, name, values, replace, expected_version, actor, "attach",
                                                 engine=engine, table=source["table"], rows=totals["rows"],
                                                 rejected=rejected)
        if old_file:
            self._retire(old_file)
        return self.dataset_by_id(dataset_id)

    def _publish(self, db, name: str, values: dict, replace: bool, expected_version: int | None,
                 actor: str | None, action: str, **detail) -> tuple[int, str | None]:
        """Point dataset ``name`` at a new version (``values``: its catalog columns) inside the
        caller's transaction, and write the audit entry (``action`` for a new name, 'replace'
        for an existing one). Without ``replace`` an existing name is refused; a load that
        another one overtook (the version is not ``expected_version``) is refused. A replace
        keeps the id (follow-ups and settings stay) but forgets what was remembered about the
        old table (``table_setting``). Returns the id and the file the old version used."""
        existing = db.execute("SELECT id, version, data_file FROM datasets WHERE name = ?", [name]).fetchone()
        if existing is not None and not replace:
            raise StoreError("dataset_exists", name=name)
        if (existing["version"] if existing is not None else None) != expected_version:
            raise StoreError("dataset_changed_meanwhile", name=name)
        now = datetime.now().isoformat()
        values = dict(values, name=name, number=self._next(db, "table"), version=self._next(db, "version"),
                      created_at=now, updated_at=now)
        if existing is not None:
            db.execute(f"UPDATE datasets SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*values.values(), existing["id"]])
            db.execute("DELETE FROM settings WHERE dataset_id = ? AND key LIKE ?", [existing["id"], "%:tx_%"])
            dataset_id = existing["id"]
        else:
            dataset_id = db.execute(f"INSERT INTO datasets ({', '.join(values)}) VALUES "
                                    f"({', '.join('?' for _ in values)})", list(values.values())).lastrowid
        self._audit(db, actor, "replace" if existing is not None else action, name, **detail)
        return dataset_id, (existing["data_file"] or None) if existing is not None else None

    def _retire(self, file: str) -> None:
        """Delete a file no catalog entry names any more. Readers that have it open keep
        reading it (the data stays until they close it); new readers follow the catalog."""
        if file not in self._named_files():
            (self.folder / file).unlink(missing_ok=True)

    def drop(self, name: str, actor: str | None = None) -> None:
        """Delete a dataset with its follow-ups and settings in one catalog transaction; its
        files go after."""
        with self.catalog(write=True) as db:
            row = db.execute("SELECT id, data_file, attributes_file, receivables_file FROM datasets WHERE name = ?",
                             [name]).fetchone()
            if row is None:
                names = ", ".join(r[0] for r in db.execute("SELECT name FROM datasets ORDER BY id")) or "—"
                raise StoreError("dataset_unknown", name=name, names=names)
            for table in ("datasets", "followups", "settings"):
                db.execute(f"DELETE FROM {table} WHERE {'id' if table == 'datasets' else 'dataset_id'} = ?", [row["id"]])
            self._audit(db, actor, "delete", name)
        for file in (row["data_file"], row["attributes_file"], row["receivables_file"]):
            if file:
                self._retire(file)

    def rename(self, name: str, new_name: str, actor: str | None = None) -> Dataset:
        new_name = (new_name or "").strip()
        if not new_name:
            raise StoreError("dataset_name_empty")
        with self.catalog(write=True) as db:
            row = db.execute("SELECT id FROM datasets WHERE name = ?", [name]).fetchone()
            if row is None:
                raise StoreError("dataset_unknown", name=name, names=", ".join(
                    r[0] for r in db.execute("SELECT name FROM datasets ORDER BY id")) or "—")
            if new_name != name and db.execute("SELECT 1 FROM datasets WHERE name = ?", [new_name]).fetchone():
                raise StoreError("dataset_exists", name=new_name)
            db.execute("UPDATE datasets SET name = ?, version = ?, updated_at = ? WHERE id = ?",
                       [new_name, self._next(db, "version"), datetime.now().isoformat(), row["id"]])
            self._audit(db, actor, "rename", new_name, old_name=name)
        return self.dataset_by_id(row["id"])

    def set_attributes(self, dataset: Dataset, stage: Staging, table: str, actor: str | None = None) -> Dataset:
        """Publish a staged attributes table for ``dataset`` (replacing any previous one)."""
        self._seal(stage, {table: "attr"})
        with self.catalog(write=True) as db:
            row = db.execute("SELECT attributes_file FROM datasets WHERE id = ?", [dataset.id]).fetchone()
            if row is None:
                raise StoreError("dataset_gone")
            db.execute("UPDATE datasets SET attributes_number = ?, attributes_file = ?, version = ?, updated_at = ? "
                       "WHERE id = ?", [self._next(db, "table"), stage.path.name, self._next(db, "version"),
                                        datetime.now().isoformat(), dataset.id])
            self._audit(db, actor, "attributes", dataset.name)
        stage.published = True
        if row["attributes_file"]:
            self._retire(row["attributes_file"])
        return self.dataset_by_id(dataset.id)

    def set_receivables(self, dataset: Dataset, stage: Staging, table: str, rejects: str, details: dict,
                        actor: str | None = None) -> Dataset:
        """Publish a staged receivables load for ``dataset`` (its invoice lines ``table`` and
        refused rows ``rejects``), replacing any previous one, in one catalog transaction."""
        self._seal(stage, {table: "recv", rejects: "rej"})
        with self.catalog(write=True) as db:
            row = db.execute("SELECT receivables_file FROM datasets WHERE id = ?", [dataset.id]).fetchone()
            if row is None:
                raise StoreError("dataset_gone")
            db.execute("UPDATE datasets SET receivables_number = ?, receivables_file = ?, receivables_details = ?, "
                       "version = ?, updated_at = ? WHERE id = ?",
                       [self._next(db, "table"), stage.path.name, json.dumps(details, ensure_ascii=False, default=str),
                        self._next(db, "version"), datetime.now().isoformat(), dataset.id])
            self._audit(db, actor, "receivables", dataset.name, file=details.get("source_file"),
                        rows=details.get("rows"), rejected=details.get("rejected"))
        stage.published = True
        if row["receivables_file"]:
            self._retire(row["receivables_file"])
        return self.dataset_by_id(dataset.id)

    def receivables(self, dataset: Dataset):
        """The receivables file's invoice lines as an Ibis table (the columns of transactions:
        customer_id, order_id, order_date, due_date, amount, paid_date, paid_amount …), or None."""
        if not dataset.receivables_table:
            return None
        return self._ibis(dataset, dataset.receivables_table)

    # -- rejected rows ------------------------------------------------------------------
    def rejected_rows(self, dataset: Dataset, limit: int | None = None, receivables: bool = False):
        """The rows an ingest refused, as a DataFrame (row number, reason, the raw cells; for
        an attached dataset: the reason and the mapped columns of the lines left out). With
        ``receivables``: the rows the dataset's receivables file refused."""
        if receivables:
            sql = f'SELECT * FROM "{_check_internal(dataset.receivables_rejects)}" ORDER BY "row"'
            sql += f" LIMIT {int(limit)}" if limit is not None else ""
            self._show([dataset])
            frame = self.con.cursor().execute(sql).df()
            headers = dataset.receivables_details.get("headers", [])
            return frame.rename(columns={f"c{i}": h for i, h in enumerate(headers)})
        if dataset.engine != "duckdb":
            from kam_analytics import engines

            return engines.attached_rejects(dataset, limit)
        sql = f'SELECT * FROM "{_check_internal(dataset.rejects_table)}" ORDER BY "row"'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        self._show([dataset])
        frame = self.con.cursor().execute(sql).df()
        headers = dataset.details.get("headers", [])
        return frame.rename(columns={f"c{i}": h for i, h in enumerate(headers)})

    # -- follow-ups (append-only) -------------------------------------------------------
    def add_followup(self, dataset: Dataset, customer_id: str, status: str, note: str = "",
                     owner: str | None = None) -> None:
        """Append a follow-up; ``owner`` is who recorded it (the signed-in user; by default
        the local user, ``_actor``)."""
        if status not in FOLLOWUP_STATUSES:
            raise StoreError("followup_status_unknown", status=status, statuses=", ".join(FOLLOWUP_STATUSES))
        owner = _actor(owner)
        with self.catalog(write=True) as db:
            db.execute("INSERT INTO followups (dataset_id, customer_id, status, note, owner, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [dataset.id, str(customer_id), status, note or "", owner, datetime.now().isoformat()])
            self._audit(db, owner, "followup", dataset.name, customer_id=str(customer_id), status=status)

    def followups(self, dataset: Dataset, customer_id: str | None = None):
        """Follow-up history, newest first (all accounts, or one); ties in time by the order
        they were saved."""
        import pandas as pd

        sql = "SELECT customer_id, status, note, owner, created_at FROM followups WHERE dataset_id = ?"
        params: list = [dataset.id]
        if customer_id is not None:
            sql += " AND customer_id = ?"
            params.append(str(customer_id))
        with self.catalog() as db:
            rows = db.execute(sql + " ORDER BY seq DESC", params).fetchall()
        frame = pd.DataFrame([dict(r) for r in rows], columns=["customer_id", "status", "note", "owner", "created_at"])
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def followups_stamp(self, dataset: Dataset) -> tuple[int, int]:
        """(how many follow-ups the dataset has, the newest one's sequence number; 0 and 0
        with none): it changes with every follow-up saved, by any session or command, so a
        result that shows follow-ups can be cached under it."""
        with self.catalog() as db:
            count, newest = db.execute("SELECT count(*), coalesce(max(seq), 0) FROM followups WHERE dataset_id = ?",
                                       [dataset.id]).fetchone()
        return int(count), int(newest)

    def latest_statuses(self, dataset: Dataset) -> dict[str, str]:
        """The newest follow-up status of every account that has one."""
        with self.catalog() as db:
            rows = db.execute(
                """SELECT customer_id, status FROM followups f WHERE dataset_id = ? AND seq =
                   (SELECT max(seq) FROM followups g WHERE g.dataset_id = f.dataset_id
                    AND g.customer_id = f.customer_id)""", [dataset.id]).fetchall()
        return {r[0]: r[1] for r in rows}

    # -- per-dataset settings (e.g. scorecard weights) ----------------------------------
    def get_setting(self, dataset: Dataset, key: str, default=None):
        with self.catalog() as db:
            row = db.execute("SELECT value FROM settings WHERE dataset_id = ? AND key = ? ORDER BY seq DESC LIMIT 1",
                             [dataset.id, key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, dataset: Dataset, key: str, value, actor: str | None = None) -> None:
        """Save a setting of the dataset (written to the audit trail)."""
        with self.catalog(write=True) as db:
            self._put_setting(db, dataset, key, value)
            self._audit(db, actor, "settings", dataset.name, key=key)

    @staticmethod
    def _put_setting(db, dataset: Dataset, key: str, value) -> None:
        db.execute("INSERT INTO settings (dataset_id, key, value, updated_at) VALUES (?, ?, ?, ?)",
                   [dataset.id, key, json.dumps(value, ensure_ascii=False), datetime.now().isoformat()])

    # -- the audit trail (append-only) --------------------------------------------------
    @staticmethod
    def _audit(db, actor: str | None, action: str, dataset: str | None, **detail) -> None:
        """Append one entry inside the caller's catalog transaction: the change and its record
        are written together or not at all."""
        db.execute("INSERT INTO audit (at, actor, action, dataset, detail) VALUES (?, ?, ?, ?, ?)",
                   [datetime.now().isoformat(timespec="seconds"), _actor(actor), action, dataset,
                    json.dumps(detail, ensure_ascii=False, default=str) if detail else ""])

    def record(self, actor: str | None, action: str, dataset: str | None = None, **detail) -> None:
        """Append an entry that goes with no change of the store (a sign-in)."""
        with self.catalog(write=True) as db:
            self._audit(db, actor, action, dataset, **detail)

    def audit_trail(self, limit: int | None = None):
        """The audit trail, newest first: at, actor, action, dataset, detail (a dict)."""
        import pandas as pd

        sql = "SELECT at, actor, action, dataset, detail FROM audit ORDER BY seq DESC"
        with self.catalog() as db:
            rows = db.execute(sql + (f" LIMIT {int(limit)}" if limit is not None else "")).fetchall()
        frame = pd.DataFrame([dict(r) for r in rows], columns=["at", "actor", "action", "dataset", "detail"])
        frame["dataset"] = frame["dataset"].fillna("")  # (a sign-in concerns no dataset)
        frame["detail"] = [json.loads(d) if d else {} for d in frame["detail"]]
        return frame

    def table_setting(self, dataset: Dataset, name: str, default=None):
        """A fact remembered about the dataset's current table (e.g. a property checked once).
        Stored as '<name>:<table>', so a replace, which loads a new table, starts afresh and
        drops what was remembered about the old one."""
        return self.get_setting(dataset, f"{name}:{dataset.table_name}", default)

    def set_table_setting(self, dataset: Dataset, name: str, value) -> None:
        """(A fact about the data, not a user's setting: not audited.)"""
        with self.catalog(write=True) as db:
            self._put_setting(db, dataset, f"{name}:{dataset.table_name}", value)


def _actor(actor: str | None) -> str:
    """Who made a change: the identity the service passes, else the local user (a direct
    library call is made by whoever runs the process)."""
    if actor:
        return str(actor)
    from kam_analytics.access import local_identity

    return local_identity().user
