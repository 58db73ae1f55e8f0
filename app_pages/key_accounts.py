"""Key accounts: the customer value scorecard, the pyramid, the key-account list with its rule,
pseudo key accounts, margin and discounts, rising accounts and the periodic review."""
import pandas as pd
import streamlit as st

from kam_analytics import charts, service
from kam_analytics.analytics import accounts
from kam_analytics.analytics.customers import names_by_id
from kam_analytics.analytics.window import STANDARD_WINDOWS, window_start
from kam_analytics.i18n import customer_label, format_count, format_share, join_list, t
from ui import queries, tables
from ui.state import file_stem, frame, kept, labeller, tr
from ui.widgets import clickable_table, download_buttons, no_dataset

view = frame("key_accounts_title")
if view.dataset is None:
    no_dataset()
    st.stop()

as_of = view.end
with st.spinner(tr("computing")):
    features = queries.account_features(view.key, as_of)
if features.empty:
    st.info(tr("empty_slice"))
    st.stop()
available = accounts.available_criteria(features)
saved = service.saved_weights(view.store, view.dataset) or {}

# The settings are drawn only while their box is open: a new tab of the page draws none of
# them (in a closed box they cost a new tab 0.15-0.18 s on a page of one metric, 0.03-0.11 s
# here at 10M lines). Their values live in the session either way, kept across pages.
box = st.expander(tr("ka_settings"), key="ka_settings", on_change="rerun")


def setting(place, widget, label: str, key: str, default, **kwargs):
    """A setting's value: its widget in ``place`` while the box is open, the session's value
    (``default`` at first) while it is closed."""
    if not box.open:
        return st.session_state.setdefault(key, default)
    with place:
        return kept(widget, label, key, default, **kwargs)


def bounded(key: str, default: int, low: int, high: int) -> int:
    """The session's value of ``key`` brought within [low, high] (a cut must stay above the one
    before it, whose change may have moved past it)."""
    value = min(max(int(st.session_state.get(key, default)), low), high)
    st.session_state[key] = value
    return value


def save_window() -> None:
    """The window box's change (administrators): saved for every page and command."""
    service.save_standard_months(view.store, view.identity, view.dataset, st.session_state["ka_window"])


