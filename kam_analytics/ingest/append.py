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
    old = f'"{before.table_name}"'
    if overlap == "orders":
        hit = f"SELECT * FROM {old} t WHERE EXISTS (SELECT 1 FROM rep_orders r WHERE r.order_id = t.order_id)"
        replaced, distinct = con.execute(f"SELECT count(*), count(DISTINCT order_id) FROM ({hit})").fetchone()
    elif overlap == "days":
        hit = f"SELECT * FROM {old} t WHERE EXISTS (SELECT 1 FROM rep_days r WHERE r.day = CAST(t.order_date AS DATE))"
        replaced, distinct = con.execute(
            f"SELECT count(*), count(DISTINCT CAST(order_date AS DATE)) FROM ({hit})").fetchone()
    else:
        replaced, distinct = 0, 0
    report = AppendReport(overlap, totals["rows"], int(replaced),
                          orders_replaced=int(distinct) if overlap == "orders" else None,
                          days_replaced=int(distinct) if overlap == "days" else None)
    pieces = [*before.segments]
    piece_rows = sum(p.get("rows", 0) for p in pieces) + totals["rows"]
    base_rows = before.details.get("base_rows", before.rows)
    if len(pieces) + 1 > MAX_PIECES or piece_rows > COMPACT_SHARE * max(base_rows, 1):
        report.compacted = True
        return compact(store, before, stage, con, tx_table, rej_table, meta, report, actor), report.to_json()
    return store.append_piece(before, stage, tx_table, rej_table, meta, overlap, report.to_json(),
                              actor=actor), report.to_json()


def compact(store: Store, before: Dataset, stage, con, tx_table: str, rej_table: str, meta: DatasetMeta,
            report: AppendReport, actor: str | None) -> Dataset:
    """Write the dataset with the new lines as one new base file (the old lines less those
    replaced, then the new ones; the refused rows likewise) and publish it as the next version,
    attachments kept: what the readers see is what the pieces would have shown."""
    old_tx, old_rej = store.staging_name(), store.staging_name()
    replaces = f'"{before.table_name}"'
    keyed = "order_id" in before.columns
    conditions = []
    if keyed:
        conditions.append("NOT EXISTS (SELECT 1 FROM rep_orders r WHERE r.order_id = t.order_id)")
    conditions.append("NOT EXISTS (SELECT 1 FROM rep_days r WHERE r.day = CAST(t.order_date AS DATE))")
    con.execute(f'CREATE TABLE "{old_tx}" AS SELECT t.* FROM {replaces} t WHERE {" AND ".join(conditions)} '
                f'UNION ALL BY NAME SELECT * FROM "{tx_table}"')
    later = set(meta.details.get("source_files") or [meta.source_file])
    con.execute(f'CREATE TABLE "{old_rej}" AS SELECT * FROM "{before.rejects_table}" '
                + ("WHERE file IS NULL OR file NOT IN (SELECT unnest(?))" if _has_file(con, before.rejects_table)
                   else "WHERE true") + f' UNION ALL BY NAME SELECT * FROM "{rej_table}"',
                *([[sorted(later)]] if _has_file(con, before.rejects_table) else []))
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


def _has_file(con, view: str) -> bool:
    return "file" in {r[0] for r in con.execute(f'DESCRIBE "{view}"').fetchall()}


def append_sentence(report: dict, lang: str) -> str:
    """The report's sentence of an append (``AppendReport.to_json``), in ``lang``."""
    from kam_analytics.i18n import format_count, t

    counts = dict(added=format_count(report["lines_added"]), replaced=format_count(report["lines_replaced"]),
                  orders=format_count(report.get("orders_replaced")), days=format_count(report.get("days_replaced")))
    text = t(f"append_done_{report['overlap']}", lang, **counts)
    if report.get("compacted"):
        text = t("two_sentences", lang, first=text, second=t("append_compacted", lang))
    return text


