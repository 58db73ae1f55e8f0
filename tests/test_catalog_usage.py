"""Every catalog key the code asks for exists in both languages — the literal ones, and the
ones built at run time (f"flag_name_{flag}", "reject_" + reason), expanded over the values the
code can produce. A new run-time key pattern fails ``test_every_built_key_is_registered``
until its values are listed in BUILT below."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kam_analytics import access
from kam_analytics import service
from kam_analytics.analytics import accounts, churn, concentration, receivables, rfm
from kam_analytics.models import calibration
from kam_analytics.analytics import reviews as review_math
from kam_analytics.notify import rules as alert_rules
from kam_analytics.i18n import catalog
from kam_analytics.ingest.text import DELIMITER_NAMES
from kam_analytics.schema import ATTRIBUTE_COLUMNS, COLUMNS, DIMENSIONS
from kam_analytics.store import FOLLOWUP_STATUSES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("kam_analytics/**/*.py"), *ROOT.glob("app_pages/*.py"), *ROOT.glob("ui/*.py"), ROOT / "app.py"])
CALL = re.compile(r"""\b(?:t|tr|labeller|frame)\(\s*(f?)"([^"]*)"(\s*\+)?""")
ERROR = re.compile(r"""\b(?:IngestError|StoreError|KamError|AuthError|AccessDenied|AccessConfigError|EngineError)\(\s*"([a-z0-9_]+)\"""")

FIELDS = [*COLUMNS, *ATTRIBUTE_COLUMNS, *DIMENSIONS]
CHURN_REASONS = ["overdue", "silent", "revenue_down", "orders_down", "basket_down", "paying_late", "pattern", "slowing", "year_ago_down", "rhythm", "one_order",
                 "paying_later", "overdue_rising"]
REJECT_REASONS = ["customer_missing", "date_missing", "date_out_of_range", "date_unreadable", "amount_missing",
                  "amount_unreadable", "header_repeated", "summary_row", "title_line"]
CLUSTER_WORDS = ["recent", "lapsing", "dormant", "frequent", "occasional", "rare", "high", "mid", "low",
                 "long_standing", "established", "new", "all"]