with box:
    if box.open:
        st.session_state["ka_window"] = queries.standard_months(view.key)  # (what is saved is what is shown)
        st.selectbox(tr("ka_window"), list(STANDARD_WINDOWS), key="ka_window", on_change=save_window,
                     format_func=lambda m, lang=view.lang: t("ka_window_months", lang, months=m) if m
                     else t("ka_window_all", lang),
                     disabled=not view.can("settings"), help=tr("ka_window_help"))
    preset_key = f"ka_preset_{view.dataset.id}"
    if not saved and st.session_state.get(preset_key) == "saved":
        del st.session_state[preset_key]  # the saved weights are gone
    preset = setting(box, st.selectbox, tr("ka_preset"), preset_key, "saved" if saved else next(iter(accounts.PRESETS)),
                     options=["saved", *accounts.PRESETS], format_func=labeller("ka_preset_"), disabled=not saved,
                     help=tr("ka_preset_help"))
    base = saved if preset == "saved" and saved else accounts.PRESETS.get(preset, accounts.PRESETS["balanced"])
    cols = st.columns(4) if box.open else [box] * 4
    weights = {}
    for i, criterion in enumerate(available):
        weights[criterion] = setting(cols[i % 4], st.slider, tr(f"criterion_{criterion}"),
                                     f"ka_w_{view.dataset.id}_{preset}_{criterion}", float(base.get(criterion, 0.0)),
                                     min_value=0.0, max_value=5.0, step=0.5, help=tr(f"criterion_{criterion}_help"))
    if box.open:
        if st.session_state.pop("_ka_saved", False):
            st.success(tr("ka_saved"))
        if view.can("settings"):
            if st.button(tr("ka_save_weights")):
                service.save_weights(view.store, view.identity, view.dataset, weights)
                st.session_state[preset_key] = "saved"  # what was saved is what is in use
                st.session_state["_ka_saved"] = True
                st.rerun()
        else:
            st.caption(tr("role_cannot_save_weights", role=tr(f"role_{view.identity.role}")))
    cut_cols = st.columns(4) if box.open else [box] * 4
    default_cuts = [round(cut * 100) for cut in accounts.TIER_CUTS]
    c1 = setting(cut_cols[0], st.number_input, tr("ka_cut_platinum"), "ka_cut1", bounded("ka_cut1", default_cuts[0], 1, 98),
                 min_value=1, max_value=98)
    c2 = setting(cut_cols[1], st.number_input, tr("ka_cut_gold"), "ka_cut2",
                 bounded("ka_cut2", default_cuts[1], int(c1) + 1, 99), min_value=int(c1) + 1, max_value=99)
    c3 = setting(cut_cols[2], st.number_input, tr("ka_cut_iron"), "ka_cut3",
                 bounded("ka_cut3", default_cuts[2], int(c2) + 1, 100), min_value=int(c2) + 1, max_value=100)
    rule_kind = setting(cut_cols[3], st.radio, tr("ka_rule"), "ka_rule", "score", options=["score", "tiers"],
                        format_func=labeller("ka_rule_"))
    if rule_kind == "score":
        rule = accounts.KeyRule.by_score(setting(box, st.slider, tr("ka_min_score"), "ka_min", int(accounts.KEY_SCORE),
                                                 min_value=0, max_value=100))
    else:
        rule = accounts.KeyRule.by_tiers(setting(box, st.multiselect, tr("ka_key_tiers"), "ka_tiers", ["platinum"],
                                                 options=list(accounts.TIERS), format_func=labeller("tier_")))
    # what differs from the preset's weights and the default cuts (the rule is in the caption below)
    changed = [name for name, differs in (
        ("weights", any(weights[c] != float(base.get(c, 1.0)) for c in available)),
        ("tiers", [int(c1), int(c2), int(c3)] != default_cuts)) if differs]
    if changed and box.open:
        owned = [f"ka_w_{view.dataset.id}_{preset}_{c}" for c in available] + ["ka_cut1", "ka_cut2", "ka_cut3"]

        def reset(keys=tuple(owned)):
            """Forget the weights and cuts set here: the next run starts them from their defaults."""
            for key in keys:
                st.session_state.pop(key, None)
                st.session_state.pop(f"_w_{key}", None)

        st.button(tr("ka_settings_reset"), key="ka_settings_reset", on_click=reset)
if changed and not box.open:
    st.caption(tr("ka_settings_changed", what=join_list([tr(f"ka_settings_changed_{x}") for x in changed], view.lang)))

if not any(weights.values()):
    st.warning(tr("ka_no_weights"))
    st.stop()
listed = queries.listed_ids(view.key)
card = service.listed_card(queries.scorecard(view.key, as_of, weights, (c1 / 100, c2 / 100, c3 / 100), rule), listed)
table = card.table
names = names_by_id(table)
label = lambda cid: customer_label(cid, names.get(cid))  # noqa: E731

key_rule_text = tr("ka_rule_score_text", min=int(rule.min_score)) if rule.kind == "score" else \
    tr("ka_rule_tiers_text", tiers=join_list([tr(f"tier_{x}") for x in rule.tiers], view.lang) or "–")
months = queries.standard_months(view.key)
since = window_start(as_of, months)
window_text = tr("ka_window_text", months=months, start=str(since), end=str(as_of)) if since else \
    tr("ka_window_text_all", end=str(as_of))
st.caption(tr("ka_as_of", as_of=str(as_of), basis=tr(f"ka_basis_{card.tier_basis}")) + " " + window_text + " "
           + key_rule_text)
