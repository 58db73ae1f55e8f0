"""The tables the pages show, built as plain DataFrames with headers in the user's language.

Functions here compute and never draw, so they are tested without a running app; the pages
pass the result to ``ui.widgets.clickable_table`` or ``st.dataframe``."""
from __future__ import annotations

import pandas as pd

from kam_analytics.analytics import receivables as owed
from kam_analytics.analytics.churn import reason_text
from kam_analytics.analytics.groups import group_head
from kam_analytics.i18n import format_amount, join_list, sentences, t


def flag_text(flags: str, lang: str) -> str:
    """A scorecard's ';'-separated flags, named and listed in the language."""
    return join_list([t(f"flag_name_{flag}", lang) for flag in str(flags).split(";") if flag], lang)


def flags_text(flags: pd.Series, lang: str) -> pd.Series:
    """``flag_text`` of every value of ``flags``, worded once per distinct value (a list of
    100,000 accounts holds a few dozen combinations of flags: 0.27 s -> 0.02 s)."""
    return flags.map({value: flag_text(value, lang) for value in flags.unique()})


def _followups(table: pd.DataFrame, lang: str) -> list[str]:
    """'2 · contacted 2026-11-20' (how many follow-ups, the latest status and day); '' when none."""
    out = []
    for count, status, when in zip(table["followups"], table["followup"], table["followup_at"]):
        out.append(f"{count} · {t(f'status_{status}', lang)} {pd.Timestamp(when).date()}" if count else "")
    return out


def churn_list(table: pd.DataFrame, lang: str, listing: str = "at_risk", for_file: bool = False) -> pd.DataFrame:
    """The churn review list (``service.churn_list`` rows) under the page's headers. To prevent
    ('at_risk', 'all'): id, name, risk, reasons in words, expected revenue with its range,
    revenue at risk, last order, follow-ups. To win back ('lapsed'): id, name, last order,
    days silent, usual gap, revenue in the last active year, follow-ups.

    On the page money is text in the language's units (万/亿, K/M) and the expected revenue's
    range sits beside it. ``for_file`` (the page's CSV and Excel downloads): every figure a
    number a spreadsheet can sum and sort — risk a fraction 0–1 (the workbook formats it as a
    percentage), money in the data's own unit to the cent, the range in two columns of its own."""
    names = table["name"] if "name" in table else pd.Series([None] * len(table), index=table.index)
    money = (lambda column: table[column].astype(float).round(2)) if for_file else \
        (lambda column: [format_amount(v, lang) for v in table[column]])  # noqa: E731
    data = {t("col_customer_id", lang): table["customer_id"].astype(str) if for_file else table["customer_id"],
            t("col_name", lang): names.fillna("").astype(str) if len(table) else names}
    if listing == "lapsed":
        data[t("col_last_order", lang)] = pd.to_datetime(table["last"]).dt.date
        data[t("churn_days_silent", lang)] = table["recency_days"].astype(int)
        data[t("churn_usual_gap", lang)] = table["typical_gap_days"].round(0)
        data[t("churn_revenue_last_year", lang)] = money("revenue_last_year")
    else:
        data[t("churn_risk", lang)] = table["risk"].astype(float) if for_file else table["risk"]
        data[t("churn_reasons", lang)] = [join_list([reason_text(r, lang) for r in rs], lang, sentences=True)
                                          for rs in table["reasons"]]  # the why beside the risk
        if for_file:
            for column, key in (("expected_revenue", "churn_expected_revenue"), ("expected_low", "churn_expected_low"),
                                ("expected_high", "churn_expected_high")):
                data[t(key, lang)] = money(column)
        else:
            data[t("churn_expected_revenue", lang)] = [
                t("churn_expected_range", lang, value=v, low=lo, high=hi)
                for v, lo, hi in zip(money("expected_revenue"), money("expected_low"), money("expected_high"))]
        data[t("churn_revenue_at_risk", lang)] = money("revenue_at_risk")
        data[t("col_last_order", lang)] = pd.to_datetime(table["last"]).dt.date
    if for_file:  # the latest follow-up in full: what a lead hands on
        has = table["followups"] > 0
        data[t("churn_followups_count", lang)] = table["followups"].astype(int)
        data[t("churn_followup_latest", lang)] = [t(f"status_{s}", lang) if h else "" for s, h in zip(table["followup"], has)]
        data[t("churn_when", lang)] = [str(pd.Timestamp(w))[:16] if h else "" for w, h in zip(table["followup_at"], has)]
        data[t("churn_note", lang)] = table.get("followup_note", pd.Series("", index=table.index)).fillna("").astype(str)
        data[t("churn_owner", lang)] = table.get("followup_by", pd.Series("", index=table.index)).fillna("").astype(str)
    else:
        data[t("churn_followups", lang)] = _followups(table, lang)
    return pd.DataFrame(data)


