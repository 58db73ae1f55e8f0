"""The review report as an HTML document for WeasyPrint (A4; the dataset, date and page number on
every page). Every word comes from the i18n catalogs; every user text (names, ids, the dataset's
name, the review's note) is escaped, so it reads as text and never as markup. Figures are
formatted as on the pages: shares with one decimal (93.4%), money in 万/亿 in Chinese."""
from __future__ import annotations

import json
from html import escape

import pandas as pd

from kam_analytics.analytics.churn import reason_text
from kam_analytics.i18n import customer_label, format_amount, format_count, format_share, join_list, t
from kam_analytics.report import charts

LIST_ROWS = 40   # key accounts listed in full (the rest: "and N more"; ``review show`` writes them all)
RISK_ROWS = 20   # at-risk / lapsed key accounts and overdue accounts listed

CSS = """
@page { size: A4; margin: 22mm 16mm 20mm 16mm;
  @top-left { content: element(head); } @top-right { content: element(date); }
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; } }
html { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Noto Sans", sans-serif; font-size: 9.5pt; color: #222; }
.head, .date { font-size: 8pt; color: #666; } .head { position: running(head); } .date { position: running(date); }
h1 { font-size: 17pt; margin: 0 0 2mm; } h2 { font-size: 12.5pt; margin: 7mm 0 2mm; border-bottom: 1px solid #ccc; }
p.meta, p.note { color: #555; margin: 1mm 0; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 1.2mm 1.6mm; text-align: left; vertical-align: top; }
th { background: #f3f5f8; font-weight: bold; } td.n, th.n { text-align: right; white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 3mm; }
.figure { border: 1px solid #dde2ea; border-radius: 2mm; padding: 2mm 3mm; width: 40mm; }
.figure .v { font-size: 13pt; font-weight: bold; } .figure .l { color: #555; font-size: 8pt; }
h3 { font-size: 10.5pt; margin: 4mm 0 1mm; } ul { margin: 1mm 0 1mm 5mm; padding: 0; } svg { margin: 2mm 0; }
"""


def _e(value) -> str:
    return escape("" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value))


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{_e(c)}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _label(row) -> str:
    return customer_label(row["customer_id"], row.get("name"))


def _reasons(text: str, lang: str) -> str:
    found = json.loads(text) if isinstance(text, str) and text else []
    return join_list([reason_text(r, lang) for r in found], lang, sentences=True) or "–"


def html(content, lang: str) -> str:
    """The whole document of ``content`` (``report.Content``) in ``lang``."""
    rows = content.rows
    money = lambda v: format_amount(v, lang)  # noqa: E731
    parts = [f'<div class="head">{_e(t("report_title", lang))} · {_e(content.dataset_name)}</div>',
             f'<div class="date">{_e(t("report_as_of", lang, date=content.as_of))}</div>',
             f"<h1>{_e(t('report_title', lang))}</h1>",
             f'<p class="meta">{_e(content.origin(lang))}</p>']
    if content.note:
        parts.append(f'<p class="note">{_e(t("report_note", lang, note=content.note))}</p>')
    parts.append(f'<p class="meta">{_e(content.standard(lang))}</p>')

    key = rows[rows["key_account"].astype(bool)]
    figures = [(t("report_fig_accounts", lang), format_count(len(rows))),
               (t("report_fig_key_accounts", lang), format_count(len(key))),
               (t("report_fig_revenue", lang), money(rows["revenue_12m"].sum())),
               (t("report_fig_key_revenue", lang), money(key["revenue_12m"].sum())),
               (t("report_fig_key_share", lang), format_share(content.key_share))]
    if "profit_12m" in rows:
        figures.append((t("report_fig_profit", lang), money(rows["profit_12m"].sum())))
    if content.bridge:
        figures += [(t("report_fig_nrr", lang), format_share(content.bridge["nrr"])),
                    (t("report_fig_grr", lang), format_share(content.bridge["grr"]))]
    figures += [(t("report_fig_at_risk", lang), format_count((key["churn_list"] == "at_risk").sum())),
                (t("report_fig_lapsed", lang), format_count((rows["churn_list"] == "lapsed").sum()))]
    if rows["overdue"].notna().any():
        figures.append((t("report_fig_overdue", lang), money(rows["overdue"].fillna(0).sum())))
    parts.append(f"<h2>{_e(t('report_summary', lang))}</h2><div class=\"figures\">" + "".join(
        f'<div class="figure"><div class="v">{_e(v)}</div><div class="l">{_e(label)}</div></div>'
        for label, v in figures) + "</div>")

    parts.append(_concentration(content, lang))
    parts.append(_key_accounts(content, key, lang))
    parts.append(_changes(content, lang))
    parts.append(_churn(rows, key, lang))
    parts.append(_receivables(rows, lang))
    return (f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f"<title>{_e(t('report_title', lang))}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>")