key = table[table["key_account"]]
cols = st.columns(6)
cols[0].metric(tr("ka_key_accounts"), format_count(len(key)))
cols[1].metric(tr("ka_key_share"), format_share(key["revenue"].sum() / table["revenue"].sum())
               if table["revenue"].sum() > 0 else "–")
for col, flag in zip(cols[2:], ["pseudo_key_account", "negative_margin", "rising", "overdue"]):
    col.metric(tr(f"flag_name_{flag}"), format_count(int(accounts.has_flag(table, flag).sum())),
               help=tr(f"flag_help_{flag}"))


def list_section(view, card, key):
    st.caption(tr("ka_list_help"))
    data = tables.key_account_list(key if len(key) else card.table.head(0), card.criteria, view.lang,
                                   standing=queries.standing(view.key, as_of))
    config = {tr("ka_score"): st.column_config.ProgressColumn(tr("ka_score"), min_value=0, max_value=100, format="%.1f")}
    for c in card.criteria:
        config[tr(f"criterion_{c}")] = st.column_config.NumberColumn(
            tr(f"criterion_{c}"), format="%.1f", help=tr("ka_contribution_help", weight=f"{card.weights[c]:g}"))
    clickable_table(data, "ka_list", config)
    download_buttons(tables.scorecard_file(card, view.lang), file_stem(view, tr("file_accounts"), as_of), "accounts",
                     tr("ka_download_csv"), tr("ka_download_xlsx"), dataset=view.dataset.name, data_slice=view.key)


def pyramid_section():
    summary = accounts.tier_summary(card)
    fig = charts.tier_pyramid(summary, card.tier_basis, view.lang)
    st.plotly_chart(fig, config={"displayModeBar": False})
    data = {tr("ka_tier"): summary["tier"].map(lambda x: tr(f"tier_{x}")), tr("col_customers"): summary["customers"],
            tr("col_revenue"): summary["revenue"].round(2), tr("ka_revenue_share"): summary["revenue_share"]}
    config = {tr("col_revenue"): st.column_config.NumberColumn(format="localized"),
              tr("ka_revenue_share"): st.column_config.NumberColumn(format="percent")}
    if "profit" in summary:
        data.update({tr("col_profit"): summary["profit"].round(2), tr("ka_profit_share"): summary["profit_share"],
                     tr("ka_margin"): summary["margin"]})
        config.update({tr("col_profit"): st.column_config.NumberColumn(format="localized"),
                       tr("ka_profit_share"): st.column_config.NumberColumn(format="percent"),
                       tr("ka_margin"): st.column_config.NumberColumn(format="percent")})
    if "discount" in summary:
        data[tr("col_discount_depth")] = summary["discount"]
        config[tr("col_discount_depth")] = st.column_config.NumberColumn(format="percent")
    st.dataframe(pd.DataFrame(data), hide_index=True, column_config=config)
    st.caption(tr("ka_pyramid_help"))


def versus_section():
    st.caption(tr("ka_versus_help"))
    gap = accounts.rank_disagreement(card)
    data = {tr("col_customer_id"): gap["customer_id"]}
    if "name" in gap:
        data[tr("col_name")] = gap["name"]
    data.update({tr("ka_revenue_rank"): gap["revenue_rank"], tr("ka_score_rank"): gap["score_rank"],
                 tr("ka_score"): gap["score"].round(1),
                 tr("ka_flags"): tables.flags_text(gap["flags"], view.lang)})
    clickable_table(pd.DataFrame(data), "ka_versus")


