"""Ingest one file into the store: read → map → parse → validate → atomic register.

All-or-nothing: everything is built in staging tables (``stg_…``) and registered in a
single transaction; a failure or a kill before that leaves every dataset as it was, and
the next open of the store drops the orphaned staging tables.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from kam_analytics.errors import FieldNames, IngestError, ReasonCounts
from kam_analytics.ingest import parse
from kam_analytics.ingest.raw import HEADER_SEARCH_ROWS, first_rows
from kam_analytics.ingest.read import RawTable, read_raw
from kam_analytics.schema import COLUMNS, MAP_ALIASES, MONEY, auto_mapping, normalise_header
from kam_analytics.store import DatasetMeta, Store, iso_text
from kam_analytics.tmpfiles import scratch_dir

REJECT_EXAMPLES = 5


@dataclass
class IngestReport:
    """What an ingest did; ``to_json`` is the ``ingest --json`` contract."""

    dataset: str
    rows: int
    rejected: int
    customers: int
    revenue: float
    encoding: str | None
    delimiter: str | None
    file_format: str
    sheet: str | None
    mapping: dict[str, str]
    date_min: str | None
    date_max: str | None
    date_formats: dict[str, str] = field(default_factory=dict)
    decimal_comma: list[str] = field(default_factory=list)
    amount_source: str = "column"
    discount_kind: str | None = None
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rejected_examples: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    replaced: bool = False
    single_pass: bool = False  # parsed in one direct pass over the file (formats from its first rows)
    # The row count both ways: ``file_records`` counted apart from the loader (``count_method``),
    # of which ``header_records`` are title lines and the header and ``blank_rows`` hold no value;
    # the rest, ``data_rows``, is exactly ``rows + rejected`` (checked before anything is saved).
    file_records: int = 0
    header_records: int = 0
    blank_rows: int = 0
    data_rows: int = 0
    count_method: str | None = None
    encoding_reason: str | None = None
    # of the ``rejected`` rows, those that are not data: total lines (合计, Total …) and
    # repeated header lines (their reasons: summary_row, header_repeated; title_line for the rest)
    summary_rows: int = 0
    repeated_headers: int = 0
    # repeated orders: lines identical in every column, order id included, beyond the first
    # copy (``repeated_lines``), their amount, and what was done: 'keep' (all loaded) or 'drop'
    # (one copy loaded; the others counted here, so data_rows = rows + rejected + duplicate_lines)
    duplicate_lines: int = 0
    duplicate_amount: float = 0.0
    duplicates: str = "keep"
    # customers whose lines name more than one group (``group_conflicts``): how many, and up
    # to GROUP_CONFLICT_EXAMPLES of them with every group named and the one kept
    group_conflicts: int = 0
    group_conflict_examples: list[dict] = field(default_factory=list)
    # each file's own accounting (``ingest_files``): file, detection, file_records =
    # header_records + blank_rows + rows + rejected; the report's counts are their sums
    files: list[dict] = field(default_factory=list)
    # an append (``ingest.append.AppendReport.to_json``): the rule and what it added and replaced;
    # then ``rows``, ``customers``, ``revenue`` and the dates are the dataset's after it, and
    # ``lines`` the lines the files brought (for a plain load, ``rows``)
    append: dict | None = None
    lines: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


def resolve_mapping(headers: list[str], overrides: dict[str, str] | None,
                    columns: dict[str, tuple[str, str]] = COLUMNS,
                    synonyms: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Automatic mapping, then the user's ``CANONICAL=SOURCE`` overrides (exact header, or the
    same header ignoring case and separators). An empty SOURCE removes a mapping."""
    mapping = auto_mapping(headers, columns, synonyms)
    for canonical, source in (overrides or {}).items():
        canonical = MAP_ALIASES.get(canonical, canonical)
        if canonical not in columns:
            raise IngestError("map_canonical_unknown", column=canonical, columns=", ".join(columns))
        if not source:
            mapping.pop(canonical, None)
            continue
        match = next((h for h in headers if h == source), None) or next(
            (h for h in headers if normalise_header(h) == normalise_header(source)), None)
        if match is None:
            raise IngestError("map_source_unknown", source=source, headers=", ".join(headers))
        for other, header in list(mapping.items()):
            if header == match and other != canonical and not (canonical == "customer_id" and other == "customer_name"):
                mapping.pop(other)
        mapping[canonical] = match
    return mapping


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise IngestError("map_syntax", pair=pair)
        canonical, source = pair.split("=", 1)
        out[canonical.strip()] = source.strip()
    return out


@dataclass(frozen=True)
class Rules:
    """What a kind of file reads into: its canonical ``columns`` (name -> (type, kind)), the
    columns it must map besides the amount (``required``), and ``who`` — the columns that say
    whom a row is about: a row is kept when at least one of them holds a value (transactions
    and receivables: the customer; costs: the customer or a dimension value), and refused as
    ``missing_reason`` when none does."""

    columns: dict = field(default_factory=lambda: COLUMNS)
    required: tuple[str, ...] = ("customer_id", "order_date")
    who: tuple[str, ...] = ("customer_id",)
    missing_reason: str = "customer_missing"
    synonyms: dict | None = None  # the header words (``schema.SYNONYMS`` when None)
    # keep each loaded row's number (``_row``) and the raw table (the caller drops it), for
    # checks made after the load; such files take the general path
    numbered: bool = False


TRANSACTIONS = Rules()


def _check_required(mapping: dict[str, str], headers: list[str], file: str,
                    required=("customer_id", "order_date"), who: tuple[str, ...] = ("customer_id",)) -> None:
    if len(who) > 1 and not any(c in mapping for c in who):
        raise IngestError("columns_missing_who", file=file, fields=FieldNames(list(who)), headers=", ".join(headers))
    missing = [c for c in required if c not in mapping]
    if "amount" not in mapping and not ("quantity" in mapping and "unit_price" in mapping):
        missing.append("amount")
    if missing:
        raise IngestError("columns_missing", file=file, missing=FieldNames(missing), headers=", ".join(headers))


