"""Reviews (评审): the periodic evaluation of key accounts kept on file — create this period's
review (editors), list the reviews on file, compare two (revenue bridge, tier migration, the
accounts that entered or left the list), download a review's rows and the PDF for the meeting,
delete one (administrators)."""
import pandas as pd
import streamlit as st

from kam_analytics import charts, reviews, service
from kam_analytics.analytics.reviews import BRIDGE_KEYS
from kam_analytics.i18n import customer_label, format_count, format_share
from ui.errors import show_error
from kam_analytics.export import csv_bytes
from ui.markdown import escape_markdown
from ui.state import by_key, dataset_dates, frame, money, tr
from ui.widgets import no_dataset

view = frame("reviews_title")
if view.dataset is None:
    no_dataset()
    st.stop()
store, dataset = view.store, view.dataset
st.caption(tr("reviews_intro"))


def create_section() -> None:
    """A new review of the dataset as of a date, at the sidebar's level (editors)."""
    if not view.can("review"):
        st.info(tr("reviews_create_not_allowed"))
        return
    first, last = dataset_dates(dataset)
    with st.form("review_create"):
        cols = st.columns([1, 2])
        as_of = cols[0].date_input(tr("reviews_as_of"), value=view.end or last, min_value=first, max_value=last,
                                   key="review_as_of")
        note = cols[1].text_input(tr("reviews_note"), max_chars=500, key="review_note")
        st.caption(tr(by_key("reviews_level")))
        if not st.form_submit_button(tr("reviews_create"), type="primary", key="review_create_submit"):
            return
    try:
        with st.spinner(tr("reviews_creating")):
            made = reviews.create_review(store, view.identity, dataset, as_of, view.by, note)
    except Exception as failure:  # a refusal says why; anything else gets a reference id
        show_error(failure, view.lang)
        return
    st.session_state["review_pick"] = made.review_id  # (the list below is drawn after this: the new review shows)
    st.success(tr("reviews_created", review_id=made.review_id, as_of=made.as_of,
                  key_accounts=format_count(made.key_accounts), accounts=format_count(made.accounts)))


def review_label(review) -> str:
    return tr("reviews_option", review_id=review.review_id, as_of=review.as_of, level=tr(f"report_by_{review.by}"),
              key_accounts=format_count(review.key_accounts))


create_section()
on_file = reviews.list_reviews(store, view.identity, dataset)
st.subheader(tr("reviews_on_file"))
if not on_file:
    st.info(tr("reviews_none"))
    st.stop()
st.dataframe(pd.DataFrame({
    tr("reviews_col_id"): [r.review_id for r in on_file], tr("reviews_as_of"): [r.as_of for r in on_file],
    tr("reviews_col_level"): [tr(f"report_by_{r.by}") for r in on_file],
    tr("reviews_col_key"): [r.key_accounts for r in on_file], tr("reviews_col_accounts"): [r.accounts for r in on_file],
    tr("reviews_col_created"): [r.created_at[:16].replace("T", " ") for r in on_file],
    tr("reviews_col_by"): [r.created_by for r in on_file], tr("reviews_note"): [r.note for r in on_file],
}), hide_index=True, width="stretch")

by_id = {r.review_id: r for r in on_file}
ids = list(by_id)
labels = {i: review_label(r) for i, r in by_id.items()} | {None: tr("reviews_compare_none")}  # (worded once, here)
if st.session_state.get("review_pick") not in by_id:  # (a review deleted meanwhile, here or elsewhere)
    st.session_state.pop("review_pick", None)
cols = st.columns(2)
review = by_id[cols[0].selectbox(tr("reviews_pick"), ids, format_func=labels.get, key="review_pick")]
earlier = reviews.earlier_reviews(store, dataset.id, review.by, review.as_of)
options = [None] + [r.review_id for r in earlier]
compare_to = cols[1].selectbox(tr("reviews_compare_to"), options, index=1 if earlier else 0,
                               format_func=labels.get,
                               key=f"review_compare_{review.review_id}")

try:
    rows = reviews.review_rows(store, view.identity, review)
except Exception as failure:
    show_error(failure, view.lang)
    st.stop()


