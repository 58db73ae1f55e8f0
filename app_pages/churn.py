"""Churn warning: key accounts ranked by lapse risk with reasons, the model card (backtest
against two baselines), follow-ups, and the post-mortem of accounts that lapsed."""
import datetime as dt

import pandas as pd
import streamlit as st

from kam_analytics import charts, service
from kam_analytics.analytics import churn
from kam_analytics.analytics.customers import names_by_id
from kam_analytics.i18n import format_count, format_share
from ui import queries, tables
from ui.state import churn_list_to_open, exact_help, file_stem, frame, labeller, money, tr
from ui.followups import followup_form, followup_history
from ui.widgets import clickable_table, download_buttons, job_progress, no_dataset, phone_list, tabbed

view = frame("churn_title")
if view.dataset is None:
    no_dataset()
    st.stop()

if (asked := churn_list_to_open()) is not None:  # from another page's count: exactly the list it counted
    st.session_state["churn_listing"], st.session_state["churn_scope"], st.session_state["churn_horizon"] = asked
st.session_state.setdefault("churn_horizon", churn.HORIZON_DAYS)  # (a default beside a set state would warn)
top = st.columns([1, 1, 2])
horizon = top[0].number_input(tr("churn_horizon"), 14, 365, step=7, key="churn_horizon",
                              help=tr("churn_horizon_help"))
scope = top[1].radio(tr("churn_scope"), ["key", "all"], format_func=labeller("churn_scope_"), key="churn_scope")
st.session_state.setdefault("churn_listing", "at_risk")  # (a default beside a set state would warn)
listing = top[2].segmented_control(tr("churn_list_choice"), list(service.CHURN_LISTS),
                                   format_func=labeller("churn_list_"), key="churn_listing") or "at_risk"
as_of = view.end
job_progress(queries.churn_job(view.key, as_of, int(horizon)), tr("churn_computing_shared"),
             meanwhile=lambda: queries.churn_list_inputs(view.key, as_of, scope, int(horizon)))
with st.spinner(tr("computing")):
    review = queries.churn_list(view.key, as_of, int(horizon), scope, listing)
scored = review.scored
if scored.table.empty:
    st.info(tr("empty_slice"))
    st.stop()
phone_list(review.table, listing, view.lang)
st.caption(tr("churn_list_rule", multiple=churn.LAPSE_GAP_MULTIPLE, days=churn.LAPSE_MIN_DAYS,
              horizon=max(churn.LAPSE_MIN_DAYS, int(horizon))))
if scored.method == "rule":
    st.warning(tr(f"churn_rule_{scored.why or 'history_short'}" + ("_bgnbd" if scored.ranker == "bgnbd" else ""),
                  horizon=int(horizon)))
if review.fallback:
    st.caption(tr("churn_scope_fallback"))
table = review.table
names = names_by_id(table)

cols = st.columns(4)
cols[0].metric(tr("churn_accounts"), format_count(len(table)))
if listing == "lapsed":
    cols[1].metric(tr("churn_revenue_last_year"), money(table["revenue_last_year"].sum()),
                   help=exact_help("churn_revenue_last_year_help", table["revenue_last_year"].sum()))
else:
    high = table[table["risk"] >= 0.5]
    cols[1].metric(tr("churn_high_risk"), format_count(len(high)), help=tr("churn_high_risk_help"))
    cols[2].metric(tr("churn_expected_revenue"), money(table["expected_revenue"].sum()),
                   help=exact_help("churn_expected_revenue_help", table["expected_revenue"].sum(), horizon=int(horizon)))
    cols[3].metric(tr("churn_revenue_at_risk"), money(table["revenue_at_risk"].sum()),
                   help=exact_help("churn_revenue_at_risk_help", table["revenue_at_risk"].sum(), horizon=int(horizon)))
st.caption(tr("churn_method_line", method=tr(f"churn_ranker_{scored.ranker}") if scored.ranker
              else tr(f"churn_method_{scored.method}"), calibration=tr(f"churn_calibration_{scored.calibration or 'none'}")))
if listing != "lapsed":
    st.caption(tr("churn_risk_meaning", horizon=int(horizon)) + " " + tr("churn_list_order"))