# the start of a built key -> the values the code fills in (from the code's own constants
# where it has them). A pattern "x_{…}_help" is written as its start and its end.
BUILT: dict[tuple[str, str], list[str]] = {
    ("tier_", ""): [*accounts.TIERS, "none"],
    ("criterion_", ""): list(accounts.CRITERIA),
    ("criterion_", "_help"): list(accounts.CRITERIA),
    ("ka_basis_", ""): ["profit", "score"],
    ("flag_name_", ""): list(accounts.FLAGS),
    ("flag_help_", ""): list(accounts.FLAGS),
    ("axis_", ""): ["month", "quarter"],
    ("status_", ""): list(FOLLOWUP_STATUSES),
    ("seg_dim_", ""): ["r", "f", "m"],
    ("reason_", ""): REJECT_REASONS,
    ("reject_", ""): REJECT_REASONS,
    ("measure_", ""): ["revenue", "profit", "receivables"],
    ("recv_", ""): list(receivables.BUCKETS),
    ("receivables_flag_", ""): list(receivables.FLAGS),
    ("recv_scope_", ""): ["key", "all"],
    ("ka_change_", ""): ["entered", "left"],
    ("hhi_level_", ""): ["low", "moderate", "high"],
    ("format_", ""): ["text", "xlsx", "xls", "xlsb", "ods", "parquet"],
    ("flag_", ""): list(concentration.FLAGS),
    ("field_", ""): FIELDS,
    ("delimiter_", ""): [*DELIMITER_NAMES.values(), "whitespace_wide", "whitespace_any", "fixed_width"],
    ("cluster_word_", ""): CLUSTER_WORDS,
    ("churn_rule_", ""): ["history_short", "labels_few", "no_accounts", "history_short_bgnbd", "labels_few_bgnbd"],
    ("churn_method_", ""): ["model", "rule"],
    ("churn_reason_", ""): CHURN_REASONS,
    ("warning_", ""): ["date_column_ignored", "duplicate_headers", "merged_filled", "nul_removed", "undecodable_bytes"],
    ("encoding_reason_", ""): ["bom", "utf16_nul", "utf8_valid", "legacy_guess", "legacy_after_ascii"],
    ("count_method_", ""): ["byte scan", "csv module", "line count", "sheet rows", "parquet metadata"],
    # labeller("prefix_") over the options of a widget
    ("churn_scope_", ""): ["key", "all"],
    ("churn_list_", ""): ["at_risk", "lapsed", "all"],
    ("open_churn_", ""): ["at_risk", "lapsed"],
    ("churn_followup_group_", ""): ["followed", "not_followed"],
    ("churn_list_empty_", ""): ["at_risk", "lapsed", "all"],
    ("churn_calibration_", ""): [*calibration.METHODS, "none"],
    ("churn_ranker_", ""): list(churn.CANDIDATES),
    ("date_format_", ""): ["auto", "dmy", "mdy", "ymd"],
    ("ka_freq_", ""): ["quarter", "half", "year"],
    ("ka_preset_", ""): ["saved", *accounts.PRESETS],
    ("ka_rule_", ""): ["score", "tiers"],
    ("ka_settings_changed_", ""): ["weights", "tiers"],
    ("period_", ""): ["all", "last_12_months", "this_year", "last_year", "custom"],
    ("segment_", ""): list(rfm.SEGMENT_ORDER),
    ("whatif_mode_", ""): ["top", "pick"],
    ("whatif_direction_", ""): ["up", "down", "same"],
    ("account_key_", ""): ["score_above", "score_below", "tier_in", "tier_out"],
    ("standing_", ""): ["active", "lapsed", "gone"],
    ("account_member_", ""): ["lapsed", "gone"],
    ("by_", ""): list(service.LEVELS),
    ("flag_measure_", ""): ["revenue", "profit"],
    ("upload_existing_", ""): ["none", "replace", "append"],
    ("upload_overlap_", ""): ["orders", "days", "none"],
    ("append_done_", ""): ["orders", "days", "none"],
    ("upload_duplicates_", ""): ["ask", "keep", "drop"],
    ("file_churn_", ""): ["at_risk", "lapsed", "all"],
    ("cli_duplicates_", ""): ["keep", "drop"],
    ("report_duplicates_", ""): ["keep", "drop"],
    ("role_", ""): [*access.ROLES, "none"],
    ("action_", ""): list(access.ACTIONS),
    ("audit_action_", ""): ["upload", "attach", "replace", "delete", "rename", "attributes", "followup", "settings", "sign_in", "download", "append", "review_create", "review_delete", "receivables", "costs",
                             "alerts_subscribe", "alerts_unsubscribe"],
    ("alert_rule_", ""): list(alert_rules.RULES),
    ("alerts_kind_", ""): ["owners", "email", "channel"],
    ("alerts_to_", ""): ["owners", "email", "channel"],
    ("alerts_status_", ""): ["sent", "failed"],
    ("report_by_", ""): list(service.LEVELS),
    ("report_movers_revenue_", ""): ["entered", "left"],
    ("reviews_bridge_", ""): list(review_math.BRIDGE_KEYS),
    ("reviews_bridge_", "_help"): list(review_math.BRIDGE_KEYS),
    ("report_flag_", ""): ["major_customer", "major_dependency", "top5_above", "hhi_moderate", "hhi_high"],
}


def _uses():
    """(file, literal key) and (file, (start, end)) of every key built at run time."""
    literal, built = [], []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for fmt, key, concat in CALL.findall(text):
            where = path.relative_to(ROOT)
            if fmt and "{" in key:
                start, _, rest = key.partition("{")
                end = rest.split("}", 1)[1]
                built.append((where, (start, end)))
            elif concat or key.endswith("_"):  # "reject_" + reason, labeller("status_")
                built.append((where, (key, "")))
            else:
                literal.append((where, key))
        literal += [(path.relative_to(ROOT), key) for key in ERROR.findall(text)]
    return literal, built


LITERAL, BUILT_USES = _uses()


def test_the_scan_finds_the_calls():
    # guard against a scanner that finds nothing and so proves nothing
    assert len(LITERAL) > 300 and len(BUILT_USES) > 40
    assert any(key == "churn_title" for _, key in LITERAL)
    assert ("flag_name_", "") in {use for _, use in BUILT_USES}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_literal_key_exists(lang):
    missing = sorted({f"{where}: {key}" for where, key in LITERAL if key and key not in catalog(lang)})
    assert missing == []


def test_every_built_key_is_registered():
    unregistered = sorted({f"{where}: {start}{{…}}{end}" for where, (start, end) in BUILT_USES
                           if (start, end) not in BUILT and start})
    assert unregistered == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_built_key_exists(lang):
    missing = sorted(f"{start}{value}{end}" for (start, end), values in BUILT.items() for value in values
                     if f"{start}{value}{end}" not in catalog(lang))
    assert missing == []