def comparison_section() -> None:
    """The bridge of the earlier review's key accounts, the movers and the tier migration."""
    if compare_to is None:
        st.info(tr("report_no_earlier"))
        return
    comparison = reviews.compare(store, view.identity, dataset, compare_to, review.review_id)
    bridge = comparison.bridge
    metrics = st.columns(4) + st.columns(4)
    for col, key in zip(metrics, BRIDGE_KEYS):
        value = bridge[key]
        col.metric(tr(f"reviews_bridge_{key}"), format_share(value) if key in ("nrr", "grr") else money(value),
                   help=tr(f"reviews_bridge_{key}_help"))
    st.plotly_chart(charts.bridge_waterfall(bridge, view.lang), width="stretch", config={"displayModeBar": False})
    moves = comparison.moves
    st.markdown("**" + tr("report_movers") + "**")
    if moves.empty:
        st.caption(tr("report_none"))
    else:
        st.dataframe(pd.DataFrame({
            tr("report_account"): [customer_label(c, n) for c, n in zip(moves["customer_id"], moves["name"])],
            tr("report_change"): [tr(f"ka_change_{c}") for c in moves["change"]],
            tr("report_mover"): [tr(f"criterion_{c}") if isinstance(c, str) else "–" for c in moves["criterion"]],
            tr("report_score_before"): moves["score_before"].round(1), tr("report_score_after"): moves["score_after"].round(1),
        }), hide_index=True, width="stretch")
    st.markdown("**" + tr("report_migration") + "**")
    matrix = comparison.matrix
    st.dataframe(pd.DataFrame(matrix.to_numpy(), index=[tr(f"tier_{i}") for i in matrix.index],
                              columns=[tr(f"tier_{c}") for c in matrix.columns]), width="stretch")


def accounts_section() -> None:
    """The review's key accounts as archived, and the whole review as a file."""
    key = rows[rows["key_account"].astype(bool)]
    st.caption(tr("reviews_rows_caption", key_accounts=format_count(len(key)), accounts=format_count(len(rows)),
                  as_of=review.as_of))
    st.dataframe(pd.DataFrame({
        tr("report_account"): [customer_label(c, n) for c, n in zip(key["customer_id"], key["name"])],
        tr("report_tier"): [tr(f"tier_{x}") for x in key["tier"]], tr("report_score"): key["score"].round(1),
        tr("report_revenue_12m"): key["revenue_12m"].round(2),
        tr("report_risk"): key["churn_risk"].round(3),
    }), hide_index=True, width="stretch")
    stem = f"review-{review.review_id}-{review.as_of}"
    st.download_button(tr("reviews_download_rows"), data=lambda: _recorded(f"{stem}.csv", lambda: csv_bytes(
        reviews.review_export(rows, review.by)), len(rows)), file_name=f"{stem}.csv", mime="text/csv",
        on_click="ignore", key="review_rows_download")


def _recorded(file_name: str, make, count: int) -> bytes:
    data = make()
    service.record_download(store, view.identity, dataset.name, file_name, count)
    return data


def report_section() -> None:
    """The PDF for the review meeting, in the page's language, made when clicked."""
    from kam_analytics import report

    def pdf() -> bytes:
        return _recorded(f"review-{review.review_id}-{view.lang}.pdf", lambda: report.review_report(
            store, view.identity, dataset, review.review_id, compare_to, lang=view.lang).pdf, len(rows))

    st.download_button(tr("reviews_download_pdf"), data=pdf, file_name=f"review-{review.review_id}-{review.as_of}-"
                       f"{view.lang}.pdf", mime="application/pdf", on_click="ignore", key="review_pdf", type="primary")
    st.caption(tr("reviews_pdf_help"))


def delete_section() -> None:
    if not view.can("review_delete"):
        return
    with st.expander(tr("reviews_delete_title")):
        sure = st.checkbox(tr("reviews_delete_confirm", review_id=review.review_id, as_of=review.as_of),
                           key=f"review_delete_sure_{review.review_id}")
        if st.button(tr("reviews_delete"), disabled=not sure, key="review_delete"):
            try:
                reviews.delete_review(store, view.identity, dataset, review.review_id)
            except Exception as failure:
                show_error(failure, view.lang)
                return
            st.session_state.pop("review_pick", None)
            st.rerun()


if review.note:
    st.text(tr("report_note", note=review.note))
st.caption(escape_markdown(tr("reviews_made", created_at=review.created_at[:16].replace("T", " "),
                              created_by=review.created_by, version=review.version)))
report_section()
st.subheader(tr("report_changes"))
try:
    comparison_section()
except Exception as failure:
    show_error(failure, view.lang)
st.subheader(tr("report_key_accounts"))
accounts_section()
delete_section()
