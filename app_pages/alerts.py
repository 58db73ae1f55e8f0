"""Alerts (提醒): who hears of which rule on this dataset — administrators add and remove
subscriptions, preview what a run would send and read the alert log; everyone else sees the
subscriptions that reach them. Runs themselves go from cron (`alerts run`)."""
import pandas as pd
import streamlit as st

from kam_analytics import alerts
from kam_analytics.i18n import format_count
from kam_analytics.notify import config
from kam_analytics.notify.rules import DEFAULT_THRESHOLDS, RULES
from ui.errors import show_error
from ui.markdown import escape_markdown
from ui.state import by_key, frame, labeller, tr
from ui.widgets import no_dataset

view = frame("alerts_title")
if view.dataset is None:
    no_dataset()
    st.stop()
store, dataset = view.store, view.dataset
st.caption(tr("alerts_intro"))
try:
    settings = config.load()
except Exception as failure:  # a configuration that cannot be used says which setting, never its value
    show_error(failure, view.lang)
    settings = None


def target_label(target: str) -> str:
    if target == "owners":
        return tr("alerts_to_owners")
    kind, _, rest = target.partition(":")
    return tr(f"alerts_to_{kind}", name=rest)


def subscriptions_section() -> None:
    found = alerts.subscriptions(store, view.identity, dataset)
    st.subheader(tr("alerts_subscriptions"))
    if not found:
        st.info(tr("alerts_none" if view.can("alerts") else "alerts_none_for_you"))
        return
    st.dataframe(pd.DataFrame({
        tr("alerts_col_id"): [s.subscription_id for s in found],
        tr("alerts_col_rule"): [tr(f"alert_rule_{s.rule}") for s in found],
        tr("alerts_col_to"): [target_label(s.target) for s in found],
        tr("alerts_col_threshold"): ["" if s.threshold is None else f"{s.threshold:g}" for s in found],
        tr("alerts_col_scope"): [tr(f"churn_scope_{s.scope}") for s in found],
        tr("alerts_col_level"): [tr(f"report_by_{s.by}") for s in found],
        tr("alerts_col_lang"): ["中文" if s.lang == "zh" else "English" for s in found],
        tr("alerts_col_by"): [s.created_by for s in found],
    }), hide_index=True, width="stretch")
    if not view.can("alerts"):
        return
    ids = [s.subscription_id for s in found]
    cols = st.columns([3, 1])
    chosen = cols[0].selectbox(tr("alerts_remove_pick"), ids, key="alerts_remove_pick")
    if cols[1].button(tr("alerts_remove"), key="alerts_remove"):
        try:
            alerts.unsubscribe(store, view.identity, dataset, chosen)
        except Exception as failure:
            show_error(failure, view.lang)
            return
        st.rerun()


def subscribe_section() -> None:
    if not view.can("alerts"):
        return
    st.subheader(tr("alerts_add"))
    channels = list(settings.channels) if settings else []
    kinds = ["owners", "email"] + (["channel"] if channels else [])
    with st.form("alerts_subscribe"):
        cols = st.columns(3)
        rule = cols[0].selectbox(tr("alerts_col_rule"), list(RULES), format_func=labeller("alert_rule_"), key="alerts_rule")
        kind = cols[1].selectbox(tr("alerts_col_to"), kinds, format_func=labeller("alerts_kind_"), key="alerts_kind")
        address = cols[2].text_input(tr("alerts_address"), key="alerts_address")
        channel = cols[2].selectbox(tr("alerts_channel"), channels, key="alerts_channel") if channels else None
        cols = st.columns(3)
        threshold = cols[0].number_input(tr("alerts_col_threshold"), min_value=0.0, value=None, step=0.05,
                                         placeholder=tr("alerts_threshold_default"), key="alerts_threshold")
        scope = cols[1].radio(tr("alerts_col_scope"), ["key", "all"], format_func=labeller("churn_scope_"),
                              horizontal=True, key="alerts_scope")
        lang = cols[2].radio(tr("alerts_col_lang"), ["zh", "en"], format_func=lambda x: "中文" if x == "zh" else "English",
                             horizontal=True, key="alerts_lang")
        st.caption(tr(by_key("alerts_level")))
        st.caption(tr("alerts_thresholds", **{k: f"{v:g}" for k, v in DEFAULT_THRESHOLDS.items()}))
        if not st.form_submit_button(tr("alerts_subscribe"), type="primary", key="alerts_subscribe_submit"):
            return
    target = {"owners": "owners", "email": f"email:{address}", "channel": f"channel:{channel}"}[kind]
    try:
        made = alerts.subscribe(store, view.identity, dataset, rule, target, threshold, scope, view.by, lang,
                                settings=settings)
    except Exception as failure:
        show_error(failure, view.lang)
        return
    st.session_state["alerts_flash"] = tr("alerts_subscribed", subscription_id=made.subscription_id)
    st.rerun()  # (the list above shows it)


def preview_section() -> None:
    """What a run as of the period's end would send now (nothing is sent or recorded)."""
    if not view.can("alerts"):
        return
    st.subheader(tr("alerts_preview"))
    st.caption(tr("alerts_preview_help"))
    if not st.button(tr("alerts_preview_button"), key="alerts_preview"):
        return
    try:
        with st.spinner(tr("computing")):
            result = alerts.run(store, view.identity, dataset, view.end, dry_run=True, settings=settings)
    except Exception as failure:
        show_error(failure, view.lang)
        return
    st.write(tr("alerts_preview_result", alerts=format_count(result.alerts), recipients=format_count(len(result.deliveries)),
                suppressed=format_count(result.suppressed)))
    for entry in result.deliveries:
        with st.expander(tr("alerts_preview_to", to=entry["to"], alerts=format_count(entry["alerts"]))):
            st.text(entry["text"])  # names are text
    if result.unaddressed:
        st.warning(escape_markdown(tr("cli_alerts_unaddressed", owners=", ".join(result.unaddressed))))


def log_section() -> None:
    if not view.can("alerts"):
        return
    entries = alerts.alert_log(store, view.identity, dataset, limit=200)
    st.subheader(tr("alerts_log"))
    if not entries:
        st.caption(tr("alerts_log_empty"))
        return
    st.dataframe(pd.DataFrame({
        tr("alerts_log_at"): [e["at"][:19].replace("T", " ") for e in entries],
        tr("alerts_col_to"): [e["recipient"] for e in entries], tr("alerts_log_channel"): [e["channel"] for e in entries],
        tr("alerts_log_status"): [tr(f"alerts_status_{e['status']}") for e in entries],
        tr("alerts_log_alerts"): [e["alerts"] for e in entries], tr("alerts_log_detail"): [e["detail"] or "" for e in entries],
    }), hide_index=True, width="stretch")


if "alerts_flash" in st.session_state:
    st.success(st.session_state.pop("alerts_flash"))
subscriptions_section()
subscribe_section()
preview_section()
log_section()