def list_section(view, table):
    if table.empty:
        st.info(tr(f"churn_list_empty_{listing}"))
        return
    data = queries.churn_table(view.key, as_of, int(horizon), scope, listing, view.lang)
    clickable_table(data, "churn_list", {
        tr("churn_risk"): st.column_config.ProgressColumn(tr("churn_risk"), min_value=0, max_value=1, format="percent"),
        tr("churn_reasons"): st.column_config.TextColumn(tr("churn_reasons"), width="large", help=tr("churn_reasons_help"))})
    download_buttons(tables.churn_list(table, view.lang, listing, for_file=True), file_stem(view, tr(f"file_churn_{listing}"), as_of),
                     "churn", tr("churn_download_csv"), tr("churn_download_xlsx"), dataset=view.dataset.name,
                     percent=(tr("churn_risk"),) if listing != "lapsed" else (), data_slice=view.key)
    for by in ("owner", "region"):
        if listing != "lapsed" and by in table:
            st.caption(tr("churn_totals_by", field=tr(f"field_{by}")))
            st.dataframe(tables.churn_totals(table, by, view.lang), hide_index=True)


def three_places(values) -> list[str]:
    """Scores to three decimals; '–' where a row has none (a baseline has AUC or Brier, not both)."""
    return ["–" if v is None else f"{v:.3f}" for v in values]


def model_card_section():
    replay = as_of - dt.timedelta(days=int(horizon))
    job_progress(queries.churn_job(view.key, replay, int(horizon)), tr("churn_computing_shared"))
    with st.spinner(tr("computing")):
        result = queries.churn_backtest(view.key, replay, int(horizon))
    st.caption(tr("churn_card_help", replay=str(replay), horizon=int(horizon)))
    if result.auc is None:
        st.info(tr("churn_card_none"))
        return
    model = tr(f"churn_ranker_{result.ranker}") if result.ranker else tr(f"churn_method_{result.method}")
    auc_all, auc_key = tr("churn_card_auc_all"), tr("churn_card_auc_key")
    rows = pd.DataFrame({
        tr("churn_card_method"): [model, tr("churn_baseline_recency"), tr("churn_baseline_bgnbd"),
                                  tr("churn_baseline_bgnbd_alive"), tr("churn_baseline_rule"), tr("churn_baseline_rate")],
        auc_all: three_places([result.auc, result.baseline_recency_auc, result.baseline_bgnbd_auc,
                               result.baseline_bgnbd_alive_auc, None, None]),
        auc_key: three_places([result.key_auc, result.key_baseline_recency_auc, result.key_baseline_bgnbd_auc,
                               None, None, None]),
        tr("churn_brier"): three_places([result.brier, None, None, None, result.brier_rule, result.brier_base_rate]),
    })
    st.dataframe(rows, hide_index=True, column_config={
        auc_key: st.column_config.TextColumn(help=tr("churn_card_auc_key_help")),
        tr("churn_brier"): st.column_config.TextColumn(help=tr("churn_brier_help"))})
    st.caption(tr("churn_card_precision", p10=format_share(result.precision_at_10pct),
                  p20=format_share(result.precision_at_20pct), rate=format_share(result.lapse_rate),
                  accounts=format_count(result.accounts)))
    if result.validation:
        st.caption(tr("churn_card_validation", ranker=model, tried=", ".join(
            f"{tr(f'churn_ranker_{name}')} {auc:.3f}" for name, auc in result.validation.items())))
    best_baseline = max(v for v in (result.baseline_recency_auc, result.baseline_bgnbd_auc) if v is not None)
    if result.auc < 0.55 or result.auc <= best_baseline:
        st.warning(tr("churn_card_no_skill"))
    st.markdown(f"**{tr('churn_card_calibration')}** " + tr(f"churn_calibration_{result.calibration or 'none'}"))
    st.dataframe(pd.DataFrame({
        tr("churn_card_population"): [tr("churn_card_population_key"), tr("churn_card_population_all")],
        tr("churn_accounts"): [format_count(result.key_accounts), format_count(result.accounts)],
        tr("churn_card_lapse_rate"): [format_share(result.key_lapse_rate) if result.key_lapse_rate is not None else "–",
                                      format_share(result.lapse_rate)],
        "ECE": three_places([result.key_ece, result.ece]),
        tr("churn_card_ece_floor"): three_places([result.key_ece_floor, result.ece_floor]),
    }), hide_index=True, column_config={
        "ECE": st.column_config.TextColumn(help=tr("churn_card_ece_help")),
        tr("churn_card_ece_floor"): st.column_config.TextColumn(help=tr("churn_card_ece_floor_help"))})
    if result.reliability:
        st.plotly_chart(charts.reliability(result.reliability, view.lang, result.key_reliability),
                        config={"displayModeBar": False})
        # the band holding 70% (the nearest one when none of the accounts got 70%)
        band = min(result.reliability, key=lambda b: (not b["low"] <= 0.7 < b["high"], abs((b["low"] + b["high"]) / 2 - 0.7)))
        st.caption(tr("churn_card_meaning", low=format_share(band["low"], 0), high=format_share(band["high"], 0),
                      accounts=format_count(band["accounts"]), lapsed=format_share(band["lapsed"], 0), replay=str(replay)))
    check = result.revenue or {}
    if check.get("wape") is not None:
        st.markdown(f"**{tr('churn_card_revenue')}** " + tr(
            "churn_card_revenue_text", accounts=format_count(check["accounts"]), wape=format_share(check["wape"], 0),
            bias=("+" if check["bias"] >= 0 else "−") + format_share(abs(check["bias"]), 0),
            in_range=format_share(check["in_range"], 0)))


