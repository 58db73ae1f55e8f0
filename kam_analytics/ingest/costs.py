"""A file of costs to serve attached to a dataset (日期/金额/费用类型 and 客户编号 or 区域/负责人/
渠道 …; date, amount, cost type and a customer id or a region, owner, channel …): read by the
same rules as every other file — formats, refusals, rejected rows with their reasons, rows that
add up — and kept beside the dataset's transactions the way receivables are.

What a row is for:

* a row with a customer id is a **direct cost** of that customer; the customer must have
  transactions in the dataset, else the row is refused (``cost_customer_unknown``);
* a row without a customer id but with dimension values (region, owner, channel, industry,
  segment, category) is a **shared cost** of the customers of those values (spread when the
  P&L is computed, ``analytics.costs``); each value must occur in that column of the dataset's
  transactions, else the row is refused (``cost_value_unknown``);
* a row naming neither is refused (``cost_target_missing``), as are rows without a date or an
  amount, by the rules of every file.

A row without a cost type gets none (the P&L shows it as "other"). Amounts are taken as they
are: a negative one (a refund of a cost, a rebate clawed back) lowers the cost.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from kam_analytics.errors import IngestError, ReasonCounts
from kam_analytics.ingest.load import Rules, _load_rows, _reject_examples
from kam_analytics.schema import COST_COLUMNS, COST_DIMENSIONS, cost_synonyms
from kam_analytics.store import Dataset, Store

COST_RULES = Rules(columns=COST_COLUMNS, required=("order_date",), who=("customer_id", *COST_DIMENSIONS),
                   missing_reason="cost_target_missing", synonyms=cost_synonyms(), numbered=True)
STORED = ("order_date", "amount", "cost_type", "customer_id", "customer_name", *COST_DIMENSIONS)


@dataclass
class CostsReport:
    """What a costs upload did: rows (data rows loaded), rejected (refused, by reason),
    direct_rows / shared_rows (rows for a customer / for dimension values), customers (with a
    direct cost), cost_types (the types named, most costly first), total (Σ amount loaded),
    dimensions (the dimension columns shared costs name)."""

    dataset: str
    source_file: str
    rows: int
    rejected: int
    rejected_reasons: dict[str, int]
    direct_rows: int
    shared_rows: int
    customers: int
    cost_types: list[str]
    total: float
    dimensions: list[str]
    mapping: dict[str, str]
    encoding: str | None
    date_min: str | None = None
    date_max: str | None = None
    replaced: bool = False
    date_formats: dict[str, str] = field(default_factory=dict)
    rejected_examples: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _known_values(store: Store, con, dataset: Dataset, column: str) -> str:
    """A SQL relation (one column ``v``) of the distinct values of ``column`` in ``dataset``'s
    transactions, readable by the staging cursor ``con``."""
    if dataset.engine == "duckdb":
        return f'(SELECT DISTINCT {column} AS v FROM "{dataset.table_name}")'
    values = store.table(dataset).select(column).distinct().to_pandas()[column].astype("string")
    name = f"_kam_known_{column}"
    con.register(name, pd.DataFrame({"v": values}))
    return f'"{name}"'


def ingest_costs(store: Store, dataset: Dataset, path: str | Path, mapping: dict[str, str] | None = None,
                 sheet: str | None = None, date_format: str | None = None, replace: bool = False,
                 actor: str | None = None, progress: Callable[[float, str], None] | None = None) -> CostsReport:
    """Attach the costs file ``path`` to ``dataset``. Refused (store unchanged) when costs are
    attached already and ``replace`` is not given, or when the file cannot be used: no date or
    amount column, neither a customer nor a dimension column, no usable row …"""
    path = Path(path)
    step = progress or (lambda fraction, key: None)
    if dataset.costs_file and not replace:
        raise IngestError("costs_exist", dataset=dataset.name)
    temp_files: list[Path] = []
    with store.staging("cost") as (stage, con):
        raw_table = None
        try:
            done = _load_rows(store, con, path, mapping, sheet, date_format, step, temp_files,
                              required=COST_RULES.required, rules=COST_RULES)
            raw_table = done.raw.table
            columns = [r[0] for r in con.execute(f'DESCRIBE "{done.tx_table}"').fetchall()]
            unusable = [d for d in COST_DIMENSIONS if d in columns and d not in dataset.columns]
            if unusable and "customer_id" not in columns and len(unusable) == len(
                    [d for d in COST_DIMENSIONS if d in columns]):
                raise IngestError("costs_dimensions_unknown", file=path.name, dataset=dataset.name,
                                  columns=", ".join(done.chosen[d] for d in unusable))
            checks = []
            if "customer_id" in columns:
                checks.append(f"""WHEN customer_id IS NOT NULL AND customer_id NOT IN
                    (SELECT v FROM {_known_values(store, con, dataset, 'customer_id')}) THEN 'cost_customer_unknown'""")
            for d in (d for d in COST_DIMENSIONS if d in columns):
                direct = "customer_id IS NULL AND " if "customer_id" in columns else ""
                if d in dataset.columns:
                    known = f"{d} NOT IN (SELECT v FROM {_known_values(store, con, dataset, d)} WHERE v IS NOT NULL)"
                else:
                    known = "true"
                checks.append(f"WHEN {direct}{d} IS NOT NULL AND {known} THEN 'cost_value_unknown'")
            bad = store.staging_name()
            con.execute(f"""CREATE TEMP TABLE "{bad}" AS SELECT _row, reason FROM (
                SELECT _row, CASE {' '.join(checks)} END AS reason FROM "{done.tx_table}") WHERE reason IS NOT NULL""")
            cells = ", ".join(done.raw.columns)
            con.execute(f"""INSERT INTO "{done.rej_table}" SELECT b._row AS "row", b.reason, {cells}
                FROM (SELECT {done.raw.row_number_sql()} AS _row, {cells} FROM "{raw_table}") r
                JOIN "{bad}" b USING (_row)""")
            con.execute(f'DELETE FROM "{done.tx_table}" WHERE _row IN (SELECT _row FROM "{bad}")')
            con.execute(f'DROP TABLE "{bad}"')
            reasons = dict(con.execute(f'SELECT reason, count(*) FROM "{done.rej_table}" GROUP BY reason '
                                       'ORDER BY count(*) DESC, reason').fetchall())
            keep = [c for c in STORED if c in columns]
            lines = store.staging_name()
            con.execute(f'CREATE TABLE "{lines}" AS SELECT {", ".join(keep)} FROM "{done.tx_table}" ORDER BY _row')
            con.execute(f'DROP TABLE "{done.tx_table}"')
            who = "customer_id IS NOT NULL" if "customer_id" in columns else "false"
            kind = "cost_type" if "cost_type" in columns else "NULL"
            rows, direct, customers, total, first, last = con.execute(
                f"""SELECT count(*), count(*) FILTER (WHERE {who}),
                           {'count(DISTINCT customer_id)' if 'customer_id' in columns else '0'},
                           sum(CAST(amount AS DOUBLE)), min(order_date), max(order_date) FROM "{lines}" """).fetchone()
            if rows == 0:
                raise IngestError("no_usable_rows", file=path.name, reasons=ReasonCounts(reasons))
            types = [r[0] for r in con.execute(
                f"""SELECT {kind} AS k FROM "{lines}" WHERE {kind} IS NOT NULL GROUP BY k
                    ORDER BY sum(CAST(amount AS DOUBLE)) DESC, k""").fetchall()]
            shared_dims = [d for d in COST_DIMENSIONS if d in columns and con.execute(
                f'SELECT count(*) FROM "{lines}" WHERE NOT ({who}) AND {d} IS NOT NULL').fetchone()[0]]
            report = CostsReport(
                dataset=dataset.name, source_file=path.name, rows=int(rows), rejected=sum(reasons.values()),
                rejected_reasons=reasons, direct_rows=int(direct), shared_rows=int(rows - direct),
                customers=int(customers), cost_types=types, total=round(float(total or 0.0), 2),
                dimensions=shared_dims, mapping=done.chosen, encoding=done.raw.encoding,
                date_min=str(first)[:10] if first is not None else None,
                date_max=str(last)[:10] if last is not None else None, replaced=bool(dataset.costs_file),
                date_formats=done.plan.date_formats, rejected_examples=_reject_examples(con, done.rej_table, done.raw))
            con.execute(f'DROP TABLE IF EXISTS "{raw_table}"')
            raw_table = None
            step(0.95, "progress_saving")
            details = {k: v for k, v in report.to_json().items() if k != "rejected_examples"}
            store.set_costs(dataset, stage, lines, done.rej_table, {**details, "headers": done.raw.headers},
                            actor=actor)
        finally:
            if raw_table is not None and not stage.published:
                con.execute(f'DROP TABLE IF EXISTS "{raw_table}"')
            for temp in temp_files:
                temp.unlink(missing_ok=True)
    step(1.0, "progress_done")
    return report


def costs_report_lines(report: CostsReport, lang: str) -> list[str]:
    """The sentences of a costs upload, for the Data page and the ``costs-file`` command alike:
    what was attached (direct and shared rows, types, total, dates) and the rows refused."""
    from kam_analytics.i18n import format_count, format_exact, join_list, t

    lines = [t("costs_loaded", lang, file=report.source_file, rows=format_count(report.rows),
               direct=format_count(report.direct_rows), customers=format_count(report.customers),
               shared=format_count(report.shared_rows), total=format_exact(report.total),
               start=report.date_min or "—", end=report.date_max or "—")]
    if report.cost_types:
        lines.append(t("costs_types", lang, types=join_list(report.cost_types, lang)))
    if report.dimensions:
        lines.append(t("costs_shared_by", lang, fields=join_list([t(f"field_{d}", lang) for d in report.dimensions], lang)))
    if report.rejected:
        lines.append(t("cli_rejected", lang, rejected=report.rejected, reasons=join_list(
            [f"{t('reject_' + k, lang)}: {format_count(v)}" for k, v in report.rejected_reasons.items()], lang)))
    return lines
