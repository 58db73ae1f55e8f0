"""An accounts-receivable export attached to a dataset (客户编号/发票号/开票日期/到期日/应收金额/
已收金额/收款日期 or customer, invoice number, invoice date, due date, amount, amount received,
received date): read by the same rules as a transactions file — formats, refusals, rejected
rows with their reasons, rows that add up — and kept beside the dataset's transactions the way
customer attributes are.

How rows become invoices and payments:

* the rows of one invoice are those with the same customer and invoice number (a row without
  an invoice number is an invoice of its own); its invoice date and due date are the earliest
  on its rows, its amount the largest (an export repeats the invoice amount on every payment
  row); a row without a due date makes the invoice due on its invoice date (due on receipt);
* each row with a received date is a payment of its received amount on that date; a received
  date without an amount pays whatever the invoice's other payments left (once);
* a received amount without a date cannot be placed in time and counts as not received.

The stored lines have the transactions' columns (customer_id, order_id = the invoice number,
order_date = the invoice date, due_date, amount, paid_date, paid_amount, and the name and
dimensions the file has): one line per payment, plus one for what is left unpaid (negative
when overpaid or a credit note), so every figure of ``analytics.receivables`` reads them as it
reads transactions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from kam_analytics.ingest.attributes import matched_customers
from kam_analytics.ingest.load import _load_rows
from kam_analytics.schema import DIMENSIONS
from kam_analytics.store import Dataset, Store

CARRIED = ("customer_name", *DIMENSIONS)


@dataclass
class ReceivablesReport:
    """What a receivables upload did: rows (data rows loaded), rejected (refused, by reason),
    invoices, customers, matched (customers also in the dataset's transactions), undated_due
    (invoices without a due date, taken as due on their invoice date)."""

    dataset: str
    source_file: str
    rows: int
    rejected: int
    rejected_reasons: dict[str, int]
    invoices: int
    customers: int
    matched: int
    undated_due: int
    mapping: dict[str, str]
    encoding: str | None
    date_formats: dict[str, str] = field(default_factory=dict)
    rejected_examples: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _lines_sql(source: str, columns: list[str]) -> str:
    """The invoice lines (module docstring) from the canonical rows in ``source``."""
    carried = [c for c in CARRIED if c in columns]
    keep = "".join(f", any_value({c}) AS {c}" for c in carried)
    keep_out = "".join(f", i.{c}" for c in carried)
    invoice = "coalesce(CAST(order_id AS VARCHAR), '#' || _rn)" if "order_id" in columns else "'#' || _rn"
    due = "due_date" if "due_date" in columns else "CAST(NULL AS TIMESTAMP)"
    paid_date = "paid_date" if "paid_date" in columns else "CAST(NULL AS TIMESTAMP)"
    paid_amount = "CAST(paid_amount AS DOUBLE)" if "paid_amount" in columns else "CAST(NULL AS DOUBLE)"
    return f"""
    WITH r AS (SELECT *, row_number() OVER () AS _rn FROM "{source}"),
    k AS (SELECT *, {invoice} AS _inv, {due} AS _due, {paid_date} AS _paid, {paid_amount} AS _pamt FROM r),
    i AS (SELECT customer_id, _inv, min(order_date) AS order_date, min(_due) AS due_date,
                 max(CAST(amount AS DOUBLE)) AS amount{keep}
          FROM k GROUP BY customer_id, _inv),
    explicit AS (SELECT customer_id, _inv, _paid AS paid_date, _pamt AS paid FROM k
                 WHERE _paid IS NOT NULL AND _pamt IS NOT NULL),
    full_pay AS (SELECT customer_id, _inv, min(_paid) AS paid_date FROM k
                 WHERE _paid IS NOT NULL AND _pamt IS NULL GROUP BY customer_id, _inv),
    paid_sum AS (SELECT customer_id, _inv, sum(paid) AS paid FROM explicit GROUP BY customer_id, _inv),
    payments AS (
        SELECT customer_id, _inv, paid_date, paid FROM explicit
        UNION ALL
        SELECT f.customer_id, f._inv, f.paid_date, i.amount - coalesce(s.paid, 0) FROM full_pay f
        JOIN i USING (customer_id, _inv) LEFT JOIN paid_sum s USING (customer_id, _inv)
        WHERE i.amount - coalesce(s.paid, 0) > 0),
    totals AS (SELECT customer_id, _inv, sum(paid) AS paid FROM payments GROUP BY customer_id, _inv)
    SELECT i.customer_id, CASE WHEN starts_with(i._inv, '#') THEN NULL ELSE i._inv END AS order_id,
           i.order_date, coalesce(i.due_date, i.order_date) AS due_date, p.paid AS amount,
           p.paid_date, p.paid AS paid_amount{keep_out}
    FROM payments p JOIN i USING (customer_id, _inv)
    UNION ALL
    SELECT i.customer_id, CASE WHEN starts_with(i._inv, '#') THEN NULL ELSE i._inv END,
           i.order_date, coalesce(i.due_date, i.order_date), i.amount - coalesce(t.paid, 0),
           CAST(NULL AS TIMESTAMP), CAST(NULL AS DOUBLE){keep_out}
    FROM i LEFT JOIN totals t USING (customer_id, _inv)
    WHERE abs(i.amount - coalesce(t.paid, 0)) > 1e-9"""


def ingest_receivables(store: Store, dataset: Dataset, path: str | Path, mapping: dict[str, str] | None = None,
                       sheet: str | None = None, date_format: str | None = None, actor: str | None = None,
                       progress: Callable[[float, str], None] | None = None) -> ReceivablesReport:
    """Attach the receivables export ``path`` to ``dataset`` (replacing any earlier one).
    Raises IngestError (store unchanged) when the file cannot be used: no customer, invoice
    date or amount column, no usable row, an ambiguous date …"""
    path = Path(path)
    step = progress or (lambda fraction, key: None)
    temp_files: list[Path] = []
    with store.staging("recv") as (stage, con):
        try:
            done = _load_rows(store, con, path, mapping, sheet, date_format, step, temp_files)
            columns = [r[0] for r in con.execute(f'DESCRIBE "{done.tx_table}"').fetchall()]
            lines = store.staging_name()
            con.execute(f'CREATE TABLE "{lines}" AS {_lines_sql(done.tx_table, columns)}')
            invoice = "coalesce(CAST(order_id AS VARCHAR), CAST(rowid AS VARCHAR))" if "order_id" in columns else "rowid"
            due = "min(due_date)" if "due_date" in columns else "NULL"
            invoices, customers, undated = con.execute(
                f"""SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (WHERE due IS NULL) FROM (
                    SELECT customer_id, {invoice} AS inv, {due} AS due FROM "{done.tx_table}" GROUP BY ALL)""").fetchone()
            matched = matched_customers(store, con, dataset, done.tx_table)
            con.execute(f'DROP TABLE "{done.tx_table}"')  # only the lines and the refused rows are kept
            report = ReceivablesReport(
                dataset=dataset.name, source_file=path.name, rows=done.loaded, rejected=sum(done.reasons.values()),
                rejected_reasons=done.reasons, invoices=int(invoices), customers=int(customers), matched=int(matched),
                undated_due=int(undated), mapping=done.chosen, encoding=done.raw.encoding,
                date_formats=done.plan.date_formats, rejected_examples=done.examples)
            step(0.95, "progress_saving")
            details = {k: v for k, v in report.to_json().items() if k != "rejected_examples"}
            store.set_receivables(dataset, stage, lines, done.rej_table, {**details, "headers": done.raw.headers},
                                  actor=actor)
        finally:
            for temp in temp_files:
                temp.unlink(missing_ok=True)
    step(1.0, "progress_done")
    return report
