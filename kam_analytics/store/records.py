"""What the store hands out: a dataset at one version (``Dataset``), what a load tells the
catalog about it (``DatasetMeta``), a file being written (``Staging``), and the few rules every
part of the store shares (internal names, ISO text)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

FORMAT_VERSION = 2  # 1: one DuckDB file holding everything (opened read-write by one process)
FOLLOWUP_STATUSES = ("new", "contacted", "recovering", "lost", "dismissed")
_INTERNAL = re.compile(r"^(tx|rej|ord|attr|recv|rrej|cost|crej|stg)_[0-9a-z_]+$")


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
    # a file of costs to serve attached to the dataset (``ingest.costs``): its cost rows, the
    # rows it refused, and what its load reported
    costs_table: str | None = None
    costs_rejects: str | None = None
    costs_file: str | None = None
    costs_details: dict = field(default_factory=dict)

    def has(self, column: str) -> bool:
        return column in self.columns

    @property
    def segments(self) -> tuple[dict, ...]:
        """The pieces appended to the base file of lines, oldest first (``ingest.append``):
        {"file", "rule" ('orders', 'days' or 'none'), "files" (the source files' names),
        "orders" (whether it has an order table)}. Empty for a dataset loaded in one go."""
        return tuple(self.details.get("segments") or ())

    @property
    def files(self) -> tuple[str, ...]:
        """The files this version reads (lines and their appended pieces, attributes,
        receivables, costs), those it has."""
        return tuple(f for f in (self.data_file, *(s["file"] for s in self.segments), self.attributes_file,
                                 self.receivables_file, self.costs_file) if f)


def dataset_from_row(row: dict) -> Dataset:
    """A catalog row of ``datasets`` as a ``Dataset``: the internal table names are made from
    the row's numbers, never from its text."""
    number, attrs = row["number"], row["attributes_number"]
    details = json.loads(row["details"] or "{}")
    receivables = row.get("receivables_number") if row.get("receivables_file") else None
    costs = row.get("costs_number") if row.get("costs_file") else None
    return Dataset(
        id=row["id"], name=row["name"], table_name=f"tx_{number:04d}", rejects_table=f"rej_{number:04d}",
        orders_table=f"ord_{number:04d}" if details.get("order_table") else None,
        attributes_table=f"attr_{attrs:04d}" if row["attributes_file"] else None,
        source_file=row["source_file"], file_format=row["file_format"], encoding=row["encoding"],
        delimiter=row["delimiter"], mapping=json.loads(row["mapping"] or "{}"),
        details=details, columns=json.loads(row["columns"] or "[]"),
        rows=int(row["rows"] or 0), rejected=int(row["rejected"] or 0),
        customers=int(row["customers"] or 0), revenue=float(row["revenue"] or 0.0),
        date_min=_when(row["date_min"]), date_max=_when(row["date_max"]), created_at=_when(row["created_at"]),
        version=int(row["version"]), data_file=row["data_file"], attributes_file=row["attributes_file"],
        updated_at=_when(row["updated_at"]) or _when(row["created_at"]),
        engine=row.get("engine") or "duckdb", source=json.loads(row.get("source") or "{}"),
        receivables_table=f"recv_{receivables:04d}" if receivables is not None else None,
        receivables_rejects=f"rrej_{receivables:04d}" if receivables is not None else None,
        receivables_file=row.get("receivables_file"),
        receivables_details=json.loads(row.get("receivables_details") or "{}"),
        costs_table=f"cost_{costs:04d}" if costs is not None else None,
        costs_rejects=f"crej_{costs:04d}" if costs is not None else None,
        costs_file=row.get("costs_file"), costs_details=json.loads(row.get("costs_details") or "{}"),
    )


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
    kind: str  # 'tx', 'attr' or 'recv'
    published: bool = False


def check_internal(name: str) -> str:
    """``name`` when it is an internal table name (``tx_0001``, ``stg_…``); internal names are
    generated, but this asserts it: they are the only text ever spliced into SQL."""
    if not _INTERNAL.match(name):
        raise ValueError(f"not an internal table name: {name!r}")
    return name


def sql_literal(path: Path) -> str:
    """A file path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


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