def flagged_section(flag: str, columns: dict, order: tuple[str, bool]):
    """The accounts carrying ``flag`` with the evidence columns, sorted by ``order`` (column,
    ascending) — the strongest evidence first; money to the cent."""
    st.caption(tr(f"flag_help_{flag}"))
    rows = table[accounts.has_flag(table, flag)]
    if rows.empty:
        st.success(tr("ka_none_flagged"))
        return
    column, ascending = order
    rows = rows.sort_values([column, "customer_id"], ascending=[ascending, True], kind="mergesort")
    data = {tr("col_customer_id"): rows["customer_id"]}
    if "name" in rows:
        data[tr("col_name")] = rows["name"]
    config = {}
    for name, (label_key, fmt) in columns.items():
        if name in rows:
            data[tr(label_key)] = rows[name].round(2) if fmt == "localized" else rows[name]
            config[tr(label_key)] = st.column_config.NumberColumn(format=fmt)
    clickable_table(pd.DataFrame(data), f"ka_{flag}", config)


def pseudo_section():
    if card.rhythm_days:
        st.caption(tr("ka_rhythm", days=f"{card.rhythm_days:.0f}", silence=f"{accounts.PSEUDO_SILENCE * card.rhythm_days:.0f}"))
    flagged_section("pseudo_key_account", {
        "revenue": ("col_revenue", "localized"), "orders": ("col_orders", "%d"),
        "largest_order_share": ("ka_largest_order_share", "percent"), "days_since_last": ("ka_days_since_last", "%d")},
        ("revenue", False))


def margin_section():
    flagged_section("negative_margin", {"revenue": ("col_revenue", "localized"), "profit": ("col_profit", "localized"),
                                        "margin": ("ka_margin", "percent"), "discount": ("col_discount_depth", "percent")},
                    ("profit", True))
    st.subheader(tr("flag_name_discount_exceeds_margin"))
    flagged_section("discount_exceeds_margin", {"revenue": ("col_revenue", "localized"), "margin": ("ka_margin", "percent"),
                                                "discount": ("col_discount_depth", "percent")}, ("revenue", False))


def rising_section():
    flagged_section("rising", {"prior_revenue": ("ka_prior_revenue", "localized"),
                               "recent_revenue": ("ka_recent_revenue", "localized"),
                               "regularity": ("criterion_regularity", "percent"), "score": ("ka_score", "%.1f")},
                    ("recent_revenue", False))


def overdue_section():
    flagged_section("overdue", {"revenue": ("col_revenue", "localized"), "overdue_days": ("criterion_overdue_days", "%.0f"),
                                "collection_rate": ("criterion_collection_rate", "percent")}, ("overdue_days", False))


def loss_section():
    """The accounts that serve at a loss: profitable on gross margin, unprofitable once the
    cost to serve (and financing) over the standard's window is counted (``costs.losses``)."""
    from kam_analytics.analytics.costs import losses

    result = queries.account_pnl(view.key, since or view.dataset.date_min, as_of)
    st.caption(tr("ka_loss_help", start=result.start.isoformat(), end=result.end.isoformat(),
                  rate=format_share(result.rate, 2)))
    lost = losses(result.rows)
    lost = lost[lost["customer_id"].isin(set(table["customer_id"].astype(str)))]
    if lost.empty:
        st.success(tr("ka_loss_none"))
        return
    scored = table.set_index(table["customer_id"].astype(str))
    data = pd.DataFrame({
        tr("col_customer_id"): lost["customer_id"], tr("col_name"): lost["name"],
        tr("ka_tier"): [tr(f"tier_{scored.at[c, 'tier']}") if c in scored.index else "–" for c in lost["customer_id"]],
        tr("ka_key_account"): [bool(scored.at[c, "key_account"]) if c in scored.index else False
                                for c in lost["customer_id"]],
        tr("col_revenue"): lost["revenue"].round(2), tr("col_gross_profit"): lost["gross_profit"].round(2),
        tr("col_cost_to_serve"): lost["cost_to_serve"].round(2), tr("col_financing_cost"): lost["financing_cost"].round(2),
        tr("col_net_profit"): lost["net_profit"].round(2), tr("col_net_margin"): lost["net_margin"].astype(float)})
    money_format = st.column_config.NumberColumn(format="localized")
    clickable_table(data, "ka_loss", {**{tr(k): money_format for k in ("col_revenue", "col_gross_profit",
                                                                        "col_cost_to_serve", "col_financing_cost",
                                                                        "col_net_profit")},
                                      tr("col_net_margin"): st.column_config.NumberColumn(format="percent")})


