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

from kam_analytics.errors import IngestError
from kam_analytics.ingest import parse_engine
from kam_analytics.ingest.canonical import canonical_columns, kept_lines, reject_reason, source_table
from kam_analytics.ingest.parse_engine import trimmed
from kam_analytics.schema import COLUMNS

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


def attach_table(store, backend, engine: str, name: str, table: str, overrides: dict[str, str] | None = None,
                 replace: bool = False, actor: str | None = None, date_format: str | None = None) -> AttachReport:
    """Register ``table`` (read by ``backend``) as dataset ``name``. Refused with a plain
    sentence when a required column cannot be mapped or has the wrong type; the store is then
    unchanged. The source's rows are counted once: loaded + rejected = rows of the table."""
    from kam_analytics.analytics.customers import dataset_totals
    from kam_analytics.ingest.load import _check_required, resolve_mapping
    from kam_analytics.store.records import iso_text
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
    by_reason = canonical.select(reason=reject_reason(canonical).fill_null("kept")).reason.value_counts().to_pandas()
    counts = dict(zip(by_reason["reason"], by_reason["reason_count"]))
    counts["source_rows"] = sum(counts.values())
    kept = kept_lines(canonical_columns(source, plan))
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
