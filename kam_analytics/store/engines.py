"""A dataset version as Ibis tables on the engine that reads it: a loaded dataset's views over
its version file in this process's DuckDB (``Files``), an attached dataset's table on Spark
(``kam_analytics.spark``), read as canonical lines (``ingest.canonical``).

An attached dataset's expression is built once per version (reading happens per query) and
its attributes (one row per customer) are copied to its engine once per version."""
from __future__ import annotations

import hashlib
import json
import threading

from kam_analytics.store.files import Files
from kam_analytics.store.records import Dataset, Staging, check_internal

ATTACHED_KEPT = 32  # attached expressions (and attribute tables) kept per process; the oldest go first
_attached: dict[tuple, object] = {}
_lock = threading.Lock()


def _attached_key(dataset: Dataset, *what) -> tuple:
    """A dataset version as the cache knows it: with its source, so two stores in one process
    (or a dataset deleted and made again) never share an entry."""
    return (dataset.id, dataset.version, json.dumps(dataset.source, sort_keys=True), *what)


def _remember(key: tuple, table) -> None:
    with _lock:
        _attached[key] = table
        while len(_attached) > ATTACHED_KEPT:
            _attached.pop(next(iter(_attached)))


def attached(dataset: Dataset):
    """The lines of an attached dataset as an Ibis table on its engine."""
    from kam_analytics.ingest.canonical import attached_table
    from kam_analytics.spark import backend_for

    key = _attached_key(dataset)
    with _lock:
        table = _attached.get(key)
    if table is None:
        table = attached_table(backend_for(dataset.engine), dataset.source)
        _remember(key, table)
    return table


def attached_attributes(dataset: Dataset, local):
    """The per-customer attributes of an attached dataset, copied to its engine once per
    version. ``local``: the DuckDB table."""
    from kam_analytics.spark import backend_for

    key = _attached_key(dataset, "attributes")
    with _lock:
        table = _attached.get(key)
    if table is None:
        backend = backend_for(dataset.engine)
        name = f"kam_attributes_{hashlib.sha1(repr(key).encode()).hexdigest()[:16]}"
        table = backend.create_table(name, local.to_pyarrow(), temp=True, overwrite=True)
        _remember(key, table)
    return table


def attached_rejects(dataset: Dataset, limit: int | None = None):
    """The lines an attached dataset leaves out, with the reason, as a DataFrame."""
    from kam_analytics.ingest.canonical import attached_rejects as rejects
    from kam_analytics.spark import backend_for

    return rejects(backend_for(dataset.engine), dataset.source, limit)


class Engines:
    """The tables of the versions ``files`` holds, as Ibis tables."""

    def __init__(self, files: Files):
        self.files = files

    def view(self, dataset: Dataset, view: str):
        """A view of ``dataset`` as an Ibis table on a cursor of its own; only that version is
        made visible (the caller already read it from the catalog: no second catalog read)."""
        import ibis

        self.files.show([dataset])
        return ibis.duckdb.from_connection(self.files.con.cursor()).table(check_internal(view))

    def table(self, dataset: Dataset):
        """The dataset's transactions (an attached dataset: on its engine, ``attached``)."""
        if dataset.engine != "duckdb":
            return attached(dataset)
        return self.view(dataset, dataset.table_name)

    def orders(self, dataset: Dataset):
        """The dataset's lines summed per order (``Files.build_orders``), or None (no such
        table: an attached dataset, or a load where it would not be much smaller)."""
        if dataset.engine != "duckdb" or not dataset.orders_table:
            return None
        return self.view(dataset, dataset.orders_table)

    def attributes(self, dataset: Dataset):
        """The per-customer attributes table, or None (for an attached dataset, a copy on its
        engine: attributes are one row per customer)."""
        if not dataset.attributes_table:
            return None
        local = self.view(dataset, dataset.attributes_table)
        return attached_attributes(dataset, local) if dataset.engine != "duckdb" else local

    def receivables(self, dataset: Dataset):
        """The receivables file's invoice lines (the columns of transactions: customer_id,
        order_id, order_date, due_date, amount, paid_date, paid_amount …), or None."""
        if not dataset.receivables_table:
            return None
        return self.view(dataset, dataset.receivables_table)

    def staged(self, stage: Staging, table: str):
        """A table of a staging file (loaded, not yet published)."""
        import ibis

        return ibis.duckdb.from_connection(self.files.con.cursor()).table(
            check_internal(table), database=(stage.alias, "main"))

    def costs(self, dataset: Dataset):
        """The costs file's rows (``ingest.costs``: order_date, amount, cost_type and the
        customer_id or dimension values each names), or None."""
        if not dataset.costs_table:
            return None
        return self.view(dataset, dataset.costs_table)

    def rejected_rows(self, dataset: Dataset, limit: int | None = None, receivables: bool = False,
                      costs: bool = False):
        """The rows an ingest refused, as a DataFrame (row number, reason, the raw cells under
        the file's headers; for an attached dataset: the reason and the mapped columns of the
        lines left out). With ``receivables`` / ``costs``: the rows that file refused."""
        if receivables:
            frame = self.files.rows(dataset, dataset.receivables_rejects, limit)
            headers = dataset.receivables_details.get("headers", [])
        elif costs:
            frame = self.files.rows(dataset, dataset.costs_rejects, limit)
            headers = dataset.costs_details.get("headers", [])
        elif dataset.engine != "duckdb":
            return attached_rejects(dataset, limit)
        else:
            frame = self.files.rows(dataset, dataset.rejects_table, limit)
            headers = dataset.details.get("headers", [])
        return frame.rename(columns={f"c{i}": h for i, h in enumerate(headers)})
