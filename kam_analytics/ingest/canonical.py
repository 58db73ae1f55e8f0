"""An attached table (a table Spark reads, ``ingest.attach``) read as the canonical lines: each
mapped source column typed as its canonical column, text dates and numbers read by the rules
the attach chose (``parse_engine``), amount from quantity × unit price where only those are
mapped, and the lines a file ingest would reject left out (``attached_table``) or listed with
their reason (``attached_rejects``). The store's engines read attached datasets through this;
the attach command checks and registers them with it."""
from __future__ import annotations

import ibis

from kam_analytics.errors import EngineError, IngestError
from kam_analytics.ingest import parse_engine
from kam_analytics.ingest.parse_engine import trimmed
from kam_analytics.schema import COLUMNS, MONEY, REQUIRED


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


def reject_reason(table: ibis.Table) -> ibis.Value:
    """Why a line is left out: the first of customer, date, amount that is missing or
    unreadable (the file ingest's ``reason_sql``); NULL for a kept line."""
    return ibis.cases((table.customer_id.isnull(), "customer_missing"),
                      (table.order_date.isnull() & ~table.present_order_date, "date_missing"),
                      (table.order_date.isnull(), "date_unreadable"),
                      (table.amount.isnull() & ~table.present_amount, "amount_missing"),
                      (table.amount.isnull(), "amount_unreadable"), else_=ibis.null("string"))


def kept_lines(table: ibis.Table) -> ibis.Table:
    return table.filter(*[table[c].notnull() for c in REQUIRED])


def attached_table(backend, source: dict) -> ibis.Table:
    """The lines of an attached dataset (its catalog ``source``: table and mapping) as an Ibis
    table of canonical columns, without the rejected lines."""
    return kept_lines(canonical_columns(source_table(backend, source["table"]), source))


def attached_rejects(backend, source: dict, limit: int | None = None):
    """The lines an attach leaves out, with the reason (the first required value missing)."""
    table = canonical_columns(source_table(backend, source["table"]), source, present=True)
    columns = [c for c in table.columns if not c.startswith("present_")]
    out = table.mutate(reason=reject_reason(table)).filter(ibis._.reason.notnull())
    out = out.select("reason", *columns)
    return (out.limit(limit) if limit is not None else out).to_pandas()