def followup_section():
    ids = table["customer_id"].tolist()
    if not ids:
        st.info(tr("churn_no_accounts"))
        return
    followup_form(view, ids, names, "churn_followup")
    followup_history(service.followups(view.store, view.identity, view.dataset))


def followup_effect_section():
    """Did follow-ups help? The accounts flagged one horizon ago, with and without a follow-up."""
    replay = as_of - dt.timedelta(days=int(horizon))
    st.subheader(tr("churn_followup_effect_title"), anchor=False)
    job_progress(queries.churn_job(view.key, replay, int(horizon)), tr("churn_computing_shared"))
    past = queries.churn_list(view.key, replay, int(horizon), scope, "at_risk").table
    flagged = past.loc[past["risk"] >= 0.5, "customer_id"] if len(past) else pd.Series(dtype=str)
    if flagged.empty:
        st.info(tr("churn_followup_effect_none", date=str(replay)))
        return
    groups = churn.followup_comparison(flagged, queries.ordered_in_horizon(view.key, replay, int(horizon)),
                                       service.followups(view.store, view.identity, view.dataset), replay)
    st.caption(tr("churn_followup_effect_help", date=str(replay), days=churn.FOLLOWUP_WINDOW_DAYS, horizon=int(horizon)))
    st.dataframe(pd.DataFrame({
        tr("churn_followup_group"): [tr(f"churn_followup_group_{g}", days=churn.FOLLOWUP_WINDOW_DAYS) for g in groups["group"]],
        tr("churn_accounts"): groups["accounts"], tr("churn_followup_ordered"): groups["ordered"],
        tr("churn_followup_share"): [format_share(s, 0) if pd.notna(s) else "–" for s in groups["share"]]}),
        hide_index=True)
    if groups.loc[groups["group"] == "followed", "accounts"].iloc[0] == 0:
        st.caption(tr("churn_followup_effect_no_followups", days=churn.FOLLOWUP_WINDOW_DAYS, date=str(replay)))


def post_mortem_section():
    by = "region" if view.dataset.has("region") else None
    lapsed = queries.churn_post_mortem(view.key, as_of, int(horizon), by)
    if lapsed.empty:
        st.success(tr("churn_no_lapsed"))
        return
    st.caption(tr("churn_post_mortem_help", count=format_count(len(lapsed)), revenue=money(lapsed["revenue_lost"].sum())))
    fig = charts.lapses_by_month(lapsed, view.lang)
    st.plotly_chart(fig, config={"displayModeBar": False})
    if by:
        grouped = lapsed.groupby(by).agg(accounts=("customer_id", "count"), revenue=("revenue_lost", "sum")).reset_index()
        st.dataframe(grouped.rename(columns={by: tr(f"field_{by}"), "accounts": tr("churn_lapsed_accounts"),
                                             "revenue": tr("churn_revenue_lost")}), hide_index=True,
                     column_config={tr("churn_revenue_lost"): st.column_config.NumberColumn(format="localized")})
    retention = queries.cohort_retention(view.key, as_of)
    if not retention.empty:
        fig = charts.retention_heatmap(retention, view.lang)
        st.plotly_chart(fig, config={"displayModeBar": False})
    tiers = queries.default_scorecard(view.key, as_of).table.set_index("customer_id")["tier"]
    by_tier = lapsed.assign(tier=lapsed["customer_id"].map(tiers).fillna("none")).groupby("tier").agg(
        accounts=("customer_id", "count"), revenue=("revenue_lost", "sum")).reset_index()
    st.dataframe(by_tier.assign(tier=by_tier["tier"].map(labeller("tier_"))).rename(columns={
        "tier": tr("ka_tier"), "accounts": tr("churn_lapsed_accounts"), "revenue": tr("churn_revenue_lost")}), hide_index=True,
        column_config={tr("churn_revenue_lost"): st.column_config.NumberColumn(format="localized")})
    followup_effect_section()


sections = [("churn_tab_list", lambda: list_section(view, table)), ("churn_tab_card", model_card_section),
            ("churn_tab_followup", followup_section), ("churn_tab_post_mortem", post_mortem_section)]
tabbed(sections, "churn_tab")
