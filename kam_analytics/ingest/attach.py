"""Datasets attached from a table another engine reads (Spark): nothing is copied. The table's
columns are mapped onto the canonical schema by the same rules as a file's headers (automatic
mapping, ``--map`` corrections, the same refusals), typed in the engine, and every query reads
the table through that mapping (``attached_table``). Lines without a customer, date or amount
are left out and counted as rejected, as in a file ingest: rows = loaded + rejected.

What an attached table may hold: customer ids and text as strings or integers (floats that
are whole numbers, such as 12923.0, are read as 12923); dates as DATE or TIMESTAMP columns;
amounts and numbers as numeric columns. A text date or a text amount is refused with a
sentence (convert it in a view first): parsing text differs between engines, and a file ingest
is where mixed formats are sorted out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import ibis

from kam_analytics.engines import trimmed
from kam_analytics.errors import IngestError
from kam_analytics.schema import COLUMNS, REQUIRED

ENGINES = ("spark",)
REJECT_REASONS = ("customer_missing", "date_missing", "amount_missing")


@dataclass
class AttachReport:
    """What an attach found; ``to_json`` is the ``attach --json`` contract."""

    dataset: str
    engine: str
    table: str
    rows: int
    rejected: int
    customers: int
    revenue: float
    mapping: dict[str, str]
    date_min: str | None
    date_max: str | None
    source_rows: int = 0  # = rows + rejected
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    amount_source: str = "column"
    replaced: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def check_table_reference(table: str) -> str:
    """``table`` as Spark SQL accepts it after FROM: a catalog table (``db.orders``) or a path
    table (``parquet.`/data/orders/```), and nothing else (no query, no second statement)."""
    import sqlglot
    from sqlglot import exp

    text = (table or "").strip()
    try:
        parsed = sqlglot.parse(f"SELECT * FROM {text}", read="spark")
    except sqlglot.errors.ParseError:
        parsed = []
    select = parsed[0] if len(parsed) == 1 else None
    source = select.args.get("from_") or select.args.get("from") if isinstance(select, exp.Select) else None
    ok = (isinstance(source, exp.From) and isinstance(source.this, exp.Table) and not select.args.get("joins")
          and not select.args.get("where") and ";" not in text and len(select.expressions) == 1
          and not list(source.this.find_all(exp.Select)))
    if not text or not ok:
        raise IngestError("attach_table_bad", table=text)
    return text


def source_table(backend, table: str) -> ibis.Table:
    """The table as the engine reads it (no rows are read here)."""
    from kam_analytics.engines import EngineError

    reference = check_table_reference(table)
    try:
        return backend.sql(f"SELECT * FROM {reference}")
    except Exception as error:
        raise EngineError("attach_table_unreadable", table=reference,
                          error=str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__) from None


def _typed(column: ibis.Value, canonical: str, source: str, trim: bool = True) -> ibis.Value:
    """One source column as its canonical column (the kinds of ``schema.COLUMNS``); text is
    trimmed unless ``trim`` is False (the attach found nothing to trim in it)."""
    kind = COLUMNS[canonical][1]
    dtype = column.type()
    if dtype.is_floating():  # NaN is a missing value, as an empty cell is in a file (Spark also
        column = ibis.ifelse(column.isnan(), ibis.null(dtype), column)  # casts NaN to the text 'NaN')
    if kind in ("id", "text"):
        if dtype.is_floating():  # 12923.0 -> '12923', as a file ingest normalises ids
            text = ibis.ifelse(column == column.floor(), column.cast("int64").cast("string"), column.cast("string"))
        else:
            text = column.cast("string")
        text = trimmed(text) if trim else text
        return ibis.ifelse(text == "", ibis.null("string"), text)
    if kind == "date":
        if dtype.is_timestamp() or dtype.is_date():
            return column.cast("timestamp")
        raise IngestError("attach_date_not_date", column=source, type=str(dtype))
    if dtype.is_numeric():
        return column.cast("decimal(18, 4)") if kind == "money" else column.cast("float64")
    raise IngestError("attach_number_not_number", column=source, type=str(dtype))


def canonical_columns(source: ibis.Table, mapping: dict[str, str], trim: list[str] | None = None) -> ibis.Table:
    """``source`` as canonical columns (in schema order), every line kept; amount from
    quantity × unit price and profit from amount − cost when only those are mapped. ``trim``:
    the text columns to trim (None: all; the attach records which need it, ``padded_columns``)."""
    values = {c: _typed(source[mapping[c]], c, mapping[c], trim is None or c in trim)
              for c in COLUMNS if c in mapping}
    if "amount" not in values and {"quantity", "unit_price"} <= set(values):
        values["amount"] = (values["quantity"] * values["unit_price"]).cast("decimal(18, 4)")
    if "profit" not in values and "cost" in values and "amount" in values:
        values["profit"] = (values["amount"] - values["cost"]).cast("decimal(18, 4)")
    return source.select(**{c: values[c] for c in COLUMNS if c in values})


def padded_columns(source: ibis.Table, mapping: dict[str, str]) -> list[str]:
    """The mapped text columns holding at least one value with leading or trailing white
    space: only those are trimmed on every query (a regular expression per value is most of
    the cost of a query on Spark). Checked when the table is attached."""
    text = [c for c in mapping if COLUMNS[c][1] in ("id", "text") and source[mapping[c]].type().is_string()]
    if not text:
        return []
    counts = source.aggregate(**{c: source.count(where=source[mapping[c]] != trimmed(source[mapping[c]]))
                                 for c in text}).to_pandas().iloc[0]
    return [c for c in text if int(counts[c])]


def _kept(table: ibis.Table) -> ibis.Table:
    return table.filter(*[table[c].notnull() for c in REQUIRED])


def attached_table(backend, source: dict) -> ibis.Table:
    """The lines of an attached dataset (its catalog ``source``: table and mapping) as an Ibis
    table of canonical columns, without the rejected lines."""
    return _kept(canonical_columns(source_table(backend, source["table"]), source["mapping"], source.get("trim")))


def attached_rejects(backend, source: dict, limit: int | None = None):
    """The lines an attach leaves out, with the reason (the first required value missing)."""
    table = canonical_columns(source_table(backend, source["table"]), source["mapping"], source.get("trim"))
    reason = ibis.cases(*[(table[c].isnull(), r) for c, r in zip(REQUIRED, REJECT_REASONS)], else_=ibis.null("string"))
    out = table.mutate(reason=reason).filter(ibis._.reason.notnull())
    out = out.select("reason", *table.columns)
    return (out.limit(limit) if limit is not None else out).to_pandas()


def attach_table(store, backend, engine: str, name: str, table: str, overrides: dict[str, str] | None = None,
                 replace: bool = False, actor: str | None = None) -> AttachReport:
    """Register ``table`` (read by ``backend``) as dataset ``name``. Refused with a plain
    sentence when a required column cannot be mapped or has the wrong type; the store is then
    unchanged. The source's rows are counted once: loaded + rejected = rows of the table."""
    from kam_analytics.analytics.customers import dataset_totals
    from kam_analytics.ingest.load import _check_required, resolve_mapping
    from kam_analytics.store import iso_text

    name = (name or "").strip()
    if not name:
        raise IngestError("dataset_name_empty")
    before = store.find(name)
    if not replace and before is not None:
        raise IngestError("dataset_exists_ingest", name=name)
    source = source_table(backend, table)
    headers = list(source.columns)
    mapping = resolve_mapping(headers, overrides)
    _check_required(mapping, headers, table.strip())
    trim = padded_columns(source, mapping)
    canonical = canonical_columns(source, mapping, trim)
    # each left-out line once, under the first required value it lacks
    first_missing = {}
    present = ibis.literal(True)
    for column, reason in zip(REQUIRED, REJECT_REASONS):
        first_missing[reason] = canonical.count(where=present & canonical[column].isnull())
        present = present & canonical[column].notnull()
    counts = canonical.aggregate(source_rows=canonical.count(), **first_missing).to_pandas().iloc[0]
    kept = _kept(canonical)
    totals = dataset_totals(kept)
    reasons = {r: int(counts[r]) for r in REJECT_REASONS if int(counts[r])}
    rejected = sum(reasons.values())
    source_rows = int(counts["source_rows"])
    if totals["rows"] + rejected != source_rows:  # the invariant of every load; never expected to fail
        raise IngestError("attach_counts_differ", table=table.strip(), rows=source_rows,
                          loaded=totals["rows"], rejected=rejected)
    amount_source = "column" if "amount" in mapping else "quantity_x_unit_price"
    dataset = store.commit_attached(name, engine, {"table": table.strip(), "mapping": mapping, "trim": trim},
                                    list(kept.columns),
                                    totals, rejected, details={"rejected_reasons": reasons, "amount_source": amount_source,
                                                               "source_rows": source_rows},
                                    replace=replace, expected_version=before.version if before else None, actor=actor)
    return AttachReport(dataset=dataset.name, engine=engine, table=table.strip(), rows=totals["rows"], rejected=rejected,
                        customers=totals["customers"], revenue=totals["revenue"], mapping=mapping,
                        date_min=iso_text(totals["date_min"]), date_max=iso_text(totals["date_max"]),
                        source_rows=source_rows, rejected_reasons=reasons, amount_source=amount_source,
                        replaced=before is not None)