class _Plan:
    """The SQL that turns one raw table into canonical columns."""

    def __init__(self, con, raw: RawTable, mapping: dict[str, str], date_format: str | None, file: str,
                 rules: Rules = TRANSACTIONS):
        self.raw, self.mapping, self.rules = raw, mapping, rules
        self.columns = rules.columns
        self.col = {canonical: raw.columns[raw.headers.index(h)] for canonical, h in mapping.items()}
        self.who = tuple(c for c in rules.who if c in self.col)
        self.nonblank = _nonblank_sql(raw.columns)
        self.where = f"rowid > {raw.header_rowid} AND {self.nonblank}"
        dates = [c for c, (_, kind) in self.columns.items() if kind == "date" and c in self.col]
        numeric = [c for c, (_, kind) in self.columns.items() if kind in ("money", "number", "rate") and c in self.col]
        ids = [c for c, (_, kind) in self.columns.items() if kind == "id" and c in self.col]
        texts = [c for c, (_, kind) in self.columns.items() if kind == "text" and c in self.col]
        profile = self._profile(con, dates, numeric, ids, texts)
        self.dotted = {c: profile[f"{c}:dots"] for c in ids}
        self.padded = {c: profile[f"{c}:padded"] for c in ids + texts}
        self.data_rows = profile["data_rows"]
        if self.data_rows == 0:
            raise IngestError("file_header_only", file=file)
        self.date_formats: dict[str, str] = {}
        self.warnings: list[str] = list(raw.warnings)
        for canonical in dates:
            filled_dates, iso = profile[f"{canonical}:filled"], profile[f"{canonical}:iso"]
            if date_format is None and filled_dates and iso == filled_dates:
                # every value is ISO text: no family to choose between
                self.date_formats[canonical] = "%Y-%m-%d"
                continue
            choice = parse.infer_date_family(con, raw.table, self.col[canonical], date_format,
                                             header=mapping[canonical], where=self.where)
            if choice.family is None:
                if canonical == "order_date":
                    example = con.execute(
                        f'SELECT trim({self.col[canonical]}) FROM "{raw.table}" WHERE {self.where} '
                        f"AND nullif(trim({self.col[canonical]}), '') IS NOT NULL LIMIT 1").fetchone()
                    raise IngestError("dates_unreadable", column=mapping[canonical],
                                      example=example[0] if example else "")
                self.warnings.append(f"date_column_ignored:{mapping[canonical]}")
                del self.col[canonical]
                continue
            self.date_formats[canonical] = choice.family
        plain = [c for c in numeric if profile[f"{c}:filled"] == profile[f"{c}:castable"] and not profile[f"{c}:commas"]]
        self.styles = {self.col[c]: parse.NumberStyle(decimal_comma=False, plain=True) for c in plain}
        self.styles.update(parse.infer_number_styles(
            con, raw.table, [self.col[c] for c in numeric if c not in plain], raw.delimiter, where=self.where))
        self.decimal_comma = [mapping[c] for c in numeric if self.styles[self.col[c]].decimal_comma]

    def _profile(self, con, dates: list[str], numeric: list[str], ids: list[str], texts: list[str]) -> dict:
        """One scan for what most files need: data rows, whether date columns are plain ISO
        text, whether number columns are plain numbers, how many ids hold a '.', how many ids
        and texts trimming would change. Only columns that are not plain get the slower
        whole-column inference afterwards."""
        parts = {"data_rows": "count(*)"}
        for canonical in ids + texts:
            col = self.col[canonical]
            parts[f"{canonical}:padded"] = f"count(*) FILTER (WHERE {col} <> trim({col}) OR {col} = '')"
            if canonical in ids:
                parts[f"{canonical}:dots"] = f"count(*) FILTER (WHERE contains({col}, '.'))"
        for canonical in dates + numeric:
            v = f"nullif(trim({self.col[canonical]}), '')"
            parts[f"{canonical}:filled"] = f"count({v})"
            if canonical in dates:
                parts[f"{canonical}:iso"] = f"count({parse.iso_cast_sql(v)})"
            else:
                parts[f"{canonical}:castable"] = f"count(TRY_CAST({v} AS DOUBLE))"
                parts[f"{canonical}:commas"] = f"count(*) FILTER (WHERE contains({v}, ','))"
        row = con.execute(f'SELECT {", ".join(parts.values())} FROM "{self.raw.table}" WHERE {self.where}').fetchone()
        return dict(zip(parts, row))

    def fast_forms(self) -> dict[str, str]:
        """Raw columns the fast pass takes in a simpler form than the general path, judged on
        the first rows; ``fast_checks`` then proves over the whole columns that the simple
        form gave what the general path would have:

        - ``"parsed"``: ISO dates and plain numbers, parsed by the CSV reader as it reads (a
          value it cannot parse stops the read, which sends the file down the general path);
        - ``"as read"``: ids and text with no value that trimming would change;
        - ``"trimmed"``: ids with no '.' (``parse.id_sql`` turns '12923.0' into '12923').
        """
        forms = {}
        for canonical, col in self.col.items():
            kind = self.columns[canonical][1]
            if kind == "date" and self.date_formats.get(canonical) == "%Y-%m-%d":
                forms[col] = "parsed"
            elif kind in ("money", "number", "rate") and self.styles[col].plain:
                forms[col] = "parsed"
            elif kind in ("id", "text") and not self.padded[canonical] and not self.dotted.get(canonical):
                forms[col] = "as read"
            elif kind == "id" and not self.dotted[canonical]:
                forms[col] = "trimmed"
        return forms

    def reader_types(self, forms: dict[str, str]) -> dict[str, str]:
        """The DuckDB types the CSV reader parses the ``"parsed"`` columns into."""
        kinds = {col: self.columns[canonical][1] for canonical, col in self.col.items()}
        return {col: "TIMESTAMP" if kinds[col] == "date" else MONEY if kinds[col] == "money" else "DOUBLE"
                for col, form in forms.items() if form == "parsed"}

    def fast_checks(self, forms: dict[str, str], maybe_padded: bool, stats: dict | None = None) -> list[str]:
        """Conditions, over the loaded canonical columns, true on a row the fast pass cannot
        keep: no customer, date or amount; or where a simple form gave something else than the
        general path: a year outside 1900–2100, an id like '12923.0', and, when the file's
        bytes hold a space character or an empty quoted value (``maybe_padded``, from the byte
        scan), a value that trimming would still change.

        ``stats`` (``column_stats`` of the loaded table) leaves out the conditions the storage
        statistics already rule out for a whole column: no NULL in it; its dates' years within
        range; no id that starts with a digit (the smallest value is past '9')."""
        stats = stats or {}
        known = lambda c: stats.get(c, ColumnStats())  # noqa: E731
        checks = [f"{c} IS NULL" for c in ("order_date", "amount") if known(c).may_be_null]
        if len(self.who) > 1 or known(self.who[0]).may_be_null:
            checks.append(f"{self.who_sql} IS NULL")
        for c in self.date_formats:
            if c in self.col and not known(c).years_within(parse.YEAR_MIN, parse.YEAR_MAX):
                checks.append(f"year({c}) NOT BETWEEN {parse.YEAR_MIN} AND {parse.YEAR_MAX}")
        for canonical, col in self.col.items():
            kind = self.columns[canonical][1]
            if forms.get(col) in ("as read", "trimmed") and kind == "id" and not known(canonical).starts_past_digits:
                checks.append(f"(contains({canonical}, '.') AND regexp_full_match({canonical}, '\\d+\\.0+'))")
            if forms.get(col) == "as read" and maybe_padded:
                checks.append(f"{canonical} <> trim({canonical}) OR {canonical} = ''")
        return checks

    def expr(self, canonical: str, year_check: bool = True, forms: dict | None = None) -> str:
        kind = self.columns[canonical][1]
        col = self.col[canonical]
        form = (forms or {}).get(col)
        if form in ("parsed", "as read"):
            return col
        if form == "trimmed":
            return parse.text_sql(col)
        if kind == "id":
            return parse.id_sql(col)
        if kind == "text":
            return parse.text_sql(col)
        if kind == "date":
            return parse.date_sql(col, self.date_formats[canonical], year_check)
        if kind == "money":
            return parse.money_sql(col, self.styles[col])
        return parse.number_sql(col, self.styles[col])

    @property
    def amount_derived(self) -> bool:
        return "amount" not in self.col

    def _amount_expr(self, forms: dict | None = None) -> str:
        if self.amount_derived:
            return (f"CAST(CAST({self.expr('quantity', forms=forms)} AS {MONEY}) * "
                    f"{self.expr('unit_price', forms=forms)} AS {MONEY})")
        return self.expr("amount", forms=forms)

    def select_list(self, year_check: bool = True, forms: dict | None = None) -> str:
        """The canonical columns; ``year_check=False`` leaves the 1900–2100 test of dates to
        the caller (``_fast_ingest`` checks the whole column once instead of every value twice);
        ``forms`` are the fast pass's simpler forms of some raw columns (``fast_forms``)."""
        exprs = {c: self.expr(c, year_check, forms) for c in self.columns if c in self.col}
        exprs["amount"] = self._amount_expr(forms)
        if "profit" not in exprs and "cost" in exprs:
            exprs["profit"] = f"CAST(({exprs['amount']}) - ({exprs['cost']}) AS {MONEY})"
        ordered = [c for c in self.columns if c in exprs]
        return ", ".join(f"{exprs[c]} AS {c}" for c in ordered)

    @property
    def who_sql(self) -> str:
        """NULL exactly when a row names none of the ``who`` columns (over canonical columns)."""
        return self.who[0] if len(self.who) == 1 else f"coalesce({', '.join(self.who)})"

    def required_select(self) -> str:
        """Only what deciding a rejection needs (the reject pass re-parses these)."""
        return "".join(f"{self.expr(c)} AS {c}, " for c in self.who) + \
            f"{self.expr('order_date')} AS order_date, {self._amount_expr()} AS amount"

    def _summary_sql(self) -> str:
        """A row holding a total or subtotal label (``SUMMARY_LABEL``) alone in one of its
        cells (the first WIDE_COLUMNS of a wider file)."""
        cells = self.raw.columns[:WIDE_COLUMNS]
        return " OR ".join(f"regexp_matches(lower(CAST({c} AS VARCHAR)), '{SUMMARY_LABEL}')" for c in cells) or "false"

    def _repeated_header_sql(self) -> str:
        """A row whose customer and date cells hold the header's own names again (a header
        line repeated: files joined end to end, a page break in a printed export)."""
        checks = []
        for c in ("customer_id", "order_date"):
            if c in self.col:
                name = self.mapping[c].replace("'", "''")
                checks.append(f"trim(CAST({self.col[c]} AS VARCHAR)) = '{name}'")
        return " AND ".join(checks) or "false"

    def reason_sql(self) -> str:
        """Why a row is set aside. A row that would be refused is first recognised for what
        it is — a repeated header line ('header_repeated'), a total or subtotal line such as
        合计, 小计 or Total ('summary_row'), a line with no customer, date or amount at all, such
        as a title or a note ('title_line') — else the first of customer, date, amount that
        fails. A date read by the column's rule but outside ``parse.YEAR_MIN``–``YEAR_MAX``
        (0001-01-01, an ERP's 9999-12-31 'no date') is set aside as out of range, not as
        unreadable."""
        raw = lambda c: f"nullif(trim({self.col[c]}), '')"  # noqa: E731
        if self.amount_derived:
            amount_missing = f"{raw('quantity')} IS NULL OR {raw('unit_price')} IS NULL"
        else:
            amount_missing = f"{raw('amount')} IS NULL"
        who = self.who_sql
        fails = f"({who} IS NULL OR order_date IS NULL OR amount IS NULL)"
        return f"""CASE
            WHEN {fails} AND ({self._repeated_header_sql()}) THEN 'header_repeated'
            WHEN {fails} AND ({self._summary_sql()}) THEN 'summary_row'
            WHEN {who} IS NULL AND order_date IS NULL AND amount IS NULL THEN 'title_line'
            WHEN {who} IS NULL THEN '{self.rules.missing_reason}'
            WHEN order_date IS NULL AND {raw('order_date')} IS NULL THEN 'date_missing'
            WHEN order_date IS NULL AND {self.expr('order_date', year_check=False)} IS NOT NULL
                THEN 'date_out_of_range'
            WHEN order_date IS NULL THEN 'date_unreadable'
            WHEN amount IS NULL AND ({amount_missing}) THEN 'amount_missing'
            WHEN amount IS NULL THEN 'amount_unreadable' END"""


