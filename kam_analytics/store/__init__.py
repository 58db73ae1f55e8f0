"""The store: a small catalog plus one immutable DuckDB file per published dataset version.

How it works (``docs/store.md``)
--------------------------------
* ``catalog.py`` — the catalog (SQLite in WAL mode, the file ``KAM_DB`` names): datasets and
  their versions, follow-ups, settings, the audit trail; every change one short transaction
  with its audit entry.
* ``files.py`` — the version files in the folder beside it (``<name>-datasets``): staged,
  sealed, published by one catalog transaction, read by any number of processes, deleted when
  no version names them.
* ``engines.py`` — a version (or an attached table on Spark) as Ibis tables.
* ``reviews.py`` — archived reviews: a record in the catalog, the rows in a Parquet file of
  their own (``<name>-reviews``), written once and never rewritten (``store.reviews``).
* ``migrate.py`` — a store of format 1 converted in place.

``Store`` composes them behind one name, so a use case never has to know which part holds
what. Internal names (``tx_0001``, file names) are generated, never built from user text;
user text only ever travels as query parameters.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import contextmanager
from pathlib import Path

from kam_analytics.errors import StoreError
from kam_analytics.store.catalog import BUSY_TIMEOUT_S, Catalog
from kam_analytics.store.engines import Engines
from kam_analytics.store.files import Files
from kam_analytics.store.alerts import Alerts
from kam_analytics.store.reviews import Review, Reviews, reviews_folder
from kam_analytics.store.records import (FOLLOWUP_STATUSES, FORMAT_VERSION, Dataset, DatasetMeta, Staging,
                                         iso_text)
from kam_analytics.tmpfiles import scratch_dir, sweep

__all__ = ["Store", "Dataset", "DatasetMeta", "Staging", "FOLLOWUP_STATUSES", "FORMAT_VERSION", "BUSY_TIMEOUT_S",
           "iso_text", "Review"]


def _file_kind(path: Path) -> str:
    """'sqlite', 'duckdb', 'missing', 'folder', 'empty' or 'other' by the file's first bytes."""
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


def _check_is_catalog(path: Path) -> None:
    """Refuse a SQLite file that is not a KAM catalog, reading it only (read-only, no journal
    change): one with tables of its own but no ``meta`` table naming a format version. An empty
    SQLite file (no table yet: a catalog whose creation was interrupted) is taken as a new one."""
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            ours = "meta" in tables and db.execute(
                "SELECT 1 FROM meta WHERE key = 'format_version'").fetchone() is not None
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise StoreError("store_unreadable", path=str(path), reason=str(error).splitlines()[0]) from None
    if tables and not ours:
        raise StoreError("store_not_kam", path=str(path), reason="another program's SQLite database")


def folder_of(path: Path) -> Path:
    """The folder of version files beside the catalog ``path``."""
    return path.with_name(f"{path.stem}-datasets")


