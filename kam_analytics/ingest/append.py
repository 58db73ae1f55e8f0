"""Appending to a dataset: new files' lines become a new version of an existing dataset,
replacing what they overlap — without copying the lines already stored.

The store keeps a dataset as a base file and appended pieces (``Dataset.segments``); a piece
holds its lines, the lines it refused, its order table and what it replaces: the order ids it
holds (rule 'orders') or the days it covers ('days'); rule 'none' replaces nothing. Readers
see the base and the pieces as one table (``store.files.pieces_sql``). When the pieces pile
up — more than ``MAX_PIECES``, or more lines in them than ``COMPACT_SHARE`` of the base — the
append writes the whole dataset into a new base instead (``compact``), as a replace would.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from kam_analytics.errors import FieldNames, IngestError
from kam_analytics.store import Dataset, DatasetMeta, Store

OVERLAPS = ("orders", "days", "none")
MAX_PIECES = 8        # appended pieces a dataset keeps before the next append compacts it
COMPACT_SHARE = 0.5   # …or when the pieces' lines pass this share of the base's


@dataclass
class AppendReport:
    """What an append did (``ingest --append --json`` under "append"): the rule, the lines the
    files added, the lines of the dataset they replaced and the orders or days those were, and
    whether the dataset was compacted into one file."""

    overlap: str
    lines_added: int
    lines_replaced: int
    orders_replaced: int | None = None
    days_replaced: int | None = None
    compacted: bool = False

    def to_json(self) -> dict:
        out = asdict(self)
        if self.overlap != "orders":
            out.pop("orders_replaced")
        if self.overlap != "days":
            out.pop("days_replaced")
        return out


def default_overlap(columns) -> str:
    """'orders' when the lines have order ids, else 'days'."""
    return "orders" if "order_id" in columns else "days"


def append_lines(store: Store, before: Dataset, stage, con, tx_table: str, rej_table: str, meta: DatasetMeta,
                 totals: dict, overlap: str | None, actor: str | None = None) -> tuple[Dataset, dict]:
    """Publish the staged lines ``tx_table`` (and refused rows ``rej_table``) as a piece
    appended to ``before`` under ``overlap`` (``OVERLAPS``; None: ``default_overlap``).
    Refused (IngestError, nothing changes) when the files' columns are not the dataset's, or
    'orders' is asked of lines without order ids. Returns the new version and the
    ``AppendReport`` as JSON."""
    columns = [r[0] for r in con.execute(f'DESCRIBE "{tx_table}"').fetchall()]
    if set(columns) != set(before.columns):
        raise IngestError("append_columns_differ", name=before.name, file=meta.source_file,
                          lacks=FieldNames([c for c in before.columns if c not in columns]),
                          extra=FieldNames([c for c in columns if c not in before.columns]))
    overlap = overlap or default_overlap(columns)
    if overlap not in OVERLAPS:
        raise ValueError(overlap)
    if overlap == "orders" and "order_id" not in columns:
        raise IngestError("append_no_order_id", name=before.name)
    # what the piece replaces, kept in its file
    con.execute('CREATE TABLE rep_orders (order_id VARCHAR)')
    con.execute('CREATE TABLE rep_days ("day" DATE)')
    if overlap == "orders":
        con.execute(f'INSERT INTO rep_orders SELECT DISTINCT order_id FROM "{tx_table}" WHERE order_id IS NOT NULL')
    elif overlap == "days":
        con.execute(f'INSERT INTO rep_days SELECT DISTINCT CAST(order_date AS DATE) FROM "{tx_table}"')
    store.show(before)
    replaced, distinct, after = totals_after(store, con, before, tx_table, overlap)
    report = AppendReport(overlap, totals["rows"], replaced,
                          orders_replaced=distinct if overlap == "orders" else None,
                          days_replaced=distinct if overlap == "days" else None)
    pieces = [*before.segments]
    piece_rows = sum(p.get("rows", 0) for p in pieces) + totals["rows"]
    base_rows = before.details.get("base_rows", before.rows)
    if len(pieces) + 1 > MAX_PIECES or piece_rows > COMPACT_SHARE * max(base_rows, 1):
        report.compacted = True
        return compact(store, before, stage, con, tx_table, rej_table, meta, report, actor), report.to_json()
    return store.append_piece(before, stage, tx_table, rej_table, meta, overlap, report.to_json(), after,
                              actor=actor), report.to_json()


def totals_after(store: Store, con, before: Dataset, tx_table: str, overlap: str) -> tuple[int, int, dict]:
    """How many of the dataset's lines (as readers see them) the new ones replace (those of an
    order id in the piece's ``rep_orders``, or dated on a day of its ``rep_days``) and how many
    orders or days those are; and the totals of the new version (``Files.staged_totals``'
    figures: rows, distinct customers, revenue, first and last date) over the lines kept and the
    new ones. The piece keeps the version's distinct customers (``customers_all``): the old
    version's (``Store.customers_table``) less those whose every line was replaced, with the new
    lines'; the counts, revenue and dates are the old ones less the replaced lines' plus the new
    ones', so the stored lines are only probed with the new keys. When the replaced lines held
    the first or last date, or the old version kept no customers, the kept lines are read whole."""
    match, key = _replaced(overlap)
    hits = store.lines_sql(before, within=f"EXISTS ({match})")  # (the keys first: few lines pass)
    con.execute(f"CREATE TEMP TABLE _kam_hits AS SELECT customer_id, amount, order_date, {key} AS key FROM ({hits}) t")
    try:
        replaced, distinct, hit_sum, hit_min, hit_max = con.execute(
            "SELECT count(*), count(DISTINCT key), CAST(sum(amount) AS DOUBLE), min(order_date), max(order_date) "
            "FROM _kam_hits").fetchone()
        new = f'SELECT customer_id, amount, order_date FROM "{tx_table}"'
        added = con.execute(f"SELECT count(*), CAST(sum(amount) AS DOUBLE), min(order_date), max(order_date) "
                            f"FROM ({new})").fetchone()
        known = store.customers_table(before)
        # the first or last date may have gone with the replaced lines (and not come back)
        extremes = replaced and ((hit_min <= before.date_min and (added[2] is None or added[2] > hit_min))
                                 or (hit_max >= before.date_max and (added[3] is None or added[3] < hit_max)))
        if known is None or extremes:  # from the lines: the kept ones and the new ones
            kept = store.lines_sql(before, within=f"NOT EXISTS ({match})" if replaced else None)
            kept = f"SELECT customer_id, amount, order_date FROM ({kept}) t"
            con.execute(f"CREATE TABLE customers_all AS SELECT DISTINCT customer_id FROM ({kept} UNION ALL {new})")
            row = con.execute(f"SELECT count(*), CAST(sum(amount) AS DOUBLE), min(order_date), max(order_date) "
                              f"FROM ({kept} UNION ALL {new})").fetchone()
        else:  # the old figures less the replaced lines' plus the new lines'
            gone = "SELECT DISTINCT customer_id FROM _kam_hits EXCEPT SELECT customer_id FROM " + f'"{tx_table}"'
            if replaced:  # of the customers whose lines were replaced, those with none left
                still = store.lines_sql(before, within=f"t.customer_id IN ({gone}) AND NOT EXISTS ({match})")
                gone = f"{gone} EXCEPT SELECT customer_id FROM ({still}) s"
            con.execute(f'CREATE TABLE customers_all AS (SELECT customer_id FROM {known} EXCEPT {gone}) UNION '
                        f'SELECT customer_id FROM "{tx_table}"')
            row = (before.rows - replaced + added[0], _plus(before.revenue, added[1]) - (hit_sum or 0.0),
                   _least(before.date_min, added[2]), _greatest(before.date_max, added[3]))
    finally:
        con.execute("DROP TABLE IF EXISTS _kam_hits")
    customers = con.execute("SELECT count(*) FROM customers_all").fetchone()[0]
    return int(replaced), int(distinct), {"rows": int(row[0]), "customers": int(customers),
                                          "revenue": float(row[1] or 0.0), "date_min": row[2], "date_max": row[3]}


def _replaced(overlap: str) -> tuple[str, str]:
    """Under ``overlap``: the subquery a stored line (alias ``t``) matches when the piece being
    written replaces it (its ``rep_orders`` or ``rep_days``), and what is counted of the
    replaced lines (their order ids or days)."""
    if overlap == "orders":
        return "SELECT 1 FROM rep_orders r WHERE r.order_id = t.order_id", "order_id"
    if overlap == "days":
        return 'SELECT 1 FROM rep_days r WHERE r."day" = CAST(t.order_date AS DATE)', "CAST(order_date AS DATE)"
    return "SELECT 1 WHERE false", "NULL"


def _plus(a, b):
    return (a or 0.0) + (b or 0.0)


def _least(a, b):
    return b if a is None else (a if b is None else min(a, b))


def _greatest(a, b):
    return b if a is None else (a if b is None else max(a, b))


def compact(store: Store, before: Dataset, stage, con, tx_table: str, rej_table: str, meta: DatasetMeta,
            report: AppendReport, actor: str | None) -> Dataset:
    """Write the dataset with the new lines as one new base file (the old lines less those
    replaced, then the new ones; the refused rows likewise) and publish it as the next version,
    attachments kept: what the readers see is what the pieces would have shown."""
    old_tx, old_rej = store.staging_name(), store.staging_name()
    match, _ = _replaced(report.overlap)
    kept = store.lines_sql(before, within=f"NOT EXISTS ({match})")
    con.execute(f'CREATE TABLE "{old_tx}" AS SELECT * FROM ({kept}) t UNION ALL BY NAME SELECT * FROM "{tx_table}"')
    later = set(meta.details.get("source_files") or [meta.source_file])
    # the refused rows as the pieces' views would count them with this file's after them
    con.execute(f'ALTER TABLE "{rej_table}" RENAME TO rej')
    con.execute(f'CREATE TABLE "{old_rej}" AS {store.rejects_sql(before, stage, sorted(later))}')
    rej_table = "rej"
    con.execute(f'DROP TABLE "{tx_table}"')
    con.execute(f'DROP TABLE "{rej_table}"')
    con.execute("DROP TABLE rep_orders")
    con.execute("DROP TABLE rep_days")
    totals = store.staged_totals(stage, old_tx)
    files = [*(before.details.get("source_files") or [before.source_file]),
             *(n for p in before.segments for n in p.get("files") or []), *sorted(later)]
    details = {**meta.details, "source_files": list(dict.fromkeys(f for f in files if f)), "compacted": True}
    return store.commit_compacted(before, stage, old_tx, old_rej, DatasetMeta(
        source_file=before.source_file, file_format=meta.file_format, encoding=meta.encoding,
        delimiter=meta.delimiter, mapping=meta.mapping, details=details), totals, report.to_json(), actor=actor)


def append_sentence(report: dict, lang: str) -> str:
    """The report's sentence of an append (``AppendReport.to_json``), in ``lang``."""
    from kam_analytics.i18n import format_count, t

    counts = dict(added=format_count(report["lines_added"]), replaced=format_count(report["lines_replaced"]),
                  orders=format_count(report.get("orders_replaced")), days=format_count(report.get("days_replaced")))
    text = t(f"append_done_{report['overlap']}", lang, **counts)
    if report.get("compacted"):
        text = t("two_sentences", lang, first=text, second=t("append_compacted", lang))
    return text