def churn_totals(table: pd.DataFrame, by: str, lang: str) -> pd.DataFrame:
    """Accounts, expected revenue and revenue at risk per ``by`` (owner or region; accounts
    without one under '—'), largest revenue at risk first, money as text."""
    keys = table[by].fillna("—").astype(str)
    grouped = table.assign(_by=keys).groupby("_by").agg(
        accounts=("customer_id", "count"), expected=("expected_revenue", "sum"), at_risk=("revenue_at_risk", "sum"))
    grouped = grouped.reset_index().sort_values(["at_risk", "_by"], ascending=[False, True], kind="mergesort")
    return pd.DataFrame({t(f"field_{by}", lang): grouped["_by"], t("churn_accounts", lang): grouped["accounts"],
                         t("churn_expected_revenue", lang): [format_amount(v, lang) for v in grouped["expected"]],
                         t("churn_revenue_at_risk", lang): [format_amount(v, lang) for v in grouped["at_risk"]]})


def key_account_list(shown: pd.DataFrame, criteria: list[str], lang: str,
                     standing: pd.Series | None = None) -> pd.DataFrame:
    """Scored customers (``Scorecard.table`` rows) as the key-account list shows them: id,
    name, score, tier, each criterion's contribution to the score, flags; with ``standing``
    (``churn.standing`` per customer_id) a last column marking the lapsed and the year-silent."""
    data = {t("col_customer_id", lang): shown["customer_id"]}
    if "name" in shown:
        data[t("col_name", lang)] = shown["name"]
    data[t("ka_score", lang)] = shown["score"].round(1)
    data[t("ka_tier", lang)] = shown["tier"].map({tier: t(f"tier_{tier}", lang) for tier in shown["tier"].unique()})
    for criterion in criteria:
        data[t(f"criterion_{criterion}", lang)] = shown[f"contrib_{criterion}"].round(1)
    data[t("ka_flags", lang)] = flags_text(shown["flags"], lang)
    if standing is not None:
        data[t("col_standing", lang)] = standing_marks(shown["customer_id"], standing, lang)
    return pd.DataFrame(data)


def scorecard_file(card, lang: str) -> pd.DataFrame:
    """The scorecard as the Key accounts page's downloads give it, in the language: every
    scored account (best score first) with id, name, score, tier, key account (yes / no),
    flags in words, each criterion's points of the score (as the list on screen shows them),
    revenue and profit as numbers to the cent."""
    table = card.table
    data = {t("col_customer_id", lang): table["customer_id"].astype(str)}
    if "name" in table:
        data[t("col_name", lang)] = table["name"].fillna("").astype(str)
    data[t("ka_score", lang)] = table["score"].round(1)
    data[t("ka_tier", lang)] = table["tier"].map(lambda tier: t(f"tier_{tier}", lang))
    data[t("ka_key_account", lang)] = table["key_account"].map({True: t("yes", lang), False: t("no", lang)})
    data[t("ka_flags", lang)] = flags_text(table["flags"], lang)
    for criterion in card.criteria:
        data[t("ka_points_of", lang, criterion=t(f"criterion_{criterion}", lang))] = table[f"contrib_{criterion}"].round(1)
    data[t("ka_revenue_amount", lang)] = table["revenue"].astype(float).round(2)
    if "profit" in table:
        data[t("ka_profit_amount", lang)] = table["profit"].astype(float).round(2)
    return pd.DataFrame(data)


def headline_file(headline, key_accounts: int, outlook: dict | None, lang: str) -> pd.DataFrame:
    """The overview's headline figures as its download gives them: one row per figure, its
    name in the language and its exact value (money to the cent, shares as fractions)."""
    rows = [("kpi_revenue", round(headline.revenue, 2)), ("kpi_customers", headline.customers),
            ("kpi_active", headline.active_customers), ("kpi_top1", headline.top1_share),
            ("kpi_top5", headline.top5_share), ("ka_key_accounts", key_accounts)]
    if outlook is not None:
        rows.append(("outlook_expected", round(float(outlook["expected"]), 2)))
    return pd.DataFrame({t("col_figure", lang): [t(k, lang, days=90) if k == "outlook_expected" else t(k, lang)
                                                 for k, _ in rows],
                         t("col_value", lang): [v for _, v in rows]})


def _money(values, lang: str) -> list[str]:
    return [format_amount(v, lang) for v in values]


def _days(values) -> list[str]:
    return ["–" if pd.isna(v) else f"{v:,.0f}" for v in values]