@dataclass
class _Loaded:
    """A file read into a staging file: its canonical rows (``tx_table``) and the rows it
    refused with their reasons (``rej_table``); every data row is in one or the other."""

    raw: RawTable
    chosen: dict[str, str]
    plan: "_Plan"
    tx_table: str
    rej_table: str
    loaded: int
    reasons: dict[str, int]
    data_rows: int | None
    blank_rows: int
    examples: list[dict]
    discount_kind: str | None
    duplicate_lines: int = 0
    duplicate_amount: float = 0.0


def _load_rows(store: Store, con, path: Path, mapping: dict[str, str] | None, sheet: str | None,
               date_format: str | None, step, temp_files: list[Path], required=("customer_id", "order_date"),
               header_row: int | None = None, rules: Rules = TRANSACTIONS) -> _Loaded:
    """Read ``path`` into canonical rows and refused rows in the staging cursor ``con``, by the
    file rules (formats, rejects, counts that add up). Raises IngestError when the file cannot
    be used (the store is unchanged: nothing is published here). ``required``: the canonical
    columns besides the amount that the file must map (a receivables file needs due_date too);
    ``rules``: the kind of file (``Rules``; a costs file's are not the transactions')."""
    raw_table, tx_table, rej_table = store.staging_name(), store.staging_name(), store.staging_name()
    step(0.05, "progress_reading")
    tmp_dir = scratch_dir(store.path)
    raw = read_raw(con, path, raw_table, sheet=sheet, tmp_dir=tmp_dir, sample_rows=FAST_SAMPLE_ROWS, header_row=header_row)
    temp_files.extend(raw.temp_files)
    chosen = resolve_mapping(raw.headers, mapping, rules.columns, rules.synonyms)
    _check_required(chosen, raw.headers, path.name, required, rules.who)
    step(0.3, "progress_detecting")
    plan = _fast_ingest(con, raw, chosen, date_format, path.name, tx_table, step, rules) \
        if raw.full_source is not None and not rules.numbered else None
    if plan is None:
        if not raw.complete:  # the fast pass did not fit this file: read it all
            con.execute(f'DROP TABLE IF EXISTS "{raw_table}"')
            raw = read_raw(con, path, raw_table, sheet=sheet, tmp_dir=tmp_dir, header_row=header_row)
        plan = _Plan(con, raw, chosen, date_format, path.name, rules)
        step(0.6, "progress_parsing")
        # MATERIALIZED: without it the optimiser pushes the NOT NULL filter into the
        # parsing expressions and parses every date and amount twice (measured: 2x slower).
        numbered = f"{raw.row_number_sql()} AS _row, " if rules.numbered else ""
        con.execute(f"""CREATE TABLE "{tx_table}" AS WITH parsed AS MATERIALIZED (
            SELECT {numbered}{plan.select_list()} FROM "{raw_table}" WHERE {plan.where})
            SELECT * FROM parsed
            WHERE {plan.who_sql} IS NOT NULL AND order_date IS NOT NULL AND amount IS NOT NULL""")
        data_rows = plan.data_rows
        blank_rows = raw.records - raw.leading_records - plan.data_rows
    else:
        data_rows = None  # the fast pass only stands when every data row loaded
        blank_rows = raw.blank_records
    rownum = raw.row_number_sql()
    loaded = con.execute(f'SELECT count(*) FROM "{tx_table}"').fetchone()[0]
    step(0.8, "progress_validating")
    raw_cells = ", ".join(raw.columns)
    # Every data row loaded: the reject table is empty, so skip re-parsing the file for it.
    no_rejects = "AND false" if data_rows is None or loaded == data_rows else ""
    con.execute(f"""CREATE TABLE "{rej_table}" AS SELECT "row", reason, {raw_cells} FROM (
        SELECT *, {plan.reason_sql()} AS reason FROM (
            SELECT {rownum} AS "row", {raw_cells}, {plan.required_select()}
            FROM "{raw_table}" WHERE {plan.where} {no_rejects}))
        WHERE reason IS NOT NULL""")
    reasons = dict(con.execute(
        f'SELECT reason, count(*) FROM "{rej_table}" GROUP BY reason ORDER BY count(*) DESC').fetchall())
    rejected = sum(reasons.values())
    if data_rows is not None and loaded + rejected != data_rows:
        # cannot happen by construction; if it ever does, nothing is saved
        raise IngestError("file_count_mismatch", file=path.name, counted=f"{data_rows:,}",
                          read=f"{loaded + rejected:,}")
    if loaded == 0:
        raise IngestError("no_usable_rows", file=path.name, reasons=ReasonCounts(reasons))
    discount_kind = _normalise_discount(con, tx_table) if "discount" in plan.col else None
    examples = _reject_examples(con, rej_table, raw)
    # the raw table is a TEMP table of this cursor's connection: dropped before the swap
    if not rules.numbered:
        con.execute(f'DROP TABLE IF EXISTS "{raw_table}"')
    return _Loaded(raw, chosen, plan, tx_table, rej_table, int(loaded), reasons, data_rows, int(blank_rows),
                   examples, discount_kind)