def _concentration(content, lang: str) -> str:
    out = [f"<h2>{_e(t('report_concentration', lang, since=content.summary['since'], as_of=content.as_of))}</h2>"]
    if content.scoped:
        return "".join(out) + f"<p>{_e(t('report_concentration_scoped', lang))}</p>"
    c = content.summary["concentration"]
    out.append(charts.pareto(content.summary.get("pareto") or [], t("report_pareto_x", lang),
                             t("report_pareto_y", lang), t("report_pareto_title", lang)))
    level = t(f"hhi_level_{c['hhi_level']}", lang) if c.get("hhi_level") else "–"
    out.append(_table([t("report_indicator", lang), t("report_value", lang)], [
        [t("report_hhi", lang), f"{c['hhi']:,.0f} ({level})" if c.get("hhi") is not None else "–"],
        [t("report_top1", lang), format_share(c.get("top1_share"))],
        [t("report_top5", lang), format_share(c.get("top5_share"))],
        [t("report_top20pct", lang), format_share(c.get("top20pct_share"))],
        [t("report_for_80", lang), format_count(c.get("customers_for_80pct"))],
    ], {1}))
    names = dict(zip(content.rows["customer_id"].astype(str), content.rows["name"]))
    flags = []
    for flag in c.get("flags", []):
        who = customer_label(flag.get("customer_id", ""), flag.get("group_name") or names.get(flag.get("customer_id")))
        kind = flag["flag"]
        if kind in ("major_customer", "major_dependency"):
            flags.append(t(f"report_flag_{kind}", lang, customer=who, share=format_share(flag["share"]),
                           measure=t(f"flag_measure_{flag.get('measure', 'revenue')}", lang)))
        elif kind == "top5_above":
            flags.append(t("report_flag_top5_above", lang, share=format_share(flag["share"]),
                           level=format_share(flag["threshold"], 0)))
        else:
            flags.append(t(f"report_flag_{kind}", lang, hhi=f"{flag['hhi']:,.0f}"))
    if flags:
        out.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in flags) + "</ul>")
    return "".join(out)


def _key_accounts(content, key: pd.DataFrame, lang: str) -> str:
    out = [f"<h2>{_e(t('report_key_accounts', lang))}</h2>"]
    if key.empty:
        return "".join(out) + f"<p>{_e(t('report_no_key_accounts', lang))}</p>"
    before = content.earlier_rows
    tiers = dict(zip(before["customer_id"].astype(str), before["tier"])) if before is not None else {}
    was_key = set(before.loc[before["key_account"].astype(bool), "customer_id"].astype(str)) if before is not None else set()
    rows = []
    for i, row in enumerate(key.head(LIST_ROWS).to_dict("records"), start=1):
        cid = str(row["customer_id"])
        if before is None:
            change = "–"
        elif cid not in was_key:
            change = t("report_change_new", lang)
        elif tiers.get(cid) != row["tier"]:
            change = t("report_change_tier", lang, before=t(f"tier_{tiers.get(cid, 'none')}", lang),
                       after=t(f"tier_{row['tier']}", lang))
        else:
            change = t("report_change_none", lang)
        rows.append([str(i), _label(row), t(f"tier_{row['tier']}", lang), f"{row['score']:.1f}",
                     format_amount(row["revenue_12m"], lang), change])
    out.append(_table(["#", t("report_account", lang), t("report_tier", lang), t("report_score", lang),
                       t("report_revenue_12m", lang), t("report_change", lang)], rows, {0, 3, 4}))
    if len(key) > LIST_ROWS:
        out.append(f"<p>{_e(t('report_more', lang, count=format_count(len(key) - LIST_ROWS)))}</p>")
    return "".join(out)


