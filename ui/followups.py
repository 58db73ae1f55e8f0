"""The follow-up form and history, shared by the churn page (any account of its list) and the
account page (that account): a follow-up is saved by the service on the dataset version and
the accounts the form was drawn with, and signed by the user (``Identity.label``)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from kam_analytics import service
from kam_analytics.errors import KamError
from kam_analytics.i18n import customer_label
from kam_analytics.store import FOLLOWUP_STATUSES
from ui.markdown import escape_markdown
from ui.session import labeller, tr


def _save(view, form: str, dataset, version: int, shown: tuple, choose: bool) -> None:
    """The form's press, with the dataset version and the accounts the form showed: saved only
    on that version and one of those accounts (``service.add_followup`` refuses a version that
    changed); the outcome is shown on the run that follows."""
    state = st.session_state
    customer = state.get(f"_{form}_customer") if choose else shown[0]
    try:
        if customer not in shown:
            raise KamError("followup_dataset_changed", dataset=dataset.name, customer=str(customer))
        service.add_followup(view.store, view.identity, dataset, customer, state[f"_{form}_status"],
                             note=state.get(f"_{form}_note") or "", expected_version=version)
    except KamError as error:
        state[f"_{form}_outcome"] = ("refused", escape_markdown(error.message(view.lang)))
        return
    state[f"_{form}_outcome"] = ("saved", tr("churn_followup_saved", customer=escape_markdown(customer)))


def followup_form(view, ids: list[str], names: dict, form: str, choose: bool = True) -> None:
    """The form to record a follow-up of one of ``ids`` (the first, without a box to choose,
    unless ``choose``), bound to the dataset version and the accounts it was drawn with; then
    the outcome of the last press."""
    with st.form(form, clear_on_submit=True):
        if choose:
            st.selectbox(tr("churn_account"), ids, format_func=lambda c: customer_label(c, names.get(c)),
                         key=f"_{form}_customer")
        st.selectbox(tr("churn_status"), list(FOLLOWUP_STATUSES), format_func=labeller("status_"),
                     key=f"_{form}_status")
        st.text_area(tr("churn_note"), key=f"_{form}_note")
        st.caption(tr("churn_recorded_as", user=escape_markdown(view.identity.label)))
        st.form_submit_button(tr("churn_save_followup"), on_click=_save,
                              args=(view, form, view.dataset, view.dataset.version, tuple(ids), choose))
    outcome = st.session_state.pop(f"_{form}_outcome", None)
    if outcome is not None:
        kind, message = outcome
        (st.success if kind == "saved" else st.error)(message)


def followup_history(history: pd.DataFrame, with_customer: bool = True) -> None:
    """The follow-ups recorded (``service.followups``), newest first: who, what, the note, when."""
    if history.empty:
        return
    data = {tr("col_customer_id"): history["customer_id"]} if with_customer else {}
    data.update({tr("churn_status"): history["status"].map(lambda s: tr(f"status_{s}")),
                 tr("churn_owner"): history["owner"], tr("churn_note"): history["note"],
                 tr("churn_when"): history["created_at"]})
    st.dataframe(pd.DataFrame(data), hide_index=True, width="stretch")
