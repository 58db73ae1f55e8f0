"""Text dates and text numbers of an attached table, read by the file ingest's rules
(``parse.py``) inside the engine that holds the table (Spark), so nothing is copied.

How, for each mapped date or number column that holds text:

1. The rule is chosen as a file's is — the date family by ``parse.infer_date_family`` (the same
   ambiguity refusal, the same ``--date-format`` answer), the number style by
   ``parse.infer_number_styles`` — run in a local DuckDB over the column's distinct trimmed
   values: all of them up to ``SAMPLE``, otherwise the first ``SAMPLE`` the engine returns.
2. The rule is applied in the engine by the Ibis expressions below (``date_value``,
   ``number_value``), which spell the file rules in the engine's own functions.
3. Before the attach is accepted, the engine's reading of every value of step 1 is compared
   with DuckDB's reading by the file rules; one difference refuses the attach with the value
   and both readings. (Two engines that read '03/01/95' or 'JAN' differently would give two
   answers for one table; this is where that is caught.)

A value the rule cannot read becomes missing, and its line is rejected as 'date_unreadable'
or 'amount_unreadable', as in a file ingest.
"""
from __future__ import annotations

import re
from dataclasses import asdict
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from kam_analytics.errors import IngestError
from kam_analytics.ingest import parse
from kam_analytics.schema import COLUMNS, MONEY

SAMPLE = 100_000


def trimmed(text):
    """``text`` (an Ibis string) without leading and trailing white space (ASCII and the
    Unicode space separators, like the file ingest's trim). Not Ibis's ``strip()``: on Spark
    it compiles to TRIM(' \\t\\n\\r\\v\\f' FROM …), where Spark reads '\\v' as the letter v, so
    'Andy Yotov' became 'Andy Yoto'."""
    return text.re_replace(r"^[\s\p{Zs}]+|[\s\p{Zs}]+$", "")


@ibis.udf.scalar.builtin
def try_to_timestamp(text: str, pattern: str) -> dt.timestamp:  # Spark SQL (3.5+): NULL when unreadable
    ...


# strptime directive -> Spark datetime pattern letters (parsing: 'M' and 'd' take 1 or 2 digits,
# as strptime's %m and %d do). Not translated: %z (zone offsets), so a family using it reads
# those values as missing and step 3 refuses the attach if the file rules read them.
_DIRECTIVES = {"Y": "y", "m": "M", "d": "d", "H": "H", "M": "m", "S": "s", "f": "SSSSSS", "y": "yy",
               "b": "MMM", "B": "MMMM", "I": "h", "p": "a"}


def spark_pattern(strptime_format: str) -> str | None:
    """A strptime format as a Spark datetime pattern (literal text quoted), or None when it
    uses a directive Spark is not given here."""
    out = []
    for directive, literal in re.findall(r"%(.)|([^%]+)", strptime_format):
        if literal:
            out.append("'" + literal.replace("'", "''") + "'")
        elif directive == "%":
            out.append("'%'")
        elif directive in _DIRECTIVES:
            out.append(_DIRECTIVES[directive])
        else:
            return None
    return "".join(out)


def spark_patterns(family: str) -> list[str]:
    """The family's formats as few Spark patterns: the time variants of ``parse._family`` are
    one pattern with optional parts ('d/M/y[ H:m[:s[.SSSSSS]]]'), because a long list of
    tries makes Spark's generated code too large to compile (it then falls back, slowly and
    with an error in its log). Which values each pattern reads is checked in step 3."""
    formats = parse.DATE_FAMILIES[family] if family in parse.DATE_FAMILIES else parse._family(family)
    patterns, covered = [], set()
    suffixes = sorted(filter(None, parse._TIMES), key=len, reverse=True)
    parts = [next((f[:-len(s)] for s in suffixes if f.endswith(s)), f) for f in formats]
    for part in dict.fromkeys(parts):
        variants = parse._family(part)
        date = spark_pattern(part)
        if date and set(variants) <= set(formats):
            patterns += [date + "[ H:m[:s[.SSSSSS]]]", date + "'T'H:m[:s[.SSSSSS]]", date + " h:m[:s] a"]
            covered.update(variants)
    patterns += [p for p in map(spark_pattern, [f for f in formats if f not in covered]) if p]
    return patterns


def _blank_to_null(text: ibis.Value) -> ibis.Value:
    value = trimmed(text)
    return ibis.ifelse(value == "", ibis.null("string"), value)


def date_value(text: ibis.Value, family: str) -> ibis.Value:
    """``parse.date_sql`` in the engine: the family's formats tried in order, ISO text by the
    engine's cast first (as DuckDB's cast goes first there), years outside 1900–2100 missing."""
    value = _blank_to_null(text)
    tries = [try_to_timestamp(value, pattern) for pattern in spark_patterns(family)]
    if family == "%Y-%m-%d":  # parse.iso_cast_sql: only 'YYYY-…' text goes to the cast
        tries.insert(0, ibis.ifelse(value.find("-") == 4, value.try_cast("timestamp"), ibis.null("timestamp")))
    parsed = ibis.coalesce(*tries) if len(tries) > 1 else tries[0]
    return ibis.ifelse(parsed.year().between(parse.YEAR_MIN, parse.YEAR_MAX), parsed, ibis.null("timestamp"))