class Store:
    """The store. Use ``Store.open(path)`` (``path``: the catalog file); close with ``close()``.

    One in-memory DuckDB connection per process reads the dataset files; every query runs on a
    cursor of its own (``cursor``). Catalog reads and writes open a short SQLite connection each
    (they are thread- and process-safe)."""

    def __init__(self, path: Path):
        self.path = path
        self.folder = folder_of(path)
        self._catalog = Catalog(path)
        self._files = Files(self.folder)
        self._engines = Engines(self._files)
        self.reviews = Reviews(self._catalog, reviews_folder(path))
        self.alerts = Alerts(self._catalog)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        path = Path(path)
        kind = _file_kind(path)
        if kind == "folder":
            raise StoreError("store_not_kam", path=str(path), reason="a folder")
        if kind == "other":
            raise StoreError("store_not_kam", path=str(path), reason="not a KAM Analytics catalog")
        if kind == "sqlite":
            _check_is_catalog(path)  # another program's database is refused before anything is written
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "duckdb":
            from kam_analytics.store.migrate import migrate_v1

            migrate_v1(path)  # a store of format 1: converted in place, the old file kept beside it
        store = cls(path)
        try:
            store._catalog.initialise()
            store._files.remove_orphans(store._catalog.named_files())
            store.reviews.remove_orphans()
        except sqlite3.DatabaseError as error:
            store.close()
            raise StoreError("store_unreadable", path=str(path), reason=str(error).splitlines()[0]) from None
        except BaseException:
            store.close()
            raise
        sweep(scratch_dir(path))
        return store

    def close(self) -> None:
        self._files.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def catalog(self, write: bool = False):
        """A short catalog connection (``Catalog.connect``)."""
        return self._catalog.connect(write)

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self) -> list[Dataset]:
        return self._catalog.datasets()

    def find(self, name: str) -> Dataset | None:
        return self._catalog.find(name)

    def dataset(self, name: str) -> Dataset:
        return self._catalog.dataset(name)

    def dataset_by_id(self, dataset_id: int) -> Dataset | None:
        return self._catalog.dataset_by_id(dataset_id)

    def drop(self, name: str, actor: str | None = None) -> None:
        """Delete a dataset with its follow-ups, settings and reviews in one catalog transaction;
        its files and its reviews' files go after."""
        found = self._catalog.find(name)
        reviews = self.reviews.files_of(found.id) if found else []
        for file in self._catalog.drop(name, actor):
            self._retire(file)
        self.reviews.discard(reviews)

    def rename(self, name: str, new_name: str, actor: str | None = None) -> Dataset:
        return self.dataset_by_id(self._catalog.rename(name, new_name, actor))

    def _retire(self, files: str | tuple | None) -> None:
        named = None
        for file in (files,) if isinstance(files, str) else (files or ()):
            if file:
                named = self._catalog.named_files() if named is None else named
                self._files.retire(file, named)

    # -- reading ----------------------------------------------------------------------------
    def cursor(self):
        """A DuckDB cursor of its own for one query (readers never share one); every current
        dataset's tables are visible by their internal names."""
        self._files.sync(self.datasets())
        return self._files.con.cursor()

    def table(self, dataset: Dataset | str):
        """The dataset's transactions as an Ibis table, on a cursor of its own."""
        return self._engines.table(self.dataset(dataset) if isinstance(dataset, str) else dataset)

    def orders(self, dataset: Dataset):
        return self._engines.orders(dataset)

    def attributes(self, dataset: Dataset):
        return self._engines.attributes(dataset)

    def receivables(self, dataset: Dataset):
        return self._engines.receivables(dataset)

    def costs(self, dataset: Dataset):
        return self._engines.costs(dataset)

    def rejected_rows(self, dataset: Dataset, limit: int | None = None, receivables: bool = False,
                      costs: bool = False):
        return self._engines.rejected_rows(dataset, limit, receivables, costs)

    # -- writing a new version --------------------------------------------------------------
    @staticmethod
    def staging_name() -> str:
        """A generated name for a table a load builds in its staging file."""
        return f"stg_{uuid.uuid4().hex[:12]}"

    @contextmanager
    def staging(self, kind: str = "tx"):
        """A new version file for one load and a cursor writing into it (``Files.staging``)."""
        with self._files.staging(kind, self.datasets()) as staged:
            yield staged

    def staged(self, stage: Staging, table: str):
        return self._engines.staged(stage, table)

    def staged_totals(self, stage: Staging, table: str) -> dict:
        return self._files.staged_totals(stage, table)

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
        files = self._files
        with files.lock:
            columns, rejected, order_facts = self._seal_lines(stage, tx_table, rejects, totals)
            values = dict(
                data_file=stage.path.name,
                source_file=meta.source_file, file_format=meta.file_format, encoding=meta.encoding,
                delimiter=meta.delimiter, mapping=json.dumps(meta.mapping, ensure_ascii=False),
                details=json.dumps({**meta.details, **order_facts}, ensure_ascii=False, default=str),
                columns=json.dumps(columns), rows=totals["rows"], rejected=rejected,
                customers=totals["customers"], revenue=totals["revenue"], date_min=iso_text(totals["date_min"]),
                date_max=iso_text(totals["date_max"]), engine="duckdb", source=None,
            )
            dataset_id, old_file = self._catalog.publish(name, values, replace, expected_version, actor, "upload",
                                                         file=meta.source_file, rows=totals["rows"], rejected=rejected)
            stage.published = True
        self._retire(old_file)
        return self.dataset_by_id(dataset_id)

    def customers_table(self, dataset: Dataset) -> str | None:
        """Where the distinct customers of ``dataset``'s current version are kept, as SQL a
        load's cursor can read ('"alias".main.customers…'), or None (a version loaded before
        they were kept: they are then counted from the lines)."""
        if dataset.engine != "duckdb" or not dataset.data_file:
            return None
        last = dataset.segments[-1]["file"] if dataset.segments else dataset.data_file
        alias = self._files.alias(last)
        name = "customers_all" if dataset.segments else "customers"
        return f'"{alias}".main.{name}' if self._files.has_table(alias, name) else None

    def lines_sql(self, dataset: Dataset, within: str | None = None) -> str:
        """SQL of ``dataset``'s lines as readers see them (``files.pieces_sql``), ``within`` a
        condition on each part's lines applied first (alias ``t``)."""
        from kam_analytics.store.files import pieces_sql

        if not dataset.segments:
            return f'SELECT * FROM "{dataset.table_name}" t' + (f" WHERE {within}" if within else "")
        aliases, parts = self._files.parts(dataset)
        return pieces_sql(aliases, parts, "tx", "order_id" in dataset.columns, within)

    def rejects_sql(self, dataset: Dataset, stage: Staging, files: list[str]) -> str:
        """SQL of ``dataset``'s refused rows with those of a staged load of ``files`` (its table
        named ``rej``) after them, as readers of pieces count them (``files.rejects_sql``)."""
        from kam_analytics.store.files import rejects_sql

        aliases, parts = self._files.parts(dataset)
        return rejects_sql(aliases + [stage.alias], parts + [{"files": files}])

    def show(self, dataset: Dataset) -> None:
        """Make ``dataset``'s views visible to this process's cursors (a load's staging one too)."""
        self._files.show([dataset])

    def append_piece(self, before: Dataset, stage: Staging, tx_table: str, rejects: str | None, meta: DatasetMeta,
                     overlap: str, report: dict, totals: dict, actor: str | None = None) -> Dataset:
        """Publish the staged lines as a piece appended to ``before`` (``ingest.append``): its
        file holds the lines, refused rows, order table and what it replaces; the catalog
        names the base file and every piece, and the new version's counts and dates are those
        of all of them as readers see them (``totals``: worked out by the append in one pass,
        ``ingest.append.totals_after``). Refused when another change published since
        ``before`` (nothing changes)."""
        files = self._files
        with files.lock:
            piece_rows = files.staged_totals(stage, tx_table)["rows"]
            columns = files.columns(stage, tx_table)
            if not rejects:
                files.count_or_create_rejects(stage, None)
                rejects = None
            facts = files.build_orders(stage, tx_table, columns, piece_rows)
            files.rename_staged(stage, {tx_table: "tx", rejects: "rej"})
            piece = {"file": stage.path.name, "rule": overlap, "rows": piece_rows, "orders": bool(facts.get("order_table")),
                     "files": meta.details.get("source_files") or [meta.source_file]}
            rejected = files.pieces_rejected(before, stage, piece)
            files.seal(stage, {})
            details = {k: v for k, v in before.details.items() if k not in ("single_line_orders", "single_row_orders")}
            keyed = "order_id" in columns
            if (overlap == "orders" and keyed) or (overlap == "days" and not keyed):
                # each order is in one part: the union is one line (row) per order when each part is
                for fact in ("single_line_orders", "single_row_orders"):
                    mine = facts.get(fact if piece["orders"] else "single_line_orders")
                    if before.details.get(fact) is not None and mine is not None:
                        details[fact] = bool(before.details[fact] and mine)
            details.update(segments=[*before.segments, piece], base_rows=before.details.get("base_rows", before.rows),
                           last_append=report)
            values = dict(details=json.dumps(details, ensure_ascii=False, default=str), rows=totals["rows"],
                          rejected=rejected, customers=totals["customers"], revenue=totals["revenue"],
                          date_min=iso_text(totals["date_min"]), date_max=iso_text(totals["date_max"]))
            self._catalog.append(before.id, values, before.version, actor, files=piece["files"], **report)
            stage.published = True
        return self.dataset_by_id(before.id)

    def commit_compacted(self, before: Dataset, stage: Staging, tx_table: str, rejects: str, meta: DatasetMeta,
                         totals: dict, report: dict, actor: str | None = None) -> Dataset:
        """Publish a staged load holding the whole dataset (an append that compacted it,
        ``ingest.append.compact``) as ``before``'s next version: one base file, no pieces,
        everything attached kept; the old files go after."""
        files = self._files
        with files.lock:
            columns, rejected, facts = self._seal_lines(stage, tx_table, rejects, totals)
            details = {**meta.details, **facts, "last_append": report}
            values = dict(data_file=stage.path.name, details=json.dumps(details, ensure_ascii=False, default=str),
                          columns=json.dumps(columns), rows=totals["rows"], rejected=rejected,
                          customers=totals["customers"], revenue=totals["revenue"],
                          date_min=iso_text(totals["date_min"]), date_max=iso_text(totals["date_max"]))
            self._catalog.append(before.id, values, before.version, actor, files=meta.details.get("source_files"),
                                 **report)
            stage.published = True
        self._retire(tuple(f for f in (before.data_file, *(p["file"] for p in before.segments))))
        return self.dataset_by_id(before.id)

    def _seal_lines(self, stage: Staging, tx_table: str, rejects: str | None, totals: dict) -> tuple[list, int, dict]:
        """Finish a staged file of lines: its columns, its rejected rows counted (an empty
        table made when there are none), its order table (``Files.build_orders``: the facts the
        catalog keeps), the tables given their published names and the file closed."""
        files = self._files
        columns = files.columns(stage, tx_table)
        rejected = files.count_or_create_rejects(stage, rejects)
        facts = files.build_orders(stage, tx_table, columns, totals["rows"])
        files.seal(stage, {tx_table: "tx", rejects: "rej"})
        return columns, rejected, facts

    def commit_attached(self, name: str, engine: str, source: dict, columns: list[str], totals: dict, rejected: int,
                        details: dict, replace: bool = False, expected_version: int | None = None,
                        actor: str | None = None) -> Dataset:
        """Register an attached table (``ingest.attach``) as dataset ``name`` in one catalog
        transaction; the same rules as ``commit_dataset`` for an existing name and for a load
        that another one overtook."""
        values = dict(
            data_file="", source_file=source["table"], file_format=engine, encoding=None, delimiter=None,
            mapping=json.dumps(source["mapping"], ensure_ascii=False),
            details=json.dumps(details, ensure_ascii=False, default=str), columns=json.dumps(columns),
            rows=totals["rows"], rejected=rejected, customers=totals["customers"], revenue=totals["revenue"],
            date_min=iso_text(totals["date_min"]), date_max=iso_text(totals["date_max"]), engine=engine,
            source=json.dumps(source, ensure_ascii=False),
        )
        dataset_id, old_file = self._catalog.publish(name, values, replace, expected_version, actor, "attach",
                                                     engine=engine, table=source["table"], rows=totals["rows"],
                                                     rejected=rejected)
        self._retire(old_file)
        return self.dataset_by_id(dataset_id)

    def set_attributes(self, dataset: Dataset, stage: Staging, table: str, actor: str | None = None,
                       **detail) -> Dataset:
        """Publish a staged attributes table for ``dataset`` (replacing any previous one);
        ``detail`` (the file, its rows) goes to the audit entry."""
        self._files.seal(stage, {table: "attr"})
        old_file = self._catalog.attach_file(dataset, "attributes", stage.path.name, actor, **detail)
        stage.published = True
        self._retire(old_file)
        return self.dataset_by_id(dataset.id)

    def set_receivables(self, dataset: Dataset, stage: Staging, table: str, rejects: str, details: dict,
                        actor: str | None = None) -> Dataset:
        """Publish a staged receivables load for ``dataset`` (its invoice lines ``table`` and
        refused rows ``rejects``), replacing any previous one, in one catalog transaction."""
        return self._set_file("receivables", "recv", dataset, stage, table, rejects, details, actor)

    def set_costs(self, dataset: Dataset, stage: Staging, table: str, rejects: str, details: dict,
                  actor: str | None = None) -> Dataset:
        """Publish a staged costs load for ``dataset`` (its cost rows ``table`` and refused rows
        ``rejects``), replacing any previous one, in one catalog transaction."""
        return self._set_file("costs", "cost", dataset, stage, table, rejects, details, actor)

    def _set_file(self, kind: str, table_kind: str, dataset: Dataset, stage: Staging, table: str, rejects: str,
                  details: dict, actor: str | None) -> Dataset:
        self._files.seal(stage, {table: table_kind, rejects: "rej"})
        old_file = self._catalog.attach_file(
            dataset, kind, stage.path.name, actor,
            extra={f"{kind}_details": json.dumps(details, ensure_ascii=False, default=str)},
            file=details.get("source_file"), rows=details.get("rows"), rejected=details.get("rejected"))
        stage.published = True
        self._retire(old_file)
        return self.dataset_by_id(dataset.id)

    # -- follow-ups, settings, the audit trail (the catalog's) ------------------------------
    def add_followup(self, dataset: Dataset, customer_id: str, status: str, note: str = "",
                     owner: str | None = None) -> None:
        self._catalog.add_followup(dataset, customer_id, status, note, owner)

    def followups(self, dataset: Dataset, customer_id: str | None = None):
        return self._catalog.followups(dataset, customer_id)

    def followups_stamp(self, dataset: Dataset) -> tuple[int, int]:
        return self._catalog.followups_stamp(dataset)

    def latest_statuses(self, dataset: Dataset) -> dict[str, str]:
        return self._catalog.latest_statuses(dataset)

    def get_setting(self, dataset: Dataset, key: str, default=None):
        return self._catalog.get_setting(dataset, key, default)

    def set_setting(self, dataset: Dataset, key: str, value, actor: str | None = None) -> None:
        """Save a setting of the dataset (written to the audit trail)."""
        self._catalog.set_setting(dataset, key, value, actor)

    def table_setting(self, dataset: Dataset, name: str, default=None):
        """A fact remembered about the dataset's current table (e.g. a property checked once).
        Stored as '<name>:<table>', so a replace, which loads a new table, starts afresh and
        drops what was remembered about the old one."""
        return self.get_setting(dataset, f"{name}:{dataset.table_name}", default)

    def set_table_setting(self, dataset: Dataset, name: str, value) -> None:
        """(A fact about the data, not a user's setting: not audited.)"""
        self._catalog.set_setting(dataset, f"{name}:{dataset.table_name}", value, audited=False)

    def record(self, actor: str | None, action: str, dataset: str | None = None, **detail) -> None:
        """Append an audit entry that goes with no change of the store (a sign-in)."""
        self._catalog.record(actor, action, dataset, **detail)

    def record_once(self, actor: str | None, action: str, dataset: str | None = None, **detail) -> bool:
        """Append an audit entry unless an identical one is there (a sign-in seen again)."""
        return self._catalog.record_once(actor, action, dataset, **detail)

    def audit_trail(self, limit: int | None = None):
        return self._catalog.audit_trail(limit)