def ingest_file(store: Store, path: str | Path, dataset: str | None = None, **options) -> IngestReport:
    """Load one file as dataset ``dataset`` (default: the file name without extension):
    ``ingest_files`` of that one file."""
    return ingest_files(store, [path], dataset=dataset, **options)


def ingest_files(store: Store, paths: list[str | Path], dataset: str | None = None,
                 mapping: dict[str, str] | None = None, sheet: str | None = None,
                 date_format: str | None = None, replace: bool = False,
                 progress: Callable[[float, str], None] | None = None, actor: str | None = None,
                 duplicates: str = "keep", header_row: int | None = None,
                 append: bool = False, overlap: str | None = None) -> IngestReport:
    """Load the files ``paths`` — pieces of one export — as dataset ``dataset`` (default: the
    first file's name without extension), in one version.

    Each file is read by its own rules (format, encoding, delimiter, date formats) and its rows
    are accounted for on their own (``IngestReport.files``); the files must map to the same
    canonical columns, else the first that does not is refused by name with the columns it
    lacks (or has beyond the others) and nothing is saved. Raises IngestError (a plain
    sentence) when a file cannot be used; the store is then unchanged. Rows without customer,
    date or amount are kept aside with their reason and their file. Repeated order lines
    (``repeated_lines``, over all the files) are counted in the report; ``duplicates='drop'``
    keeps one copy of each, 'keep' (the default) keeps them all, and 'ask' refuses the load
    when there are any (``duplicates_found``, with their count and amount; nothing is saved),
    so the user chooses before anything is saved.

    With ``append`` the lines join the existing dataset ``dataset`` as a new version
    (``ingest.append``: ``overlap`` says which of its lines the files replace — 'orders',
    'days' or 'none'; default 'orders' when the lines have order ids, else 'days'); the lines
    already stored are not copied.
    """
    if duplicates not in DUPLICATE_CHOICES:
        raise ValueError(duplicates)
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no files")
    _check_distinct(paths)
    name = (dataset or paths[0].stem).strip()
    if not name:
        raise IngestError("dataset_name_empty")
    step = progress or (lambda fraction, key: None)
    before = store.find(name)  # a load that another one overtakes is refused at the swap
    if append and before is None:
        raise IngestError("append_unknown", name=name)
    if not replace and not append and before is not None:
        raise IngestError("dataset_exists_ingest", name=name)
    if append and before.engine != "duckdb":
        raise IngestError("append_attached", name=name)
    temp_files: list[Path] = []
    # The load writes a file of its own (``Store.staging``), published in one catalog step.
    with store.staging("tx") as (stage, con):
        try:
            pieces = []
            for index, path in enumerate(paths):
                def piece_step(fraction, key, index=index):
                    step((index + fraction) / len(paths), key)
                pieces.append(_load_rows(store, con, path, mapping, sheet, date_format, piece_step, temp_files,
                                         header_row=header_row))
                _check_same_columns(con, paths, pieces)
            done = pieces[0] if len(pieces) == 1 else _union_pieces(store, con, paths, pieces)
            raw, plan = done.raw, done.plan
            done.duplicate_lines, done.duplicate_amount = repeated_lines(con, done.tx_table, drop=duplicates == "drop")
            if duplicates == "ask" and done.duplicate_lines:
                raise IngestError("duplicates_found", file=_names(paths), lines=f"{done.duplicate_lines:,}",
                                  amount=f"{done.duplicate_amount:,.2f}")
            conflicts, conflict_examples = group_conflicts(con, done.tx_table)
            files = [_file_account(path, piece) for path, piece in zip(paths, pieces)]
            meta = DatasetMeta(
                source_file=_names(paths), file_format=raw.file_format, encoding=raw.encoding,
                delimiter=raw.delimiter, mapping=done.chosen,
                details={"headers": raw.headers, "sheet": raw.sheet, "date_formats": plan.date_formats,
                         "decimal_comma": plan.decimal_comma, "amount_source": _amount_source(plan),
                         "discount_kind": done.discount_kind, "warnings": plan.warnings,
                         "duplicate_lines": done.duplicate_lines, "duplicate_amount": done.duplicate_amount,
                         "duplicates": duplicates, "group_conflicts": conflicts,
                         "group_conflict_examples": conflict_examples,
                         "source_files": [p.name for p in paths], **({"files": files} if len(paths) > 1 else {})},
            )
            step(0.95, "progress_saving")
            existed = before is not None
            totals = store.staged_totals(stage, done.tx_table)
            appended = None
            if append:
                from kam_analytics.ingest.append import append_lines

                registered, appended = append_lines(store, before, stage, con, done.tx_table, done.rej_table, meta,
                                                    totals, overlap, actor=actor)
            else:
                registered = store.commit_dataset(name, stage, done.tx_table, done.rej_table, meta, totals,
                                                  replace=replace, expected_version=before.version if before else None,
                                                  actor=actor)
        finally:
            for temp in temp_files:
                temp.unlink(missing_ok=True)
    step(1.0, "progress_done")
    report = IngestReport(
        dataset=registered.name, rows=registered.rows, rejected=registered.rejected,
        customers=registered.customers, revenue=registered.revenue, encoding=raw.encoding,
        delimiter=raw.delimiter, file_format=raw.file_format, sheet=raw.sheet, mapping=done.chosen,
        date_min=iso_text(registered.date_min, " "), date_max=iso_text(registered.date_max, " "),
        date_formats=plan.date_formats, decimal_comma=plan.decimal_comma,
        amount_source=_amount_source(plan), discount_kind=done.discount_kind, rejected_reasons=done.reasons,
        rejected_examples=done.examples, warnings=plan.warnings, replaced=existed and not append,
        single_pass=done.data_rows is None,
        file_records=sum(f["file_records"] for f in files), header_records=sum(f["header_records"] for f in files),
        blank_rows=sum(f["blank_rows"] for f in files),
        data_rows=sum(f["data_rows"] for f in files),
        count_method=raw.count_method, duplicate_lines=done.duplicate_lines, duplicate_amount=done.duplicate_amount,
        duplicates=duplicates, group_conflicts=conflicts, group_conflict_examples=conflict_examples,
        encoding_reason=raw.encoding_reason, summary_rows=done.reasons.get("summary_row", 0),
        repeated_headers=done.reasons.get("header_repeated", 0), files=files,
    )
    report.lines = done.loaded - (done.duplicate_lines if duplicates == "drop" else 0)
    if appended is not None:
        report.append = appended
    return report


