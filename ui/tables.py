"""The tables the pages show, built as plain DataFrames with headers in the user's language.

Functions here compute and never draw, so they are tested without a running app; the pages
pass the result to ``ui.widgets.clickable_table`` or ``st.dataframe``."""
from __future__ import annotations

import pandas as pd

from kam_analytics.analytics.churn import reason_text
from kam_analytics.i18n import join_list, t


def flag_text(flags: str, lang: str) -> str:
    """A scorecard's ';'-separated flags, named and listed in the language."""
    return join_list([t(f"flag_name_{flag}", lang) for flag in str(flags).split(";") if flag], lang)


def churn_list(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The churn review list (``service.churn_list`` rows) as the page shows it: id, name,
    risk, revenue at risk, reasons in words, last order, latest follow-up status."""
    names = table["name"] if "name" in table else pd.Series([None] * len(table), index=table.index)
    return pd.DataFrame({
        t("col_customer_id", lang): table["customer_id"],
        t("col_name", lang): names.fillna("").astype(str) if len(table) else names,
        t("churn_risk", lang): table["risk"],
        t("churn_revenue_at_risk", lang): table["revenue_at_risk"],
        t("churn_reasons", lang): [join_list([reason_text(r, lang) for r in rs], lang, sentences=True)
                                   for rs in table["reasons"]],
        t("col_last_order", lang): pd.to_datetime(table["last"]).dt.date,
        t("churn_status", lang): table["status"].map(lambda status: t(f"status_{status}", lang) if status else ""),
    })


def key_account_list(shown: pd.DataFrame, criteria: list[str], lang: str) -> pd.DataFrame:
    """Scored customers (``Scorecard.table`` rows) as the key-account list shows them: id,
    name, score, tier, each criterion's contribution to the score, flags."""
    data = {t("col_customer_id", lang): shown["customer_id"]}
    if "name" in shown:
        data[t("col_name", lang)] = shown["name"]
    data[t("ka_score", lang)] = shown["score"].round(1)
    data[t("ka_tier", lang)] = shown["tier"].map(lambda tier: t(f"tier_{tier}", lang))
    for criterion in criteria:
        data[t(f"criterion_{criterion}", lang)] = shown[f"contrib_{criterion}"].round(1)
    data[t("ka_flags", lang)] = shown["flags"].map(lambda flags: flag_text(flags, lang))
    return pd.DataFrame(data)
