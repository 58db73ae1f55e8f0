"""Turn raw text cells into canonical values, in SQL, so DuckDB does the work.

Each builder returns a SQL expression over a raw VARCHAR column ``c<i>`` (never user text).
Inference looks at the whole column (dates: every distinct value; numbers: every value) so
one odd row cannot decide the format of millions.
"""
from __future__ import annotations

from dataclasses import dataclass

from kam_analytics.errors import IngestError
from kam_analytics.schema import MONEY

YEAR_MIN, YEAR_MAX = 1900, 2100
EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX = 20000, 80000  # 1954-10-03 .. 2119-01-10

_TIMES = ["", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", "T%H:%M:%S", "T%H:%M:%S.%f", "T%H:%M", " %I:%M %p", " %I:%M:%S %p"]


def _family(date_part: str) -> list[str]:
    return [date_part + time for time in _TIMES]


# name -> formats; dmy/mdy families are the pairs that can be ambiguous.
DATE_FAMILIES: dict[str, list[str]] = {
    "%Y-%m-%d": _family("%Y-%m-%d") + ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S%z"],
    "%Y/%m/%d": _family("%Y/%m/%d"),
    "%Y.%m.%d": _family("%Y.%m.%d"),
    "%Y年%m月%d日": _family("%Y年%m月%d日"),
    "%Y%m%d": ["%Y%m%d"],
    "%d/%m/%Y": _family("%d/%m/%Y"),
    "%m/%d/%Y": _family("%m/%d/%Y"),
    "%d/%m/%y": _family("%d/%m/%y"),
    "%m/%d/%y": _family("%m/%d/%y"),
    "%d-%m-%Y": _family("%d-%m-%Y"),
    "%m-%d-%Y": _family("%m-%d-%Y"),
    "%d.%m.%Y": _family("%d.%m.%Y"),
    "%d.%m.%y": _family("%d.%m.%y"),
    "%d-%b-%Y": _family("%d-%b-%Y") + _family("%d %b %Y") + _family("%d-%b-%y"),
    "%b %d, %Y": _family("%b %d, %Y") + _family("%B %d, %Y") + _family("%d %B %Y"),
    "excel": [],
}
# day-first family -> month-first twin
AMBIGUOUS_PAIRS = {"%d/%m/%Y": "%m/%d/%Y", "%d/%m/%y": "%m/%d/%y", "%d-%m-%Y": "%m-%d-%Y"}
SHORTHANDS = {"dmy": "day", "mdy": "month", "ymd": "year"}


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fmt_list(formats: list[str]) -> str:
    return "[" + ", ".join(_q(f) for f in formats) + "]"


def date_sql(col: str, family: str, year_check: bool = True) -> str:
    """SQL parsing column ``col`` with a date family; out-of-range years become NULL.

    Without ``year_check`` the parse appears once instead of twice; the caller must then
    check the years of the whole column itself (the fast pass does, after the load)."""
    value = f"nullif(trim({col}), '')"
    if family == "excel":
        parsed = (f"CAST(DATE '1899-12-30' + CAST(floor(TRY_CAST({value} AS DOUBLE)) AS INTEGER) AS TIMESTAMP)")
        guard = f"TRY_CAST({value} AS DOUBLE) BETWEEN {EXCEL_SERIAL_MIN} AND {EXCEL_SERIAL_MAX}"
        return f"(CASE WHEN {guard} THEN {parsed} END)"
    formats = DATE_FAMILIES[family] if family in DATE_FAMILIES else _family(family)
    parsed = f"CAST(try_strptime({value}, {_fmt_list(formats)}) AS TIMESTAMP)"
    if family == "%Y-%m-%d":
        # ISO text: DuckDB's own cast is several times faster than strptime; strptime stays
        # as the fallback for the rarer ISO shapes the cast does not take.
        parsed = f"coalesce({iso_cast_sql(value)}, {parsed})"
    if not year_check:
        return parsed
    return f"(CASE WHEN year({parsed}) BETWEEN {YEAR_MIN} AND {YEAR_MAX} THEN {parsed} END)"


def iso_cast_sql(value: str) -> str:
    """DuckDB's timestamp cast, only for 'YYYY-MM-DD…' text (the cast alone also reads
    '03/01/19', which must go through family inference instead)."""
    # strpos, not substr: no string is built per row
    return f"(CASE WHEN strpos({value}, '-') = 5 THEN TRY_CAST({value} AS TIMESTAMP) END)"


@dataclass
class DateChoice:
    family: str | None
    parsed: int  # distinct values the family reads
    distinct: int  # distinct non-empty values


def infer_date_family(con, table: str, col: str, user_format: str | None = None, header: str = "",
                      where: str = "true") -> DateChoice:
    """The date family that reads the most distinct values of the whole column.

    Ties between a day-first and a month-first family (every value has day ≤ 12) are
    refused unless ``user_format`` decides: 'dmy', 'mdy', 'ymd' or a strptime format.
    """
    families = list(DATE_FAMILIES)
    if user_format and "%" in user_format:
        families = [user_format]
    select = ", ".join(
        f"count(*) FILTER (WHERE {date_sql('v', fam)} IS NOT NULL)" for fam in families)
    row = con.execute(
        f"""WITH d AS (SELECT DISTINCT trim({col}) AS v FROM "{table}" WHERE {where} AND nullif(trim({col}), '') IS NOT NULL)
            SELECT count(*), {select} FROM d""").fetchone()
    distinct, counts = row[0], dict(zip(families, row[1:]))
    if distinct == 0:
        return DateChoice(None, 0, 0)
    best = max(counts.values())
    if best == 0:
        return DateChoice(None, 0, distinct)
    tied = [fam for fam, n in counts.items() if n == best]
    if len(tied) > 1:
        shorthand = SHORTHANDS.get((user_format or "").lower())
        if shorthand == "day":
            tied = [f for f in tied if f.startswith("%d")] or tied
        elif shorthand == "month":
            tied = [f for f in tied if f.startswith(("%m", "%b"))] or tied
        elif shorthand == "year":
            tied = [f for f in tied if f.startswith("%Y")] or tied
    pairs = [(d, m) for d, m in AMBIGUOUS_PAIRS.items() if d in tied and m in tied]
    if pairs:
        example = con.execute(
            f"SELECT trim({col}) FROM \"{table}\" WHERE {where} AND nullif(trim({col}), '') IS NOT NULL LIMIT 1").fetchone()[0]
        raise IngestError("date_ambiguous", column=header, example=example, dmy=pairs[0][0], mdy=pairs[0][1])
    return DateChoice(tied[0], best, distinct)


# -- numbers ----------------------------------------------------------------------------------
_SYMBOLS = "[\\s ¥￥$€£元''’]|RMB|CNY|USD|EUR|GBP|HKD"


@dataclass
class NumberStyle:
    decimal_comma: bool
    plain: bool  # every non-empty value casts as it is: skip the cleaning regexes


def infer_number_styles(con, table: str, cols: list[str], delimiter: str | None,
                        where: str = "true") -> dict[str, NumberStyle]:
    """For each column: decimal comma or point, and whether values need cleaning at all.

    Decimal comma when some value shows it ('12,5', '1.234,56') and none shows a decimal
    point after a thousands comma ('1,234.56'); in a semicolon file a comma followed by
    three digits ('1,234') also counts as decimal, elsewhere as thousands.
    """
    if not cols:
        return {}
    parts = []
    for col in cols:
        v = f"nullif(trim({col}), '')"
        parts += [
            f"count({v})",
            f"count(TRY_CAST({v} AS DOUBLE))",
            f"count(*) FILTER (WHERE contains({v}, ','))",
            f"count(*) FILTER (WHERE contains({v}, ',') AND regexp_matches({v}, '\\.\\d{{3}},|,\\d{{1,2}}$|,\\d{{4,}}$|^[^.]*,\\d+[^\\d.,]*$'))",
            f"count(*) FILTER (WHERE contains({v}, ',') AND regexp_matches({v}, ',\\d{{3}}\\.\\d'))",
        ]
    row = con.execute(f'SELECT {", ".join(parts)} FROM "{table}" WHERE {where}').fetchone()
    styles = {}
    for i, col in enumerate(cols):
        filled, castable, commas, comma_dec, point_dec = row[5 * i: 5 * i + 5]
        if commas and comma_dec and not point_dec:
            unambiguous = con.execute(
                f"""SELECT count(*) FROM "{table}" WHERE {where} AND regexp_matches(trim({col}), '\\.\\d{{3}},|,\\d{{1,2}}$|,\\d{{4,}}$')"""
            ).fetchone()[0]
            decimal_comma = unambiguous > 0 or delimiter == "semicolon"
        else:
            decimal_comma = False
        styles[col] = NumberStyle(decimal_comma=decimal_comma, plain=filled == castable and commas == 0)
    return styles


def number_sql(col: str, style: NumberStyle, sql_type: str = "DOUBLE") -> str:
    """SQL parsing a number: currency symbols, thousands separators, decimal commas,
    '(12.50)' and trailing '12.50-' as negatives, '15%' as 0.15. Unreadable -> NULL."""
    v = f"nullif(trim({col}), '')"
    if style.plain:
        return f"TRY_CAST({v} AS {sql_type})"
    core = f"regexp_replace({v}, '{_SYMBOLS}', '', 'g')"
    if style.decimal_comma:
        core = f"replace(replace({core}, '.', ''), ',', '.')"
    else:
        core = f"replace({core}, ',', '')"
    negative = f"(starts_with({v}, '(') AND ends_with({v}, ')')) OR (ends_with({core}, '-') AND length({core}) > 1)"
    digits = f"trim(regexp_replace({core}, '[()%]|-$', '', 'g'))"
    number = f"TRY_CAST({digits} AS DOUBLE)"
    scaled = f"(CASE WHEN contains({v}, '%') THEN {number} / 100 ELSE {number} END)"
    signed = f"(CASE WHEN {negative} THEN -abs({scaled}) ELSE {scaled} END)"
    if sql_type == "DOUBLE":
        return signed
    # money: exact decimal from the cleaned text when possible (no binary rounding)
    exact = f"TRY_CAST({digits} AS {sql_type})"
    exact_scaled = f"(CASE WHEN contains({v}, '%') THEN CAST({signed} AS {sql_type}) ELSE {exact} END)"
    return f"(CASE WHEN {negative} THEN -abs({exact_scaled}) ELSE coalesce({exact_scaled}, CAST({signed} AS {sql_type})) END)"


def money_sql(col: str, style: NumberStyle) -> str:
    return number_sql(col, style, MONEY)


def id_sql(col: str) -> str:
    """An identifier: trimmed, empty -> NULL, integral floats '12923.0' -> '12923'; leading
    zeros and any other text kept as they are."""
    v = f"nullif(trim({col}), '')"
    # the regex only where a '.' appears in the raw text: most ids never pay for it, and the
    # trim is done once for them (10M lines: 2.4 s -> 1.9 s for one id column)
    return f"(CASE WHEN contains({col}, '.') THEN regexp_replace({v}, '^(\\d+)\\.0+$', '\\1') ELSE {v} END)"


def text_sql(col: str) -> str:
    return f"nullif(trim({col}), '')"