def _names(paths: list[Path]) -> str:
    """The files of a load as the catalog and the messages name them: 'a.csv', or 'a.csv + 2 more'."""
    return paths[0].name if len(paths) == 1 else f"{paths[0].name} + {len(paths) - 1}"


def _check_distinct(paths: list[Path]) -> None:
    """The same file named twice in one load would count its lines twice: refused by name."""
    seen: dict[Path, Path] = {}
    for path in paths:
        key = path.resolve() if path.exists() else path
        if key in seen:
            raise IngestError("files_repeated", file=path.name)
        seen[key] = path


def _check_same_columns(con, paths: list[Path], pieces: list) -> None:
    """The last piece read must have the canonical columns of the first: else it is refused
    by name with the columns it lacks and those it has beyond the first file's."""
    if len(pieces) < 2:
        return
    first = _canonical_columns(con, pieces[0].tx_table)
    last = _canonical_columns(con, pieces[-1].tx_table)
    if first != last:
        raise IngestError("files_columns_differ", file=paths[len(pieces) - 1].name, first=paths[0].name,
                          lacks=FieldNames(sorted(first - last, key=list(COLUMNS).index)),
                          extra=FieldNames(sorted(last - first, key=list(COLUMNS).index)))


def _canonical_columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}


def _union_pieces(store: Store, con, paths: list[Path], pieces: list) -> "_Loaded":
    """The pieces' lines as one table (the first file's column order) and their refused rows as
    one (with the file each came from, and its raw cells under ``c1``, ``c2`` … of that file:
    files differ in their raw columns). The first piece stands for the report's detection
    fields (encoding, mapping …); the counts are summed."""
    first = pieces[0]
    tx, rej = store.staging_name(), store.staging_name()
    order = ", ".join(f'"{c}"' for c in [r[0] for r in con.execute(f'DESCRIBE "{first.tx_table}"').fetchall()])
    con.execute(f'CREATE TABLE "{tx}" AS ' + " UNION ALL ".join(
        f'SELECT {order} FROM "{p.tx_table}"' for p in pieces))
    con.execute(f'CREATE TABLE "{rej}" AS ' + " UNION ALL BY NAME ".join(
        f'SELECT {_sql_text(path.name)} AS file, * FROM "{p.rej_table}"' for path, p in zip(paths, pieces)))
    for p in pieces:
        con.execute(f'DROP TABLE IF EXISTS "{p.tx_table}"')
        con.execute(f'DROP TABLE IF EXISTS "{p.rej_table}"')
    reasons: dict[str, int] = {}
    for p in pieces:
        for key, count in p.reasons.items():
            reasons[key] = reasons.get(key, 0) + count
    examples = [{**e, "file": path.name} for path, p in zip(paths, pieces) for e in p.examples][:REJECT_EXAMPLES]
    data_rows = None if any(p.data_rows is None for p in pieces) else sum(p.data_rows for p in pieces)
    kinds = {p.discount_kind for p in pieces if p.discount_kind}
    return _Loaded(first.raw, first.chosen, first.plan, tx, rej, sum(p.loaded for p in pieces), reasons, data_rows,
                   sum(p.blank_rows for p in pieces), examples, kinds.pop() if len(kinds) == 1 else None)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_account(path: Path, piece) -> dict:
    """One file's own accounting, as the report lists it: its detection and records = header +
    blank + loaded + rejected."""
    raw = piece.raw
    rejected = sum(piece.reasons.values())
    return {"file": path.name, "file_format": raw.file_format, "encoding": raw.encoding, "delimiter": raw.delimiter,
            "sheet": raw.sheet, "file_records": raw.records or 0, "header_records": raw.leading_records,
            "blank_rows": piece.blank_rows, "data_rows": piece.loaded + rejected, "rows": piece.loaded,
            "rejected": rejected, "rejected_reasons": dict(piece.reasons), "date_formats": dict(piece.plan.date_formats),
            "count_method": raw.count_method}


