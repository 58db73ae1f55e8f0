"""Datasets attached from a table another engine reads (Spark): nothing is copied. The table's
columns are mapped onto the canonical schema by the same rules as a file's headers (automatic
mapping, ``--map`` corrections, the same refusals), typed in the engine, and every query reads
the table through that mapping (``attached_table``). Lines without a customer, date or amount
are left out and counted as rejected, as in a file ingest: rows = loaded + rejected.

What an attached table may hold: customer ids and text as strings or integers (floats that
are whole numbers, such as 12923.0, are read as 12923); dates as DATE or TIMESTAMP columns, or
as text in any format a file ingest reads ('2024/01/05', '05.01.2024', '2024年1月5日', with the
same refusal of day/month ambiguity and the same ``--date-format``); amounts and numbers as
numeric columns or as text a file ingest reads ('¥1,234.50', '1.234,50', '(12.50)', '15%').
Text is read in the engine by the file rules and checked against them (``parse_engine``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import ibis

from kam_analytics.engines import trimmed
from kam_analytics.errors import IngestError
from kam_analytics.ingest import parse_engine
from kam_analytics.schema import COLUMNS, MONEY, REQUIRED

ENGINES = ("spark",)
REJECT_REASONS = ("customer_missing", "date_missing", "date_unreadable", "amount_missing", "amount_unreadable")


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
    date_formats: dict[str, str] = field(default_factory=dict)  # text date columns: the format family read
    decimal_comma: list[str] = field(default_factory=list)  # text number columns read with a decimal comma
    warnings: list[str] = field(default_factory=list)

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


def _typed(column: ibis.Value, canonical: str, source: str, trim: bool = True, rule: dict | None = None,
           dotted: bool = True) -> ibis.Value:
    """One source column as its canonical column (the kinds of ``schema.COLUMNS``); text is
    trimmed unless ``trim`` is False and text ids lose a '.0' unless ``dotted`` is False (the
    attach found nothing of the kind in the column); a text date or number is read by its
    ``rule`` (``parse_engine``)."""
    kind = COLUMNS[canonical][1]
    dtype = column.type()
    if rule is not None and dtype.is_string():
        return parse_engine.value_of(column, canonical, rule)
    if dtype.is_floating():  # NaN is a missing value, as an empty cell is in a file (Spark also
        column = ibis.ifelse(column.isnan(), ibis.null(dtype), column)  # casts NaN to the text 'NaN')
    if kind in ("id", "text"):
        if dtype.is_floating():  # 12923.0 -> '12923', as a file ingest normalises ids
            text = ibis.ifelse(column == column.floor(), column.cast("int64").cast("string"), column.cast("string"))
        else:
            text = column.cast("string")
        text = trimmed(text) if trim else text
        if kind == "id" and dtype.is_string() and dotted:  # '12923.0' -> '12923' (``parse.id_sql``; no back-reference:
            integral = text.re_search(r"^\d+\.0+$")  # DuckDB writes it \1, Spark $1)
            text = ibis.ifelse(integral, text.re_replace(r"\.0+$", ""), text)
        return ibis.ifelse(text == "", ibis.null("string"), text)
    if kind == "date":
        if dtype.is_timestamp() or dtype.is_date():
            return column.cast("timestamp")
        raise IngestError("attach_date_not_date", column=source, type=str(dtype))
    if dtype.is_numeric():  # try_cast: a value too large for money is missing (Spark's ANSI cast would fail the query)
        return column.try_cast(MONEY.lower()) if kind == "money" else column.try_cast("float64")
    raise IngestError("attach_number_not_number", column=source, type=str(dtype))


def _present(column: ibis.Value) -> ibis.Value:
    """Whether a source cell holds anything (a reading may still fail: 'unreadable')."""
    dtype = column.type()
    if dtype.is_string():
        return column.notnull() & (trimmed(column) != "")
    if dtype.is_floating():
        return column.notnull() & ~column.isnan()
    return column.notnull()


def canonical_columns(source: ibis.Table, plan: dict, present: bool = False) -> ibis.Table:
    """``source`` as canonical columns (in schema order), every line kept; amount from
    quantity × unit price and profit from amount − cost when only those are mapped. ``plan``
    (the catalog's ``source`` of the dataset): ``mapping``; ``trim`` and ``dotted``, the text
    columns that need trimming and the ids that need '.0' removed (None: all;
    ``text_checks``); ``parse``, how text dates and numbers are read. ``present``: add
    ``present_order_date`` and ``present_amount`` (the source cells hold something), which
    tell missing from unreadable."""
    mapping, trim, dotted, rules = plan["mapping"], plan.get("trim"), plan.get("dotted"), plan.get("parse") or {}
    values = {c: _typed(source[mapping[c]], c, mapping[c], trim is None or c in trim, rules.get(c),
                        dotted is None or c in dotted)
              for c in COLUMNS if c in mapping}
    if "amount" not in values and {"quantity", "unit_price"} <= set(values):
        values["amount"] = (values["quantity"] * values["unit_price"]).try_cast(MONEY.lower())
    if "profit" not in values and "cost" in values and "amount" in values:
        values["profit"] = (values["amount"] - values["cost"]).try_cast(MONEY.lower())
    columns = {c: values[c] for c in COLUMNS if c in values}
    if present:
        amount_from = ["amount"] if "amount" in mapping else ["quantity", "unit_price"]
        columns["present_order_date"] = _present(source[mapping["order_date"]])
        columns["present_amount"] = ibis.and_(*[_present(source[mapping[c]]) for c in amount_from])
    return source.select(**columns)


def _reason(table: ibis.Table) -> ibis.Value:
    """Why a line is left out: the first of customer, date, amount that is missing or
    unreadable (the file ingest's ``reason_sql``); NULL for a kept line."""
    return ibis.cases((table.customer_id.isnull(), "customer_missing"),
                      (table.order_date.isnull() & ~table.present_order_date, "date_missing"),
                      (table.order_date.isnull(), "date_unreadable"),
                      (table.amount.isnull() & ~table.present_amount, "amount_missing"),
                      (table.amount.isnull(), "amount_unreadable"), else_=ibis.null("string"))


def text_checks(source: ibis.Table, mapping: dict[str, str]) -> dict[str, list[str]]:
    """``trim``: the mapped text columns holding at least one value with leading or trailing
    white space; ``dotted``: the text ids holding at least one '12923.0'. Only those get the
    regular expressions on every query (a regular expression per value is most of the cost of
    a query on Spark). Checked once, when the table is attached."""
    text = [c for c in mapping if COLUMNS[c][1] in ("id", "text") and source[mapping[c]].type().is_string()]
    if not text:
        return {"trim": [], "dotted": []}
    checks = {f"trim_{c}": source.count(where=source[mapping[c]] != trimmed(source[mapping[c]])) for c in text}
    checks.update({f"dotted_{c}": source.count(where=trimmed(source[mapping[c]]).re_search(r"^\d+\.0+$"))
                   for c in text if COLUMNS[c][1] == "id"})
    counts = source.aggregate(**checks).to_pandas().iloc[0]
    return {"trim": [c for c in text if int(counts[f"trim_{c}"])],
            "dotted": [c for c in text if int(counts.get(f"dotted_{c}", 0) or 0)]}


def _kept(table: ibis.Table) -> ibis.Table:
    return table.filter(*[table[c].notnull() for c in REQUIRED])


def attached_table(backend, source: dict) -> ibis.Table:
    """The lines of an attached dataset (its catalog ``source``: table and mapping) as an Ibis
    table of canonical columns, without the rejected lines."""
    return _kept(canonical_columns(source_table(backend, source["table"]), source))


def attached_rejects(backend, source: dict, limit: int | None = None):
    """The lines an attach leaves out, with the reason (the first required value missing)."""
    table = canonical_columns(source_table(backend, source["table"]), source, present=True)
    columns = [c for c in table.columns if not c.startswith("present_")]
    out = table.mutate(reason=_reason(table)).filter(ibis._.reason.notnull())
    out = out.select("reason", *columns)
    return (out.limit(limit) if limit is not None else out).to_pandas()


def attach_table(store, backend, engine: str, name: str, table: str, overrides: dict[str, str] | None = None,
                 replace: bool = False, actor: str | None = None, date_format: str | None = None) -> AttachReport:
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
    rules, warnings = parse_engine.text_rules(backend, source, mapping, date_format)
    plan = {"mapping": mapping, **text_checks(source, mapping), "parse": rules}
    canonical = canonical_columns(source, plan, present=True)
    # each left-out line once, under the first required value it lacks or cannot be read
    by_reason = canonical.select(reason=_reason(canonical).fill_null("kept")).reason.value_counts().to_pandas()
    counts = dict(zip(by_reason["reason"], by_reason["reason_count"]))
    counts["source_rows"] = sum(counts.values())
    kept = _kept(canonical_columns(source, plan))
    totals = dataset_totals(kept)
    reasons = {r: int(counts[r]) for r in REJECT_REASONS if counts.get(r)}
    rejected = sum(reasons.values())
    source_rows = int(counts["source_rows"])
    if totals["rows"] + rejected != source_rows:  # the invariant of every load; never expected to fail
        raise IngestError("attach_counts_differ", table=table.strip(), rows=source_rows,
                          loaded=totals["rows"], rejected=rejected)
    amount_source = "column" if "amount" in mapping else "quantity_x_unit_price"
    dataset = store.commit_attached(name, engine, {"table": table.strip(), **plan},
                                    list(kept.columns),
                                    totals, rejected, details={"rejected_reasons": reasons, "amount_source": amount_source,
                                                               "source_rows": source_rows},
                                    replace=replace, expected_version=before.version if before else None, actor=actor)
    return AttachReport(dataset=dataset.name, engine=engine, table=table.strip(), rows=totals["rows"], rejected=rejected,
                        customers=totals["customers"], revenue=totals["revenue"], mapping=mapping,
                        date_min=iso_text(totals["date_min"], " "), date_max=iso_text(totals["date_max"], " "),
                        source_rows=source_rows, rejected_reasons=reasons, amount_source=amount_source,
                        replaced=before is not None, warnings=warnings,
                        date_formats={c: r["date"] for c, r in rules.items() if "date" in r},
                        decimal_comma=[mapping[c] for c, r in rules.items() if r.get("number", {}).get("decimal_comma")])
