"""Per-customer attributes: a second upload (owner, industry, credit rating, industry
influence …) joined on customer_id — the qualitative criteria of the key-account scorecard.

The same reading and parsing as transactions; one row per customer is kept (the first in
the file), and the attributes table replaces any previous one atomically.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from kam_analytics.errors import IngestError
from kam_analytics.ingest import parse
from kam_analytics.ingest.load import resolve_mapping
from kam_analytics.ingest.read import read_raw
from kam_analytics.schema import ATTRIBUTE_COLUMNS
from kam_analytics.store import Dataset, Store


@dataclass
class AttributesReport:
    """What an attributes upload did.

    rows: data rows in the file; customers: distinct customer ids kept; duplicates: rows
    dropped because their customer already appeared higher up; matched: customers that also
    appear in the dataset's transactions; missing_id: rows without a customer id (skipped).
    """

    dataset: str
    rows: int
    customers: int
    duplicates: int
    missing_id: int
    matched: int
    mapping: dict[str, str]
    encoding: str | None

    def to_json(self) -> dict:
        return asdict(self)


def attributes_report_lines(report: AttributesReport, lang: str) -> list[str]:
    """The sentences of an attributes upload, for the Data page and the ``attributes`` command
    alike: what was attached, and the rows that were not (no customer id; a repeated customer)."""
    from kam_analytics.i18n import format_count, join_list, t

    lines = [t("attributes_loaded", lang, customers=format_count(report.customers),
               matched=format_count(report.matched), duplicates=format_count(report.duplicates),
               fields=join_list([t(f"field_{c}", lang) for c in report.mapping if c != "customer_id"], lang))]
    if report.missing_id:
        lines.append(t("attributes_missing_id", lang, rows=format_count(report.missing_id)))
    return lines


def matched_customers(store: Store, con, dataset: Dataset, staged: str) -> int:
    """How many distinct customers of the staged table ``staged`` also have transactions in
    ``dataset`` (on its engine: an attached dataset's customer ids come back, one row each)."""
    if dataset.engine == "duckdb":
        return int(con.execute(
            f'SELECT count(DISTINCT customer_id) FROM "{staged}" a WHERE EXISTS '
            f'(SELECT 1 FROM "{dataset.table_name}" t WHERE t.customer_id = a.customer_id)').fetchone()[0])
    ids = store.table(dataset).select("customer_id").distinct().to_pandas()["customer_id"]
    ours = con.execute(f'SELECT DISTINCT customer_id FROM "{staged}"').df()["customer_id"]
    return int(ours.isin(ids).sum())


def ingest_attributes(store: Store, dataset: Dataset, path: str | Path, mapping: dict[str, str] | None = None,
                      sheet: str | None = None, actor: str | None = None, check=None) -> AttributesReport:
    """Attach the attributes in ``path`` to ``dataset``. Raises IngestError (store unchanged)
    when the file has no customer id column or no attribute column besides it. ``check``:
    called as ``check(con, table, file_name)`` with the staged attributes (one row per customer)
    before anything is published; what it raises refuses the file (the service's scope rule)."""
    path = Path(path)
    with store.staging("attr") as (stage, con):
        raw_table, staging = store.staging_name(), store.staging_name()
        try:
            raw = read_raw(con, path, raw_table, sheet=sheet, tmp_dir=store.path.parent / "tmp")
            chosen = resolve_mapping(raw.headers, mapping, ATTRIBUTE_COLUMNS)
            if "customer_id" not in chosen:
                raise IngestError("attributes_no_customer", file=path.name, headers=", ".join(raw.headers))
            attributes = [c for c in chosen if c != "customer_id" and chosen[c] != chosen["customer_id"]]
            if not attributes:
                raise IngestError("attributes_none", file=path.name, headers=", ".join(raw.headers))
            col = {c: raw.columns[raw.headers.index(h)] for c, h in chosen.items()}
            where = f"rowid > {raw.header_rowid}"
            numeric = [col[c] for c in attributes if ATTRIBUTE_COLUMNS[c][1] == "number"]
            styles = parse.infer_number_styles(con, raw_table, numeric, raw.delimiter, where=where)
            exprs = [f"{parse.id_sql(col['customer_id'])} AS customer_id"]
            for name in attributes:
                kind = ATTRIBUTE_COLUMNS[name][1]
                sql = parse.number_sql(col[name], styles[col[name]]) if kind == "number" else parse.text_sql(col[name])
                exprs.append(f"{sql} AS {name}")
            con.execute(f"""CREATE TEMP TABLE _kam_attr_rows AS
                SELECT rowid AS _row, {", ".join(exprs)} FROM "{raw_table}" WHERE {where}""")
            try:
                rows, missing = con.execute(
                    "SELECT count(*), count(*) FILTER (WHERE customer_id IS NULL) FROM _kam_attr_rows").fetchone()
                if rows - missing == 0:
                    raise IngestError("file_header_only", file=path.name)
                con.execute(f"""CREATE TABLE "{staging}" AS SELECT * EXCLUDE (_row) FROM _kam_attr_rows
                    WHERE customer_id IS NOT NULL
                    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY _row) = 1""")
            finally:
                con.execute("DROP TABLE IF EXISTS _kam_attr_rows")
            customers = con.execute(f'SELECT count(*) FROM "{staging}"').fetchone()[0]
            matched = matched_customers(store, con, dataset, staging)
            con.execute(f'DROP TABLE IF EXISTS "{raw_table}"')
            if check is not None:
                check(con, staging, path.name)
            store.set_attributes(dataset, stage, staging, actor=actor, file=path.name, rows=int(rows),
                                 customers=int(customers))
        finally:
            if not stage.published:  # (a TEMP table of this cursor, which closes with the staging)
                con.execute(f'DROP TABLE IF EXISTS "{raw_table}"')
    return AttributesReport(dataset=dataset.name, rows=int(rows), customers=int(customers),
                            duplicates=int(rows - missing - customers), missing_id=int(missing),
                            matched=int(matched), mapping=chosen, encoding=raw.encoding)