FAST_SAMPLE_ROWS = 200_000
DUPLICATE_CHOICES = ("keep", "drop", "ask")


def repeated_lines(con, table: str, drop: bool = False) -> tuple[int, float]:
    """Lines of the canonical ``table`` that repeat another line exactly — the same order id
    (lines without one are never counted), customer, date, amount and every other column: an
    order exported twice, in one file or in two of one load. Returns (lines beyond the first
    copy, their amount, rounded to the cent); with ``drop`` those copies are removed from
    ``table``, one of each kept. Counted in the database (one grouping)."""
    columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    if "order_id" not in columns:
        return 0, 0.0
    every = ", ".join(f'"{c}"' for c in columns)
    lines, amount = con.execute(f"""SELECT coalesce(sum(n - 1), 0), coalesce(sum(amount * (n - 1)), 0) FROM (
        SELECT {every}, count(*) AS n FROM "{table}" WHERE order_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1)
        """).fetchone()
    if drop and lines:
        con.execute(f"""CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM "{table}" WHERE order_id IS NULL
                        UNION ALL SELECT DISTINCT * FROM "{table}" WHERE order_id IS NOT NULL""")
    return int(lines), round(float(amount), 2)


GROUP_CONFLICT_EXAMPLES = 5
# The rule that picks a customer's group from its lines, in SQL over a table with order_date
# and customer_group (``group_conflicts`` here, ``service.group_map`` on the engines): the
# group of the latest line; among lines of that same instant, the greatest group text.
GROUP_PICK_KEY = "strftime(order_date, '%Y-%m-%d %H:%M:%S.%f') || chr(31) || customer_group"