def standing_marks(ids: pd.Series, standing: pd.Series, lang: str) -> list[str]:
    """Per account id, the mark of a list's standing column: '' for an account still ordering,
    else lapsed or not ordered for a year (``standing``: ``churn.standing`` by customer_id)."""
    marks = {"active": "", "lapsed": t("standing_lapsed", lang), "gone": t("standing_gone", lang)}
    return ids.map(standing).map(marks).fillna("").tolist()


def receivables_list(rows: pd.DataFrame, lang: str, for_file: bool = False,
                     standing: pd.Series | None = None) -> pd.DataFrame:
    """``receivables.per_customer`` rows as the page shows them: id, name, outstanding, the
    aging buckets, DSO, share of receivables and the flags in words; money as text. With
    ``for_file`` (the page's downloads) the same headers over numbers: money to the cent, DSO
    to a tenth of a day, the share a fraction (the workbook shows it as a percentage)."""
    names = rows["name"] if "name" in rows else pd.Series([None] * len(rows), index=rows.index)
    data = {t("col_customer_id", lang): rows["customer_id"].astype(str), t("col_name", lang): names.fillna("").astype(str)}
    if standing is not None:  # (the page's list: who owes and has stopped ordering)
        data[t("col_standing", lang)] = standing_marks(rows["customer_id"].astype(str), standing, lang)
    money = (lambda values: values.astype(float).round(2)) if for_file else (lambda values: _money(values, lang))  # noqa: E731
    data[t("recv_outstanding", lang)] = money(rows["outstanding"])
    for bucket in owed.BUCKETS:
        data[t(f"recv_{bucket}", lang)] = money(rows[bucket])
    if for_file:
        data[t("recv_dso", lang)] = rows["dso_days"].astype(float).round(1)
        data[t("recv_share", lang)] = rows["share_of_receivables"].astype(float).round(6)
    else:
        data[t("recv_dso", lang)] = _days(rows["dso_days"])
        data[t("recv_share", lang)] = ["–" if pd.isna(v) else f"{v * 100:.1f}%" for v in rows["share_of_receivables"]]
    data[t("recv_flags", lang)] = [join_list([t(f"receivables_flag_{f}", lang) for f in flags], lang)
                                   for flags in rows["flags"]]
    return pd.DataFrame(data)


def receivables_totals(rows: pd.DataFrame, groups: pd.Series, by: str, lang: str) -> pd.DataFrame:
    """Outstanding and the aging buckets per owner or region (``receivables.by_group``;
    accounts without one under '—'), money as text."""
    grouped = owed.by_group(rows, groups)
    data = {t(f"field_{by}", lang): grouped["group"].fillna("—").astype(str),
            t("recv_outstanding", lang): _money(grouped["outstanding"], lang)}
    for bucket in owed.BUCKETS:
        data[t(f"recv_{bucket}", lang)] = _money(grouped[bucket], lang)
    return pd.DataFrame(data)


def deterioration_text(row: pd.Series, lang: str) -> str:
    """Why an account is on the deterioration list, in words with its numbers."""
    parts = []
    if "paying_later" in row["flags"]:
        parts.append(t("recv_why_paying_later", lang, recent=f"{row['avg_days_late_recent']:.0f}",
                       prior=f"{row['avg_days_late_prior']:.0f}"))
    if "overdue_growing" in row["flags"]:
        parts.append(t("recv_why_overdue_growing", lang, m3=format_amount(row["overdue_3m_ago"], lang),
                       m2=format_amount(row["overdue_2m_ago"], lang), m1=format_amount(row["overdue_1m_ago"], lang),
                       now=format_amount(row["overdue"], lang)))
    if "slow_payer" in row["flags"]:
        parts.append(t("recv_why_slow_payer", lang, days=f"{row['avg_days_late']:.0f}"))
    if "over_credit_limit" in row["flags"]:
        parts.append(t("recv_why_over_credit_limit", lang, outstanding=format_amount(row["outstanding"], lang),
                       limit=format_amount(row["credit_limit"], lang)))
    return join_list(parts, lang, sentences=True)