def number_value(text: ibis.Value, style: parse.NumberStyle, money: bool) -> ibis.Value:
    """``parse.number_sql`` in the engine: currency symbols, thousands separators, decimal
    commas, '(12.50)' and '12.50-' as negatives, '15%' as 0.15; unreadable -> missing. Money
    is read as an exact decimal from the cleaned text when it can be (no binary rounding)."""
    target = MONEY.lower() if money else "float64"
    value = _blank_to_null(text)
    if style.plain:
        return value.try_cast(target)
    core = value.re_replace(parse._SYMBOLS, "")
    core = core.replace(".", "").replace(",", ".") if style.decimal_comma else core.replace(",", "")
    negative = (value.startswith("(") & value.endswith(")")) | (core.endswith("-") & (core.length() > 1))
    digits = trimmed(core.re_replace(r"[()%]|-$", ""))
    number = digits.try_cast("float64")
    percent = value.contains("%")
    scaled = ibis.ifelse(percent, number / 100, number)
    signed = ibis.ifelse(negative, -scaled.abs(), scaled)
    if not money:
        return signed
    exact = ibis.ifelse(percent, signed.try_cast(target), digits.try_cast(target))
    return ibis.ifelse(negative, -exact.abs(), ibis.coalesce(exact, signed.try_cast(target)))


def text_values(source: ibis.Table, column: str, limit: int = SAMPLE) -> list[str]:
    """Up to ``limit`` distinct non-empty trimmed values of a text column (step 1)."""
    values = source.select(v=trimmed(source[column])).filter(ibis._.v != "").distinct().limit(limit)
    return values.to_pandas()["v"].tolist()


def _local(values: list[str]):
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS c0", [values])
    return con


def text_rules(backend, source: ibis.Table, mapping: dict[str, str], date_format: str | None = None) -> tuple[dict, list[str]]:
    """The rule for each mapped column that holds text but must be a date or a number (step 1),
    checked in the engine (step 3), and the warnings: {canonical: {'date': family} |
    {'number': NumberStyle fields}}. A date column other than the order date that no rule
    reads is left unmapped (``mapping`` loses it; warned), as in a file ingest; an unreadable
    order date refuses the attach."""
    rules, warnings = {}, []
    for canonical, column in list(mapping.items()):
        kind = COLUMNS[canonical][1]
        if kind in ("id", "text") or not source[column].type().is_string():
            continue
        values = text_values(source, column)
        con = _local(values)
        if kind == "date":
            choice = parse.infer_date_family(con, "t", "c0", date_format, header=column)
            if choice.family is None or choice.family == "excel":
                if canonical == "order_date":
                    key = "attach_date_serial" if choice.family == "excel" else "dates_unreadable"
                    raise IngestError(key, column=column, example=values[0] if values else "")
                warnings.append(f"date_column_ignored:{column}")
                del mapping[canonical]
                continue
            rules[canonical] = {"date": choice.family}
            local = con.execute(f"SELECT c0, {parse.date_sql('c0', choice.family)} FROM t").fetchall()
        else:
            style = parse.infer_number_styles(con, "t", ["c0"], None)["c0"]
            rules[canonical] = {"number": asdict(style)}
            sql = parse.money_sql("c0", style) if kind == "money" else parse.number_sql("c0", style)
            local = con.execute(f"SELECT c0, {sql} FROM t").fetchall()
        if local:
            _check(backend, column, canonical, rules[canonical], local)
    return rules, warnings


def value_of(column: ibis.Value, canonical: str, rule: dict) -> ibis.Value:
    """A text column read by its rule (step 2)."""
    if "date" in rule:
        return date_value(column, rule["date"])
    return number_value(column, parse.NumberStyle(**rule["number"]), money=COLUMNS[canonical][1] == "money")


def _same(a, b) -> bool:
    a_missing, b_missing = a is None or pd.isna(a), b is None or pd.isna(b)
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    if isinstance(a, (int, float)):
        return float(a) == float(b)
    return pd.Timestamp(a) == pd.Timestamp(b)


def _check(backend, column: str, canonical: str, rule: dict, local: list[tuple]) -> None:
    """Step 3: the engine reads every value as the file rules read it in DuckDB (``local``:
    value, reading), or the attach is refused naming the first value read differently."""
    sample = ibis.memtable(pd.DataFrame({"v": [v for v, _ in local]}))
    read = backend.execute(sample.select("v", p=value_of(sample.v, canonical, rule)))
    engine = dict(zip(read["v"], read["p"]))
    for value, expected in local:
        if not _same(engine.get(value), expected):
            raise IngestError("attach_reads_differently", column=column, value=value,
                              engine=_shown(engine.get(value)), rules=_shown(expected))


def _shown(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    return str(value)