def group_conflicts(con, table: str) -> tuple[int, list[dict]]:
    """Customers of the canonical ``table`` whose lines give more than one group: how many,
    and the first ``GROUP_CONFLICT_EXAMPLES`` by customer id as {customer_id, groups (sorted),
    kept} — kept is the group of the customer's latest line (``GROUP_PICK_KEY``), which every
    figure by group uses. Nothing is merged or dropped: the load says so. (0, []) when the
    file has no group column."""
    columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    if "customer_group" not in columns:
        return 0, []
    rows = con.execute(f"""
        SELECT customer_id, list(DISTINCT customer_group ORDER BY customer_group), max({GROUP_PICK_KEY}),
               count(*) OVER ()
        FROM "{table}" WHERE customer_group IS NOT NULL
        GROUP BY customer_id HAVING count(DISTINCT customer_group) > 1
        ORDER BY customer_id LIMIT {GROUP_CONFLICT_EXAMPLES}""").fetchall()
    if not rows:
        return 0, []
    examples = [{"customer_id": r[0], "groups": list(r[1]), "kept": r[2].split(chr(31), 1)[1]} for r in rows]
    return int(rows[0][3]), examples


def _fast_ingest(con, raw: RawTable, mapping: dict[str, str], date_format: str | None, file: str,
                 tx_table: str, step, rules: Rules = TRANSACTIONS) -> _Plan | None:
    """One direct pass over a long text file, with formats inferred from its first rows.

    It stands only if every data row of the whole file parses (which also proves the formats
    read the whole column); otherwise the table is dropped and None returned, and the caller
    takes the general path (whole file loaded, whole-column inference, rejects with row
    numbers). Only plain numbers and an undisputed date format qualify, so a format that
    reads every value but differently from the rest of the file cannot slip through.
    """
    try:
        plan = _Plan(con, raw, mapping, date_format, file, rules)
    except IngestError:
        return None
    if not all(style.plain for style in plan.styles.values()):
        return None
    step(0.4, "progress_parsing")
    try:
        # Row order inside the table carries no meaning; not preserving it lets DuckDB write
        # in parallel (measured 11.2 s -> 9.1 s on 10 million rows).
        con.execute("SET preserve_insertion_order = false")
        # Lines with no cell at all (",,,") are left out by a NULL test, which costs nothing; a
        # line of only spaces gets through, has no customer, and sends the file down the
        # general path, so the cheaper test changes no result.
        some_cell = plan.nonblank if len(raw.columns) > WIDE_COLUMNS else \
            "NOT (" + " AND ".join(f"{c} IS NULL" for c in raw.columns) + ")"
        forms = plan.fast_forms()
        types = plan.reader_types(forms)
        con.execute(f"""CREATE TABLE "{tx_table}" AS SELECT {plan.select_list(year_check=False, forms=forms)}
            FROM {raw.full_source(types=types)} WHERE {some_cell}""")
    except Exception:
        con.execute(f'DROP TABLE IF EXISTS "{tx_table}"')
        return None
    finally:
        con.execute("RESET preserve_insertion_order")
    # Every record of the file after the header must be here, or a blank one: counted apart
    # from DuckDB (in a thread, while DuckDB read), so a reader that stopped early cannot pass
    # for a complete load. NUL bytes found by the count send the file down the general path.
    raw.settle()
    expected = raw.records - raw.leading_records - raw.blank_records
    checks = plan.fast_checks(forms, raw.maybe_padded, column_stats(con, tx_table))
    wrong = " OR ".join(f"({check})" for check in checks) or "false"
    unreadable, loaded = con.execute(f'SELECT count(*) FILTER (WHERE {wrong}), count(*) FROM "{tx_table}"').fetchone()
    if unreadable or loaded != expected or raw.has_nul:
        con.execute(f'DROP TABLE "{tx_table}"')
        return None
    return plan


WIDE_COLUMNS = 64
# a cell that labels a total line: 合计 总计 小计 共计 总合计 (spaces allowed between the
# characters), Total, Totals, Subtotal, Sub-total, Grand total — alone in its cell, a colon after it allowed
SUMMARY_LABEL = r"^\s*(总\s*合\s*计|合\s*计|总\s*计|小\s*计|共\s*计|grand\s*total|sub-?\s*totals?|totals?)\s*[:：]?\s*$"


@dataclass(frozen=True)
class ColumnStats:
    """What DuckDB's storage statistics say of a whole column (``column_stats``); the defaults
    say nothing (every check must run)."""

    may_be_null: bool = True
    low: object = None  # the smallest value (for text, a prefix of it: a lower bound)
    high: object = None

    def years_within(self, first: int, last: int) -> bool:
        return hasattr(self.low, "year") and hasattr(self.high, "year") and first <= self.low.year \
            and self.high.year <= last

    @property
    def starts_past_digits(self) -> bool:
        """No value starts with a character up to '9' (so none is '<digits>.0')."""
        return isinstance(self.low, str) and self.low >= ":"


def column_stats(con, table: str) -> dict[str, ColumnStats]:
    """Per column of a table just written, from DuckDB's storage statistics (``pragma
    storage_info``: kept per segment as the data is written, read without a scan): whether any
    value is NULL, the smallest and the largest. The fast pass skips the checks these answer
    for a whole column (20 ms instead of 0.3–0.5 s on ten million lines)."""
    found: dict[str, dict] = {}
    for column, kind, stats in con.execute(
            "SELECT column_name, segment_type, stats FROM pragma_storage_info(?)", [table]).fetchall():
        entry = found.setdefault(column, {"null": False, "low": [], "high": [], "complete": True})
        stats = stats or {}
        entry["null"] |= bool(stats.get("has_null", True))
        if kind == "VALIDITY":
            continue
        if "min" in stats and "max" in stats and stats["min"] is not None and stats["max"] is not None:
            entry["low"].append(stats["min"])
            entry["high"].append(stats["max"])
        else:
            entry["complete"] = False
    return {column: ColumnStats(e["null"], min(e["low"]) if e["complete"] and e["low"] else None,
                                max(e["high"]) if e["complete"] and e["high"] else None)
            for column, e in found.items()}