def _changes(content, lang: str) -> str:
    out = [f"<h2>{_e(t('report_changes', lang))}</h2>"]
    if content.bridge is None:
        return "".join(out) + f"<p>{_e(t('report_no_earlier', lang))}</p>"
    b = content.bridge
    out.append(f"<p>{_e(t('report_compared', lang, review_id=content.earlier_id, as_of=content.earlier_as_of))}</p>")
    steps = [(t("report_bridge_start", lang), b["start_revenue"], "total"),
             (t("report_bridge_expansion", lang), b["expansion"], "up"),
             (t("report_bridge_contraction", lang), b["contraction"], "down"),
             (t("report_bridge_churned", lang), b["churned"], "down"),
             (t("report_bridge_end", lang), b["end_revenue"], "total"),
             (t("report_bridge_new", lang), b["new"], "extra")]
    out.append(charts.waterfall(steps, lambda v: format_amount(v, lang), t("report_bridge", lang)))
    out.append(_table([t("report_indicator", lang), t("report_value", lang)],
                      [[label, format_amount(value, lang)] for label, value, _ in steps]
                      + [[t("report_fig_nrr", lang), format_share(b["nrr"])],
                         [t("report_fig_grr", lang), format_share(b["grr"])]], {1}))
    moves = content.moves
    if moves is not None and len(moves):
        out.append(f"<h3>{_e(t('report_movers', lang))}</h3>")
        for change, revenue in (("entered", "revenue_after"), ("left", "revenue_before")):
            mine = moves[moves["change"] == change].sort_values([revenue, "customer_id"], ascending=[False, True])
            if mine.empty:
                continue
            rows = [[_label(m), t(f"ka_change_{m['change']}", lang),
                     t(f"criterion_{m['criterion']}", lang) if isinstance(m.get("criterion"), str) else "–",
                     "–" if pd.isna(m["score_before"]) else f"{m['score_before']:.1f}",
                     "–" if pd.isna(m["score_after"]) else f"{m['score_after']:.1f}", format_amount(m[revenue], lang)]
                    for m in mine.head(RISK_ROWS).to_dict("records")]
            out.append(_table([t("report_account", lang), t("report_change", lang), t("report_mover", lang),
                               t("report_score_before", lang), t("report_score_after", lang),
                               t(f"report_movers_revenue_{change}", lang)], rows, {3, 4, 5}))
            if len(mine) > RISK_ROWS:
                out.append(f"<p>{_e(t('report_more_movers', lang, count=format_count(len(mine) - RISK_ROWS)))}</p>")
    matrix = content.matrix
    if matrix is not None:
        order = list(matrix.index)
        out.append(f"<h3>{_e(t('report_migration', lang))}</h3>")
        out.append(_table([t("report_migration_corner", lang)] + [t(f"tier_{c}", lang) for c in order],
                          [[t(f"tier_{r}", lang)] + [format_count(matrix.loc[r, c]) for c in order] for r in order],
                          set(range(1, len(order) + 1))))
    return "".join(out)


def _churn(rows: pd.DataFrame, key: pd.DataFrame, lang: str) -> str:
    out = [f"<h2>{_e(t('report_churn', lang))}</h2>"]
    at_risk = rows[rows["churn_list"] == "at_risk"].sort_values(["churn_risk", "customer_id"], ascending=[False, True])
    lapsed = rows[rows["churn_list"] == "lapsed"].sort_values(["revenue_12m", "customer_id"], ascending=[False, True])
    for title, frame, risk in (("report_at_risk", at_risk, True), ("report_lapsed", lapsed, False)):
        out.append(f"<h3>{_e(t(title, lang))}</h3>")
        if frame.empty:
            out.append(f"<p>{_e(t('report_none', lang))}</p>")
            continue
        table = [[_label(r)] + ([format_share(r["churn_risk"])] if risk else [])
                 + [format_amount(r["revenue_12m"], lang), _reasons(r["churn_reasons"], lang)]
                 for r in frame.head(RISK_ROWS).to_dict("records")]
        headers = [t("report_account", lang)] + ([t("report_risk", lang)] if risk else []) + [
            t("report_revenue_12m", lang), t("report_reasons", lang)]
        out.append(_table(headers, table, {1, 2} if risk else {1}))
        if len(frame) > RISK_ROWS:
            out.append(f"<p>{_e(t('report_more', lang, count=format_count(len(frame) - RISK_ROWS)))}</p>")
    return "".join(out)


def _receivables(rows: pd.DataFrame, lang: str) -> str:
    out = [f"<h2>{_e(t('report_receivables', lang))}</h2>"]
    if not rows["overdue"].notna().any():
        return "".join(out) + f"<p>{_e(t('report_no_receivables', lang))}</p>"
    late = rows[rows["overdue"].fillna(0) > 0.005].sort_values(["overdue", "customer_id"], ascending=[False, True])
    if late.empty:
        return "".join(out) + f"<p>{_e(t('report_none_overdue', lang))}</p>"
    table = [[_label(r), t("report_yes", lang) if r["key_account"] else "", format_amount(r["outstanding"], lang),
              format_amount(r["overdue"], lang)] for r in late.head(RISK_ROWS).to_dict("records")]
    out.append(_table([t("report_account", lang), t("report_key", lang), t("report_outstanding", lang),
                       t("report_overdue", lang)], table, {2, 3}))
    if len(late) > RISK_ROWS:
        out.append(f"<p>{_e(t('report_more', lang, count=format_count(len(late) - RISK_ROWS)))}</p>")
    return "".join(out)