@st.fragment
def review_section():
    first = view.start or (view.dataset.date_min.date() if view.dataset.date_min else as_of)
    freq = st.segmented_control(tr("ka_review_freq"), ["quarter", "half", "year"], default="quarter",
                                format_func=labeller("ka_freq_"), key="ka_review_freq") or "quarter"
    ends = accounts.period_ends(first, as_of, freq)
    if len(ends) < 2:
        st.info(tr("ka_review_short"))
        return
    cuts = (c1 / 100, c2 / 100, c3 / 100)
    by_period = {}
    for end in ends[-12:]:  # the last twelve review dates
        with st.spinner(tr("computing")):
            period_card = service.listed_card(queries.scorecard(view.key, end, weights, cuts, rule), listed)
        counts = period_card.table["tier"].value_counts()
        by_period[str(end)] = {**{tr(f"tier_{x}"): int(counts.get(x, 0)) for x in accounts.TIERS},
                               tr("ka_key_accounts"): int(period_card.table["key_account"].sum())}
    st.caption(tr("ka_tiers_per_period"))
    st.dataframe(pd.DataFrame(by_period))
    left, right = st.columns(2)
    before = left.selectbox(tr("ka_review_from"), ends[:-1], index=len(ends) - 2, key=f"ka_from_{freq}")
    after = right.selectbox(tr("ka_review_to"), [e for e in ends if e > before], index=len([e for e in ends if e > before]) - 1,
                            key=f"ka_to_{freq}")
    card_a = service.listed_card(queries.scorecard(view.key, before, weights, cuts, rule), listed)
    card_b = service.listed_card(queries.scorecard(view.key, after, weights, cuts, rule), listed)
    matrix, moves = accounts.tier_migration(card_a, card_b)
    labels = {x: tr(f"tier_{x}") for x in list(accounts.TIERS) + ["none"]}
    st.caption(tr("ka_matrix_help", before=str(before), after=str(after)))
    st.dataframe(matrix.rename(index=labels, columns=labels).rename_axis(index=tr("ka_tier"), columns=None))
    st.subheader(tr("ka_moves"))
    if moves.empty:
        st.caption(tr("ka_no_moves"))
        return
    data = {tr("col_customer_id"): moves["customer_id"],
            tr("col_name"): moves["customer_id"].map(lambda c: names.get(c, "")),
            tr("ka_change"): moves["change"].map(lambda c: tr(f"ka_change_{c}")),
            tr("ka_score_before"): moves["score_before"].round(1), tr("ka_score_after"): moves["score_after"].round(1),
            tr("ka_mover"): moves["criterion"].map(lambda c: tr(f"criterion_{c}") if c else "")}
    clickable_table(pd.DataFrame(data), "ka_moves")


sections = [("ka_tab_list", lambda: list_section(view, card, key)), ("ka_tab_pyramid", pyramid_section), ("ka_tab_versus", versus_section),
            ("ka_tab_pseudo", pseudo_section), ("ka_tab_margin", margin_section), ("ka_tab_rising", rising_section),
            ("ka_tab_overdue", overdue_section), ("ka_tab_review", review_section)]
if "margin" not in table:
    sections = [s for s in sections if s[0] != "ka_tab_margin"]
if "overdue_days" not in table:
    sections = [s for s in sections if s[0] != "ka_tab_overdue"]
if view.dataset.costs_file and view.dataset.has("profit"):  # beside the pseudo-key-account and margin checks
    sections.insert([s[0] for s in sections].index("ka_tab_rising"), ("ka_tab_loss", loss_section))
containers = st.tabs([tr(k) for k, _ in sections], key="ka_tab", on_change="rerun")
for (name, section), container in zip(sections, containers):
    with container:
        if container.open:
            section()