def _nonblank_sql(columns: list[str]) -> str:
    """A row holds a value in some cell. Per-cell tests short-circuit (fastest on ordinary
    files); past ``WIDE_COLUMNS`` one test on the cells joined, as thousands of ORs take DuckDB
    seconds to plan (10,000 columns: 2.0 s vs 0.4 s). Same answer: a text trims to '' exactly
    when each of its parts does."""
    if len(columns) <= WIDE_COLUMNS:
        return "(" + " OR ".join(f"nullif(trim({c}), '') IS NOT NULL" for c in columns) + ")"
    return "(trim(concat_ws('', " + ", ".join(columns) + ")) <> '')"


def _amount_source(plan: _Plan) -> str:
    return "quantity_x_unit_price" if plan.amount_derived else "column"


def _normalise_discount(con, table: str) -> str:
    """Discount is stored as a rate 0–1. A column whose values exceed 1 holds amounts: the
    rate is then discount / (amount + discount), the share of the list price given away."""
    largest = con.execute(f'SELECT max(abs(discount)) FROM "{table}"').fetchone()[0]
    if largest is None or largest <= 1:
        return "rate"
    con.execute(f"""UPDATE "{table}" SET discount = CASE
        WHEN CAST(amount AS DOUBLE) + discount > 0 THEN discount / (CAST(amount AS DOUBLE) + discount) END""")
    return "amount"


def _reject_examples(con, table: str, raw: RawTable) -> list[dict]:
    rows = con.execute(f'SELECT * FROM "{table}" ORDER BY "row" LIMIT {REJECT_EXAMPLES}').fetchall()
    out = []
    for row in rows:
        cells = {h: v for h, v in zip(raw.headers, row[2:]) if v is not None}
        out.append({"row": int(row[0]), "reason": row[1], "values": cells})
    return out


@dataclass
class Preview:
    """What the upload page shows before loading: detection results and the first rows."""

    headers: list[str]
    rows: list[list]
    encoding: str | None
    delimiter: str | None
    file_format: str
    sheet: str | None
    sheets: list[str]
    mapping: dict[str, str]
    date_formats: dict[str, str]
    error: str | None = None  # an IngestError key when detection already shows a problem
    error_params: dict = field(default_factory=dict)
    header_row: int = 1  # the line (text) or row (sheet), from 1, that holds the column names
    header_rows: int = 1  # how many of the first records a header may be chosen from


PREVIEW_BYTES = 2 << 20


def _preview_head(path: Path, head: bytes) -> bytes:
    """What the preview reads of a text file longer than ``PREVIEW_BYTES``: its whole lines within
    that, or — when those are fewer than two (a header and a row) — its first two lines, each
    as long as a load reads (the header within ``read.SAMPLE_BYTES``, a row within
    ``text.MAX_LINE_BYTES``). A longer line is refused as the load refuses it, in the same words
    (a 12 MB file of one line was previewed as "no data rows")."""
    from kam_analytics.ingest.read import SAMPLE_BYTES
    from kam_analytics.ingest.text import MAX_LINE_BYTES

    cut = head[: head.rfind(b"\n", 0, PREVIEW_BYTES) + 1]
    if cut.count(b"\n") >= 2:
        return cut
    with open(path, "rb") as fh:
        more = fh.read(2 * MAX_LINE_BYTES + 2)
    start = 0
    # the load reads the header within its first SAMPLE_BYTES, and any other line up to MAX_LINE_BYTES
    for line, limit in ((1, SAMPLE_BYTES), (2, MAX_LINE_BYTES)):
        end = more.find(b"\n", start)
        length = (end if end >= 0 else len(more)) - start
        if length >= limit:
            raise IngestError("file_line_too_long", file=path.name, line=line, limit=f"{limit:,}")
        if end < 0:
            return more
        start = end + 1
    return more[:start]


def preview_file(path: str | Path, sheet: str | None = None, mapping: dict[str, str] | None = None,
                 date_format: str | None = None, rows: int = 20, header_row: int | None = None) -> Preview:
    """Read the start of ``path`` (2 MB of a text file) into a throw-away in-memory database
    and report what an ingest would detect. Raises IngestError when the file is unusable."""
    import duckdb

    from kam_analytics.ingest.read import sniff_format

    path = Path(path)
    source = path
    temp = None
    if path.exists() and path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(PREVIEW_BYTES + 1)
        if sniff_format(path, head[:8]) == "text" and len(head) > PREVIEW_BYTES:
            import tempfile

            cut = _preview_head(path, head)
            fd, name = tempfile.mkstemp(suffix=path.suffix or ".csv")
            with open(fd, "wb") as out:
                out.write(cut)
            source = temp = Path(name)
    con = duckdb.connect()
    try:
        try:
            raw = read_raw(con, source, "stg_preview", sheet=sheet, header_row=header_row)
        except IngestError as error:  # (read from a copy of the head: the sentence names the user's file)
            if temp is None or "file" not in error.params:
                raise
            raise IngestError(error.key, **{**error.params, "file": path.name}) from None
        chosen = resolve_mapping(raw.headers, mapping)
        preview_rows = [row[1:] for row in first_rows(con, "stg_preview", raw.header_rowid + 1 + int(rows),
                                                      ", ".join(raw.columns)) if row[0] > raw.header_rowid]
        filled = [list(r) for r in preview_rows if any(v is not None and str(v).strip() for v in r)]
        result = Preview(raw.headers, filled, raw.encoding, raw.delimiter,
                         raw.file_format, raw.sheet, raw.sheets, chosen, {}, header_row=max(1, raw.header_rowid + 1),
                         header_rows=HEADER_SEARCH_ROWS)
        try:
            _check_required(chosen, raw.headers, path.name)
            plan = _Plan(con, raw, chosen, date_format, path.name)
            result.date_formats = plan.date_formats
        except IngestError as error:
            result.error, result.error_params = error.key, error.params
        return result
    finally:
        con.close()
        if temp is not None:
            temp.unlink(missing_ok=True)
