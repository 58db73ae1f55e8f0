"""The store: one DuckDB file holding the datasets registry, the transaction tables,
rejected rows, per-customer attributes, follow-ups and per-dataset settings.

Concurrency model: one read-write connection per process; every query runs on its own
cursor (``Store.cursor``); writes take ``Store.write_lock`` so they are serialised. DuckDB
itself lets only one process open the file for writing, so a second process gets a
``StoreError`` that names the likely cause instead of a stack trace.

Internal table names are generated (``tx_0001``), never built from user text; user text
only ever travels as query parameters.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from kam_analytics.errors import StoreError

_REGISTRY = """
CREATE TABLE IF NOT EXISTS kam_datasets (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    rejects_table VARCHAR,
    attributes_table VARCHAR,
    source_file VARCHAR,
    file_format VARCHAR,
    encoding VARCHAR,
    delimiter VARCHAR,
    mapping VARCHAR,
    details VARCHAR,
    columns VARCHAR,
    rows BIGINT,
    rejected BIGINT,
    customers BIGINT,
    revenue DOUBLE,
    date_min TIMESTAMP,
    date_max TIMESTAMP,
    created_at TIMESTAMP,
    version BIGINT
);
CREATE SEQUENCE IF NOT EXISTS kam_version_seq;
CREATE SEQUENCE IF NOT EXISTS kam_table_seq;
CREATE TABLE IF NOT EXISTS kam_followups (
    dataset_id INTEGER NOT NULL,
    customer_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    note VARCHAR,
    owner VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS kam_meta (
    key VARCHAR NOT NULL,
    value VARCHAR
);
CREATE TABLE IF NOT EXISTS kam_settings (
    dataset_id INTEGER NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR,
    updated_at TIMESTAMP
);
"""

FORMAT_VERSION = 1  # the store layout this code writes; a store with a higher number is refused
FOLLOWUP_STATUSES = ("new", "contacted", "recovering", "lost", "dismissed")
_INTERNAL = re.compile(r"^(tx|rej|attr|stg)_[0-9a-z_]+$")


@dataclass(frozen=True)
class Dataset:
    """One registered dataset (a row of the registry)."""

    id: int
    name: str
    table_name: str
    rejects_table: str | None
    attributes_table: str | None
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


def _locked_message(path: Path, error: Exception) -> StoreError:
    pid = re.search(r"PID (\d+)", str(error))
    return StoreError("store_locked", path=str(path), pid=pid.group(1) if pid else "?")


def _check_store_file(path: Path) -> None:
    """Refuse, before anything is written, a path that exists but is not a DuckDB file (a CSV
    given as --db would otherwise open as a read-only view and swallow every write)."""
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError("store_not_kam", path=str(path), reason="a folder")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if len(head) < 12 or head[8:12] != b"DUCK":
        raise StoreError("store_not_kam", path=str(path), reason="not a DuckDB database file")


def _check_store_contents(con, path: Path) -> None:
    """An existing DuckDB file must be a KAM store (or empty) of a format this code knows."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    if tables and "kam_datasets" not in tables:
        raise StoreError("store_not_kam", path=str(path), reason="a DuckDB database without the KAM registry")
    if "kam_meta" in tables:
        row = con.execute("SELECT value FROM kam_meta WHERE key = 'format_version'").fetchone()
        found = int(row[0]) if row and str(row[0]).isdigit() else 0
        if found > FORMAT_VERSION:
            raise StoreError("store_newer", path=str(path), found=found, supported=FORMAT_VERSION)


def _check_internal(name: str) -> str:
    # Internal names are generated, but assert it: they are the only text ever spliced into SQL.
    if not _INTERNAL.match(name):
        raise ValueError(f"not an internal table name: {name!r}")
    return name


class Store:
    """The DuckDB store file. Use ``Store.open(path)``; close with ``close()``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path):
        self.con = con
        self.path = path
        self.write_lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path) -> "Store":
        path = Path(path)
        _check_store_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path))
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise _locked_message(path, error) from None
            raise StoreError("store_unreadable", path=str(path), reason=str(error).splitlines()[0]) from None
        except duckdb.Error as error:
            raise StoreError("store_unreadable", path=str(path), reason=str(error).splitlines()[0]) from None
        try:
            _check_store_contents(con, path)
        except BaseException:
            con.close()
            raise
        store = cls(con, path)
        store._initialise()
        from kam_analytics import tmpfiles

        tmpfiles.sweep(tmpfiles.scratch_dir(path))
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plumbing -----------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for one query (readers never share one)."""
        return self.con.cursor()

    def _initialise(self) -> None:
        with self.write_lock:
            self.con.execute(_REGISTRY)
            if not self.con.execute("SELECT 1 FROM kam_meta WHERE key = 'format_version'").fetchone():
                self.con.execute("INSERT INTO kam_meta VALUES ('format_version', ?)", [str(FORMAT_VERSION)])
            self._drop_orphans()

    def _drop_orphans(self) -> None:
        """Drop staging tables left by an ingest that was killed before it committed."""
        referenced = set()
        for row in self.con.execute(
            "SELECT table_name, rejects_table, attributes_table FROM kam_datasets"
        ).fetchall():
            referenced.update(x for x in row if x)
        for (name,) in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database()"
        ).fetchall():
            if _INTERNAL.match(name) and name not in referenced:
                self.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def staging_name(self) -> str:
        return f"stg_{uuid.uuid4().hex[:12]}"

    def next_table_number(self) -> int:
        return int(self.con.execute("SELECT nextval('kam_table_seq')").fetchone()[0])

    def _next_version(self, cur) -> int:
        return int(cur.execute("SELECT nextval('kam_version_seq')").fetchone()[0])

    # -- registry -----------------------------------------------------------------------
    def datasets(self) -> list[Dataset]:
        cur = self.cursor()
        rows = cur.execute("SELECT * FROM kam_datasets ORDER BY id").fetchall()
        cols = [d[0] for d in cur.description]
        return [self._dataset_from_row(dict(zip(cols, r))) for r in rows]

    @staticmethod
    def _dataset_from_row(row: dict) -> Dataset:
        return Dataset(
            id=row["id"], name=row["name"], table_name=row["table_name"],
            rejects_table=row["rejects_table"], attributes_table=row["attributes_table"],
            source_file=row["source_file"], file_format=row["file_format"], encoding=row["encoding"],
            delimiter=row["delimiter"], mapping=json.loads(row["mapping"] or "{}"),
            details=json.loads(row["details"] or "{}"), columns=json.loads(row["columns"] or "[]"),
            rows=int(row["rows"] or 0), rejected=int(row["rejected"] or 0),
            customers=int(row["customers"] or 0), revenue=float(row["revenue"] or 0.0),
            date_min=row["date_min"], date_max=row["date_max"], created_at=row["created_at"],
            version=int(row["version"] or 0),
        )

    def find(self, name: str) -> Dataset | None:
        for dataset in self.datasets():
            if dataset.name == name:
                return dataset
        return None

    def dataset(self, name: str) -> Dataset:
        found = self.find(name)
        if found is None:
            names = ", ".join(d.name for d in self.datasets()) or "—"
            raise StoreError("dataset_unknown", name=name, names=names)
        return found

    def dataset_by_id(self, dataset_id: int) -> Dataset | None:
        for dataset in self.datasets():
            if dataset.id == dataset_id:
                return dataset
        return None

    def table(self, dataset: Dataset | str):
        """The dataset's transactions as an Ibis table, on a cursor of its own."""
        import ibis

        if isinstance(dataset, str):
            dataset = self.dataset(dataset)
        backend = ibis.duckdb.from_connection(self.cursor())
        return backend.table(_check_internal(dataset.table_name))

    def attributes(self, dataset: Dataset):
        """The per-customer attributes table as an Ibis table, or None."""
        import ibis

        if not dataset.attributes_table:
            return None
        backend = ibis.duckdb.from_connection(self.cursor())
        return backend.table(_check_internal(dataset.attributes_table))

    def staged(self, staging: str):
        """A staging table (loaded, not yet a dataset) as an Ibis table."""
        import ibis

        return ibis.duckdb.from_connection(self.cursor()).table(_check_internal(staging))

    def commit_dataset(self, name: str, staging: str, rejects: str | None, meta: DatasetMeta,
                       totals: dict, replace: bool = False) -> Dataset:
        """Register ``staging`` as dataset ``name`` in one transaction, with its ``totals``
        (``customers.dataset_totals`` of the staging table: rows, customers, revenue, dates).

        With ``replace`` an existing dataset of that name is swapped for the new table
        atomically (same id, so follow-ups and settings stay attached); without it, an
        existing name is an error and nothing changes.
        """
        with self.write_lock:
            existing = self.find(name)
            if existing is not None and not replace:
                self.drop_tables(staging, rejects)
                raise StoreError("dataset_exists", name=name)
            number = self.next_table_number()
            table_name, rejects_name = f"tx_{number:04d}", f"rej_{number:04d}"
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f'ALTER TABLE "{_check_internal(staging)}" RENAME TO "{table_name}"')
                if rejects:
                    cur.execute(f'ALTER TABLE "{_check_internal(rejects)}" RENAME TO "{rejects_name}"')
                rejected = cur.execute(f'SELECT count(*) FROM "{rejects_name}"').fetchone()[0] if rejects else 0
                columns = [r[0] for r in cur.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = current_database()"
                    " ORDER BY column_index", [table_name]).fetchall()]
                version = self._next_version(cur)
                values = dict(
                    name=name, table_name=table_name, rejects_table=rejects_name if rejects else None,
                    source_file=meta.source_file, file_format=meta.file_format, encoding=meta.encoding,
                    delimiter=meta.delimiter, mapping=json.dumps(meta.mapping, ensure_ascii=False),
                    details=json.dumps(meta.details, ensure_ascii=False, default=str),
                    columns=json.dumps(columns), rows=totals["rows"], rejected=rejected, customers=totals["customers"],
                    revenue=totals["revenue"], date_min=totals["date_min"], date_max=totals["date_max"],
                    created_at=datetime.now(), version=version,
                )
                if existing is not None:
                    assignments = ", ".join(f"{k} = ?" for k in values)
                    cur.execute(f"UPDATE kam_datasets SET {assignments} WHERE id = ?", [*values.values(), existing.id])
                    for old in (existing.table_name, existing.rejects_table):
                        if old:
                            cur.execute(f'DROP TABLE IF EXISTS "{_check_internal(old)}"')
                    # what was remembered about the old table (``table_setting``) goes with it
                    cur.execute("DELETE FROM kam_settings WHERE dataset_id = ? AND key LIKE ?",
                                [existing.id, f"%:{existing.table_name}"])
                    dataset_id = existing.id
                else:
                    dataset_id = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM kam_datasets").fetchone()[0]
                    cols = ", ".join(["id", *values])
                    marks = ", ".join("?" * (len(values) + 1))
                    cur.execute(f"INSERT INTO kam_datasets ({cols}) VALUES ({marks})", [dataset_id, *values.values()])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                self.drop_tables(staging, rejects)
                raise
            return self.dataset_by_id(dataset_id)

    def drop_tables(self, *names: str | None) -> None:
        with self.write_lock:
            for name in names:
                if name:
                    self.con.execute(f'DROP TABLE IF EXISTS "{_check_internal(name)}"')

    def drop(self, name: str) -> None:
        """Delete a dataset with its tables, follow-ups and settings, in one transaction."""
        with self.write_lock:
            dataset = self.dataset(name)
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute("DELETE FROM kam_datasets WHERE id = ?", [dataset.id])
                cur.execute("DELETE FROM kam_followups WHERE dataset_id = ?", [dataset.id])
                cur.execute("DELETE FROM kam_settings WHERE dataset_id = ?", [dataset.id])
                for table in (dataset.table_name, dataset.rejects_table, dataset.attributes_table):
                    if table:
                        cur.execute(f'DROP TABLE IF EXISTS "{_check_internal(table)}"')
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def rename(self, name: str, new_name: str) -> Dataset:
        new_name = (new_name or "").strip()
        with self.write_lock:
            dataset = self.dataset(name)
            if not new_name:
                raise StoreError("dataset_name_empty")
            if new_name != name and self.find(new_name) is not None:
                raise StoreError("dataset_exists", name=new_name)
            cur = self.cursor()
            cur.execute("UPDATE kam_datasets SET name = ?, version = nextval('kam_version_seq') WHERE id = ?",
                        [new_name, dataset.id])
            return self.dataset_by_id(dataset.id)

    def set_attributes(self, dataset: Dataset, staging: str) -> Dataset:
        """Attach a per-customer attributes table (replacing any previous one) atomically."""
        with self.write_lock:
            number = self.next_table_number()
            attr_name = f"attr_{number:04d}"
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f'ALTER TABLE "{_check_internal(staging)}" RENAME TO "{attr_name}"')
                if dataset.attributes_table:
                    cur.execute(f'DROP TABLE IF EXISTS "{_check_internal(dataset.attributes_table)}"')
                cur.execute("UPDATE kam_datasets SET attributes_table = ?, version = nextval('kam_version_seq') WHERE id = ?",
                            [attr_name, dataset.id])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                self.drop_tables(staging)
                raise
            return self.dataset_by_id(dataset.id)

    # -- rejected rows ------------------------------------------------------------------
    def rejected_rows(self, dataset: Dataset, limit: int | None = None):
        """The rows an ingest refused, as a DataFrame (row number, reason, the raw cells)."""
        import pandas as pd

        if not dataset.rejects_table:
            return pd.DataFrame(columns=["row", "reason"])
        sql = f'SELECT * FROM "{_check_internal(dataset.rejects_table)}" ORDER BY "row"'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        frame = self.cursor().execute(sql).df()
        headers = dataset.details.get("headers", [])
        return frame.rename(columns={f"c{i}": h for i, h in enumerate(headers)})

    # -- follow-ups (append-only) -------------------------------------------------------
    def add_followup(self, dataset: Dataset, customer_id: str, status: str, note: str = "",
                     owner: str = "") -> None:
        if status not in FOLLOWUP_STATUSES:
            raise StoreError("followup_status_unknown", status=status, statuses=", ".join(FOLLOWUP_STATUSES))
        with self.write_lock:
            self.cursor().execute(
                "INSERT INTO kam_followups VALUES (?, ?, ?, ?, ?, ?)",
                [dataset.id, str(customer_id), status, note or "", owner or "", datetime.now()],
            )

    def followups(self, dataset: Dataset, customer_id: str | None = None):
        """Follow-up history, newest first (all accounts, or one)."""
        sql = "SELECT customer_id, status, note, owner, created_at FROM kam_followups WHERE dataset_id = ?"
        params: list = [dataset.id]
        if customer_id is not None:
            sql += " AND customer_id = ?"
            params.append(str(customer_id))
        return self.cursor().execute(sql + " ORDER BY created_at DESC, rowid DESC", params).df()

    def latest_statuses(self, dataset: Dataset) -> dict[str, str]:
        """The newest follow-up status of every account that has one."""
        rows = self.cursor().execute(
            """SELECT customer_id, arg_max(status, created_at) FROM
               (SELECT customer_id, status, created_at FROM kam_followups WHERE dataset_id = ?)
               GROUP BY customer_id""", [dataset.id]).fetchall()
        return dict(rows)

    # -- per-dataset settings (e.g. scorecard weights) ----------------------------------
    def get_setting(self, dataset: Dataset, key: str, default=None):
        row = self.cursor().execute(
            "SELECT value FROM kam_settings WHERE dataset_id = ? AND key = ? ORDER BY updated_at DESC LIMIT 1",
            [dataset.id, key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, dataset: Dataset, key: str, value) -> None:
        with self.write_lock:
            self.cursor().execute("INSERT INTO kam_settings VALUES (?, ?, ?, ?)",
                                  [dataset.id, key, json.dumps(value, ensure_ascii=False), datetime.now()])

    def table_setting(self, dataset: Dataset, name: str, default=None):
        """A fact remembered about the dataset's current table (e.g. a property checked once).
        Stored as '<name>:<table>', so a replace, which loads a new table, starts afresh and
        drops what was remembered about the old one."""
        return self.get_setting(dataset, f"{name}:{dataset.table_name}", default)

    def set_table_setting(self, dataset: Dataset, name: str, value) -> None:
        self.set_setting(dataset, f"{name}:{dataset.table_name}", value)