def key_status_text(status: dict, lang: str, since, end) -> str:
    """Why an account is or is not a key account (``accounts.key_status``), in words: the
    rule and the account's figure against it, a pseudo key account's evidence, or that nothing
    was scored in the window (``since``–``end``; ``since`` None: the whole history); then, when
    the tier would seem to say otherwise, that tiers are by profit and the list by score."""
    reason = status["reason"]
    window = t("account_window", lang, start=str(since), end=str(end)) if since else t("account_window_all", lang, end=str(end))
    if reason == "not_scored":
        return sentences([t("account_key_not_scored", lang), window], lang)
    if reason == "pseudo":
        share = status.get("largest_order_share")
        text = t("account_key_pseudo", lang, orders=status["orders"], days=status["days_since_last"],
                 share=f"{share:.0%}" if share is not None and pd.notna(share) else "–",
                 limit=f"{status['silence_limit']:.0f}" if status.get("silence_limit") else "–")
    elif reason in ("score_above", "score_below"):
        text = t(f"account_key_{reason}", lang, score=f"{status['score']:.1f}", line=f"{status['line']:.0f}")
    else:
        text = t(f"account_key_{reason}", lang, tier=t(f"tier_{status['tier']}", lang),
                 tiers=join_list([t(f"tier_{x}", lang) for x in status["tiers"]], lang) or "–")
    parts = [text, window]
    top_tier = status["tier"] in ("platinum", "gold")
    if status["tier_basis"] == "profit" and reason in ("score_above", "score_below") and top_tier != status["key"]:
        parts.append(t("account_key_tier_basis", lang, tier=t(f"tier_{status['tier']}", lang)))
    return sentences(parts, lang)


def rejected_rows(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The rows a load set aside (``Store.rejected_rows``) as the download gives them: the row
    number and the reason in the language (the file's own columns keep their headers and
    values), empty cells empty."""
    out = rows.rename(columns={"row": t("col_row", lang), "reason": t("col_reason", lang)})
    out[t("col_reason", lang)] = rows["reason"].map(lambda r: t(f"reason_{r}", lang))
    return out.astype(object).where(out.notna(), "")


def _dates(values) -> list[str]:
    return ["–" if pd.isna(v) else str(pd.Timestamp(v).date()) for v in values]


def receivables_history(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    """An account's receivable lines (``receivables.history``) as the account page shows them:
    dates as YYYY-MM-DD ('–' when not paid by then), money as text."""
    data = {}
    if "order_id" in rows:
        data[t("col_order_id", lang)] = rows["order_id"].fillna("").astype(str)
    data.update({
        t("recv_invoice_date", lang): _dates(rows["invoice_date"]), t("recv_due_date", lang): _dates(rows["due_date"]),
        t("recv_amount", lang): _money(rows["amount"], lang), t("recv_paid", lang): _money(rows["paid"], lang),
        t("recv_paid_date", lang): _dates(rows["paid_date"]), t("recv_outstanding", lang): _money(rows["outstanding"], lang),
        t("recv_days_overdue", lang): _days(rows["days_overdue"]), t("recv_days_late", lang): _days(rows["days_late"]),
    })
    return pd.DataFrame(data)


def member_table(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A group's members (``service.group_member_rows``) as its account page lists them: id,
    name, revenue (text), share within the group, last order and standing in words."""
    return pd.DataFrame({
        t("col_customer_id", lang): rows["customer_id"].astype(str),
        t("col_name", lang): rows["name"].fillna("").astype(str),
        t("col_revenue", lang): _money(rows["revenue"], lang),
        t("account_member_share", lang): ["–" if pd.isna(v) else f"{v * 100:.1f}%" for v in rows["share"]],
        t("col_last_order", lang): _dates(rows["last_order"]),
        t("account_member_standing", lang): [t(f"standing_{s}", lang) for s in rows["standing"]],
    })


def with_group_columns(frame: pd.DataFrame, groups: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A per-account table (its first column the account id) with the group's id, name and
    number of members first (``groups``: group_id, group_name, members), as the command line's
    group CSVs start (``service.with_group_columns``)."""
    head = group_head(frame.iloc[:, 0], groups).rename(columns={
        "group_id": t("col_group_id", lang), "group_name": t("col_group_name", lang), "members": t("col_members", lang)})
    return pd.concat([head, frame], axis=1)


def file_accounts(files: list[dict], lang: str) -> pd.DataFrame:
    """Each file of a load with its own accounting (``IngestReport.files``): records = title
    and header lines + blank + loaded + rejected, and how it was read."""
    return pd.DataFrame({
        t("col_file", lang): [f["file"] for f in files],
        t("col_records", lang): [f"{f['file_records']:,}" for f in files],
        t("col_header_lines", lang): [f"{f['header_records']:,}" for f in files],
        t("col_blank", lang): [f"{f['blank_rows']:,}" for f in files],
        t("col_loaded", lang): [f"{f['rows']:,}" for f in files],
        t("col_rejected", lang): [f"{f['rejected']:,}" for f in files],
        t("col_read_as", lang): [" · ".join(x for x in (t(f"format_{f['file_format']}", lang), f.get("encoding") or "",
                                                         f.get("sheet") or "") if x) for f in files],
    })
