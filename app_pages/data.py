"""Data: upload a file (preview, detected encoding/delimiter/mapping, corrections, load with
progress, report with rejected rows), manage datasets, attach per-customer attributes."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from kam_analytics import service
from kam_analytics.export import csv_bytes
from kam_analytics.errors import IngestError
from kam_analytics.i18n import format_count, format_share, join_list
from kam_analytics.ingest import resolve_mapping
from kam_analytics.ingest.append import append_sentence
from kam_analytics.ingest.attributes import attributes_report_lines
from kam_analytics.ingest.report import NOT_DATA, report_details, report_warnings
from kam_analytics.schema import COLUMNS, REQUIRED
from ui import tables
from ui.errors import show_error
from ui.markdown import escape_markdown
from ui.state import frame, labeller, money, select_dataset, tr
from ui.uploads import forget_upload, preview, save_upload

DATE_FORMATS = ("auto", "dmy", "mdy", "ymd")
FILE_TYPES = ["csv", "tsv", "txt", "xlsx", "xlsm", "xlsb", "xls", "ods", "parquet"]

view = frame("data_title")
store = view.store


PREVIEW_CELL_CHARS = 500


def clipped(value):
    """Text cut to ``PREVIEW_CELL_CHARS`` characters, marked with '…'; anything else as it is."""
    if isinstance(value, str) and len(value) > PREVIEW_CELL_CHARS:
        return value[:PREVIEW_CELL_CHARS] + "…"
    return value


def field_label(canonical: str) -> str:
    return tr(f"field_{canonical}") + (" *" if canonical in REQUIRED else "")


def show_report(report: dict) -> None:
    st.success(tr("report_appended" if report.get("append") else "report_loaded",
                  dataset=escape_markdown(report["dataset"]), rows=format_count(report["rows"]),
                  customers=format_count(report["customers"]), revenue=money(report["revenue"]),
                  start=(report["date_min"] or "")[:10], end=(report["date_max"] or "")[:10]))
    if report.get("append"):
        st.info(escape_markdown(append_sentence(report["append"], view.lang)))
    if len(report.get("files") or []) > 1:
        st.dataframe(tables.file_accounts(report["files"], view.lang), hide_index=True)
    details = [tr("report_format", format=tr(f"format_{report['file_format']}"))]
    if report.get("encoding"):
        details.append(tr("report_encoding", encoding=report["encoding"]))
    if report.get("delimiter"):
        details.append(tr("report_delimiter", delimiter=tr(f"delimiter_{report['delimiter']}")))
    if report.get("amount_source") == "quantity_x_unit_price":
        details.append(tr("report_amount_derived"))
    st.caption(" · ".join(details))
    for line in report_details(report, view.lang):
        st.caption(escape_markdown(line))
    for line in report_warnings(report, view.lang):
        st.warning(escape_markdown(line))
    if report.get("duplicate_lines"):
        st.warning(tr(f"report_duplicates_{report['duplicates']}", lines=format_count(report["duplicate_lines"]),
                      amount=f"{report['duplicate_amount']:,.2f}"))
    if report["rejected"]:
        not_data = {k: v for k, v in report["rejected_reasons"].items() if k in NOT_DATA}
        refused = report["rejected"] - sum(not_data.values())
        if not_data:
            st.info(tr("report_not_data", count=format_count(sum(not_data.values())), what=join_list(
                [f"{tr(f'reason_{k}')}: {format_count(v)}" for k, v in not_data.items()], view.lang, sentences=True)))
        if refused:
            st.warning(tr("report_rejected", rejected=format_count(refused)))
        reasons = pd.DataFrame([{tr("col_reason"): tr(f"reason_{k}"), tr("col_rows"): v}
                                for k, v in report["rejected_reasons"].items()])
        st.dataframe(reasons, hide_index=True)
        examples = pd.DataFrame([{tr("col_row"): e["row"], tr("col_reason"): tr(f"reason_{e['reason']}"),
                                  **{k: "" if v is None else v for k, v in e["values"].items()}}
                                 for e in report["rejected_examples"]])
        st.caption(tr("report_examples"))
        st.dataframe(examples, hide_index=True)
        dataset = store.find(report["dataset"])
        if dataset is not None and can_see_rejects():
            rejected_download(dataset, key="report_rejects")
    else:
        st.caption(tr("report_no_rejects"))
    if st.button(tr("report_analyse"), type="primary"):
        st.switch_page("app_pages/overview.py")


_FAILED = "_data_action_failed"  # a button action's failure, shown by the run that follows


def act(action, *args, _then_forget: str | None = None) -> None:
    """A button's action, run as its callback (before the page runs, so no run is cut short by
    a rerun: Streamlit can lose a download's data when one is). A failure is kept and shown by
    the run; ``_then_forget`` names a session key to drop afterwards (a confirmation)."""
    try:
        action(*args)
    except Exception as failure:
        st.session_state[_FAILED] = failure
    finally:
        if _then_forget:
            st.session_state.pop(_then_forget, None)


def rename_to_typed(name: str, field: str) -> None:
    """Rename to the name in the text field as it is when the button is clicked."""
    service.rename_dataset(store, view.identity, name, st.session_state[field].strip())


def can_see_rejects() -> bool:
    """Rejected rows are any account's raw lines: editors without a scope (the service checks)."""
    return view.can("rejected_rows") and view.identity.scope is None


def rejected_download(dataset, key: str) -> None:
    st.download_button(tr("download_rejected"),
                       data=lambda lang=view.lang: csv_bytes(tables.rejected_rows(
                           service.rejected_rows(store, view.identity, dataset), lang)),
                       file_name=f"{dataset.name}-rejected.csv", mime="text/csv", key=key,
                       on_click="ignore")


def mapping_editor(headers: list[str], auto: dict, upload_key: str) -> dict[str, str]:
    """Dropdowns correcting the automatic mapping; returns only the changes (CANONICAL -> header or '')."""
    options = [""] + headers
    unused = tr("mapping_unused")
    label = lambda h: h if h else unused  # noqa: E731
    chosen: dict[str, str] = {}
    required = [c for c in COLUMNS if c in REQUIRED]
    optional = [c for c in COLUMNS if c not in REQUIRED]
    for group, container in ((required, st.container()), (optional, st.expander(tr("mapping_more")))):
        with container:
            cols = st.columns(3)
            for i, canonical in enumerate(group):
                default = auto.get(canonical, "")
                chosen[canonical] = cols[i % 3].selectbox(
                    field_label(canonical), options, index=options.index(default) if default in options else 0,
                    format_func=label, key=f"map_{upload_key}_{canonical}")
    return {c: v for c, v in chosen.items() if v != auto.get(c, "")}


def upload_section() -> None:
    if not view.can("upload"):
        st.info(tr("role_cannot_upload", role=tr(f"role_{view.identity.role}")))
        return
    uploaded = st.file_uploader(tr("upload_label"), type=FILE_TYPES, help=tr("upload_help"), key="upload_file",
                                accept_multiple_files=True) or []
    previous = st.session_state.get("_upload_paths", [])
    if not uploaded:
        for old in previous:  # the files were removed from the uploader: their copies go too
            forget_upload(Path(old))
        st.session_state.pop("_upload_paths", None)
        return
    paths = [save_upload(u) for u in uploaded]
    for old in set(previous) - {str(p) for p in paths}:
        forget_upload(Path(old))
    st.session_state["_upload_paths"] = [str(p) for p in paths]
    path = paths[0]  # the first file is previewed and mapped; the others are read by the same mapping
    if len(paths) > 1:
        st.info(tr("upload_several", count=format_count(len(paths)),
                   files=escape_markdown(join_list([p.name for p in paths], view.lang)), first=escape_markdown(path.name)))
    upload_key = path.parent.name
    sheet = st.session_state.get(f"sheet_{upload_key}")
    date_format = st.session_state.get(f"datefmt_{upload_key}", "auto")
    # the mapping belongs to a sheet: another sheet has other columns, and its own mapping
    # widgets (kept ones held the first sheet's choices: "no column for customer_id …")
    header_key = f"header_{upload_key}:{sheet}"
    header_row = st.session_state.get(header_key) or None  # 0 or unset: found by the load
    mapping_key = f"{upload_key}:{sheet}:{header_row}"
    overrides = st.session_state.get(f"overrides_{mapping_key}", {})
    result, error = preview(str(path), path.stat().st_size, sheet, tuple(sorted(overrides.items())),
                            None if date_format == "auto" else date_format, header_row)
    if error is not None:
        st.error(escape_markdown(error.message(view.lang, page=True)))
        return
    detected = [tr("report_format", format=tr(f"format_{result.file_format}"))]
    if result.encoding:
        detected.append(tr("report_encoding", encoding=result.encoding))
    if result.delimiter:
        detected.append(tr("report_delimiter", delimiter=tr(f"delimiter_{result.delimiter}")))
    st.markdown(f"**{tr('upload_detected')}** " + escape_markdown(" · ".join(detected)))
    if len(result.sheets) > 1:
        st.selectbox(tr("upload_sheet"), result.sheets, index=result.sheets.index(result.sheet),
                     key=f"sheet_{upload_key}")
    st.number_input(tr("upload_header_row"), min_value=0, max_value=result.header_rows, step=1, key=header_key,
                    help=tr("upload_header_row_help", row=result.header_row))
    st.caption(tr("upload_preview", rows=len(result.rows)))
    # a cell or header is cut at PREVIEW_CELL_CHARS: the preview is a look at the columns, and a
    # cell of tens of megabytes would pass Streamlit's message limit (the load reads it whole)
    first_rows = pd.DataFrame([[clipped(c) for c in list(r) + [None] * (len(result.headers) - len(r))]
                               for r in result.rows],
                              columns=[clipped(f"{h}") for h in result.headers])
    st.dataframe(first_rows, hide_index=True, width="stretch", height=240)

    st.subheader(tr("mapping_title"))
    st.caption(tr("mapping_help"))
    auto = resolve_mapping(result.headers, None)
    # (the sheet and header row as chosen on this run)
    mapping_key = f"{upload_key}:{st.session_state.get(f'sheet_{upload_key}')}:{st.session_state.get(header_key) or None}"
    st.session_state[f"overrides_{mapping_key}"] = mapping_editor(result.headers, auto, mapping_key)
    st.selectbox(tr("upload_date_format"), DATE_FORMATS, key=f"datefmt_{upload_key}",
                 format_func=labeller("date_format_"))
    if result.date_formats:
        st.caption(tr("upload_date_detected", formats=join_list(
            [f"{tr('field_' + c)}: {f}" for c, f in result.date_formats.items()], view.lang)))
    if result.error:
        st.warning(escape_markdown(IngestError(result.error, **result.error_params).message(view.lang, page=True)))

    name = st.text_input(tr("upload_name"), value=path.stem, key=f"name_{upload_key}").strip()
    replace = append = False
    overlap = None
    existing = store.find(name) if name else None
    if existing is not None:
        choice = st.radio(tr("upload_existing", name=escape_markdown(name)), ["none", "replace", "append"],
                          format_func=labeller("upload_existing_"), key=f"existing_{upload_key}")
        replace, append = choice == "replace", choice == "append"
        if append:
            keyed = "order_id" in existing.columns
            overlap = st.radio(tr("upload_overlap"), ["orders", "days", "none"] if keyed else ["days", "none"],
                               format_func=labeller("upload_overlap_"), key=f"overlap_{upload_key}",
                               help=tr("upload_overlap_help"))
    duplicates = st.radio(tr("upload_duplicates"), ["ask", "keep", "drop"], horizontal=True, key=f"dups_{upload_key}",
                          format_func=labeller("upload_duplicates_"), help=tr("upload_duplicates_help"))
    blocked = bool(result.error) or not name or (existing is not None and not (replace or append))
    if st.button(tr("upload_add" if append else "upload_load"), type="primary", disabled=blocked,
                 key=f"load_{upload_key}"):
        bar = st.progress(0.0, text=tr("progress_reading"))
        try:
            report = service.load_files(store, view.identity, paths, dataset=name,
                                        mapping=st.session_state[f"overrides_{mapping_key}"],
                                        sheet=result.sheet if result.sheets and len(paths) == 1 else None,
                                        date_format=None if date_format == "auto" else date_format, replace=replace,
                                        append=append, overlap=overlap,
                                        duplicates=duplicates, header_row=header_row if len(paths) == 1 else None,
                                        progress=lambda fraction, key: bar.progress(fraction, text=tr(key)))
        except Exception as failure:  # a refusal says why; anything else gets a reference id
            bar.empty()
            show_error(failure, view.lang)
            return
        st.session_state["_ingest_report"] = report.to_json()
        select_dataset(store.find(report.dataset).id)
        for done in paths:
            forget_upload(done)
        st.session_state.pop("_upload_paths", None)
        st.session_state.pop("upload_file", None)
        st.rerun()


def manage_section() -> None:
    datasets = store.datasets()
    if not datasets:
        st.info(tr("no_dataset"))
        return
    scoped = view.identity.scope is not None  # a dataset's totals cover every account: not for them
    listing = pd.DataFrame([{
        tr("col_dataset"): d.name,
        **({} if scoped else {tr("col_rows"): d.rows, tr("col_customers"): d.customers,
                              tr("col_revenue"): money(d.revenue)}),
        tr("col_period"): f"{str(d.date_min)[:10]} – {str(d.date_max)[:10]}",
        **({} if scoped else {tr("col_rejected"): d.rejected}), tr("col_source"): d.source_file or "",
        tr("col_encoding"): d.encoding or "", tr("col_created"): str(d.created_at)[:16],
    } for d in datasets])
    st.dataframe(listing, hide_index=True, width="stretch")
    by_id = {d.id: d for d in datasets}
    default = view.dataset.id if view.dataset is not None and view.dataset.id in by_id else datasets[0].id
    chosen = by_id[st.selectbox(tr("manage_choose"), list(by_id), index=list(by_id).index(default),
                                format_func=lambda i: by_id[i].name, key="manage_dataset")]
    if not view.can("rename"):
        st.caption(tr("role_cannot_manage", role=tr(f"role_{view.identity.role}")))
        return
    left, right = st.columns(2)
    with left:
        new_name = st.text_input(tr("manage_new_name"), value=chosen.name, key=f"rename_{chosen.id}").strip()
        st.button(tr("manage_rename"), disabled=not new_name or new_name == chosen.name, on_click=act,
                  args=(rename_to_typed, chosen.name, f"rename_{chosen.id}"))
        if chosen.rejected and can_see_rejects():
            rejected_download(chosen, key=f"rejects_{chosen.id}")
        st.caption(tr("manage_replace_hint", name=escape_markdown(chosen.name)))
    with right:
        delete_control(chosen)
    attributes_section(chosen)
    groups_section(chosen)
    receivables_section(chosen)
    costs_section(chosen)


def delete_control(chosen) -> None:
    if not view.can("delete"):
        st.caption(tr("role_cannot_delete", role=tr(f"role_{view.identity.role}")))
        return
    confirm_key = f"confirm_delete_{chosen.id}"
    if not st.session_state.get(confirm_key):
        st.button(tr("manage_delete"), key=f"delete_{chosen.id}", on_click=st.session_state.__setitem__,
                  args=(confirm_key, True))
    else:
        st.warning(tr("manage_delete_confirm", name=escape_markdown(chosen.name), rows=format_count(chosen.rows)))
        yes, no = st.columns(2)
        yes.button(tr("manage_delete_yes"), type="primary", key=f"delete_yes_{chosen.id}", on_click=act,
                   args=(service.delete_dataset, store, view.identity, chosen.name), kwargs={"_then_forget": confirm_key})
        no.button(tr("manage_delete_no"), key=f"delete_no_{chosen.id}", on_click=st.session_state.pop,
                  args=(confirm_key, None))


def attach_form(dataset, key: str, upload_label: str, button_label: str, attach):
    """A file chooser and a button attaching the file to ``dataset`` with ``attach`` (a service
    call: attributes or receivables); the report once attached, else None (after showing why
    it failed)."""
    uploaded = st.file_uploader(upload_label, type=FILE_TYPES, key=f"{key}_file_{dataset.id}")
    if uploaded is None or not st.button(button_label, key=f"{key}_go_{dataset.id}"):
        return None
    path = save_upload(uploaded)
    try:
        return attach(store, view.identity, dataset, path)
    except Exception as failure:
        show_error(failure, view.lang)
        return None
    finally:
        forget_upload(path)


def attributes_section(dataset) -> None:
    st.subheader(tr("attributes_title"))
    st.caption(tr("attributes_help"))
    if dataset.attributes_table:
        st.caption(tr("attributes_present"))
    report = attach_form(dataset, "attr", tr("attributes_upload"),
                         tr("attributes_attach", name=escape_markdown(dataset.name)), service.attach_attributes)
    if report is not None:
        st.success(escape_markdown("  \n".join(attributes_report_lines(report, view.lang))))


def groups_section(dataset) -> None:
    """Customer groups (集团): how many the dataset has, and groups proposed from the customer
    names, in a table to review and edit, applied by a button (an attributes file, audited)."""
    from kam_analytics.analytics.groups import has_groups, members

    st.subheader(tr("groups_title"))
    st.caption(tr("groups_help"))
    key = service.Slice.of(dataset)
    gmap = service.group_map(store, dataset)
    grouped = members(gmap)
    several = grouped[grouped["members"] > 1]
    if has_groups(gmap):
        st.caption(tr("groups_present", groups=format_count(len(several)),
                      customers=format_count(int(several["members"].sum())), accounts=format_count(len(grouped))))
    else:
        st.caption(tr("groups_none"))
    if not st.toggle(tr("groups_suggest"), key=f"groups_suggest_{dataset.id}"):
        return
    from ui import queries

    proposed = queries.suggest_groups(key)
    if proposed.empty:
        st.info(tr("groups_suggest_none"))
        return
    st.caption(tr("groups_suggest_found", groups=format_count(proposed["group"].nunique()),
                  customers=format_count(len(proposed))))
    shown = proposed.rename(columns={"customer_id": tr("col_customer_id"), "name": tr("col_name"),
                                     "group": tr("field_customer_group")})
    shown.insert(0, tr("groups_apply_col"), True)
    edited = st.data_editor(shown, hide_index=True, key=f"groups_editor_{dataset.id}",
                            disabled=[tr("col_customer_id"), tr("col_name")])
    st.download_button(tr("groups_download"), data=csv_bytes(proposed), file_name=f"{dataset.name}-groups.csv",
                       mime="text/csv", key=f"groups_download_{dataset.id}", on_click="ignore")
    if not view.can("attributes"):
        st.caption(tr("groups_cannot_apply", role=tr(f"role_{view.identity.role}")))
        return
    chosen_rows = edited[edited[tr("groups_apply_col")]]
    if st.button(tr("groups_apply", count=format_count(len(chosen_rows))), key=f"groups_apply_{dataset.id}",
                 disabled=chosen_rows.empty):
        rows = pd.DataFrame({"customer_id": chosen_rows[tr("col_customer_id")],
                             "group": chosen_rows[tr("field_customer_group")]})
        try:
            report = service.apply_groups(store, view.identity, dataset, rows)
        except Exception as failure:
            show_error(failure, view.lang)
            return
        st.success(escape_markdown(tr("groups_applied", customers=format_count(len(rows)),
                                      attributes=format_count(report.customers))))


def receivables_section(dataset) -> None:
    st.subheader(tr("recv_file_title"))
    st.caption(tr("recv_file_help"))
    details = dataset.receivables_details
    if dataset.receivables_file:
        st.caption(escape_markdown(tr("recv_file_present", file=details.get("source_file", ""),
                                      rows=format_count(details.get("rows")), invoices=format_count(details.get("invoices")))))
        if details.get("rejected") and can_see_rejects():
            st.download_button(tr("recv_file_download_rejected", count=format_count(details["rejected"])),
                               data=lambda: csv_bytes(service.rejected_rows(store, view.identity, dataset, receivables=True)),
                               file_name=f"{dataset.name}-receivables-rejected.csv", mime="text/csv",
                               key=f"recv_rejects_{dataset.id}", on_click="ignore")
    report = attach_form(dataset, "recv", tr("recv_file_upload"),
                         tr("recv_file_attach", name=escape_markdown(dataset.name)), service.attach_receivables)
    if report is not None:
        text = tr("recv_file_loaded", file=report.source_file, rows=format_count(report.rows),
                  invoices=format_count(report.invoices), customers=format_count(report.customers),
                  matched=format_count(report.matched))
        if report.rejected:
            text += " " + tr("recv_file_rejected", rejected=format_count(report.rejected), reasons=join_list(
                [f"{tr('reject_' + k)} {format_count(v)}" for k, v in report.rejected_reasons.items()], view.lang))
        if report.undated_due:
            text += " " + tr("recv_file_undated", count=format_count(report.undated_due))
        st.success(escape_markdown(text))


def costs_section(dataset) -> None:
    """The costs to serve file (``ingest.costs``): what is attached, its refused rows, and an
    upload (replacing the one attached only when asked)."""
    from kam_analytics.ingest.costs import costs_report_lines

    st.subheader(tr("costs_file_title"))
    st.caption(tr("costs_file_help"))
    details = dataset.costs_details
    replace = False
    if dataset.costs_file:
        st.caption(escape_markdown(tr("costs_file_present", file=details.get("source_file", ""),
                                      rows=format_count(details.get("rows")),
                                      types=join_list(details.get("cost_types") or [], view.lang))))
        if details.get("rejected") and can_see_rejects():
            st.download_button(tr("recv_file_download_rejected", count=format_count(details["rejected"])),
                               data=lambda: csv_bytes(service.rejected_rows(store, view.identity, dataset, costs=True)),
                               file_name=f"{dataset.name}-costs-rejected.csv", mime="text/csv",
                               key=f"costs_rejects_{dataset.id}", on_click="ignore")
        replace = st.checkbox(tr("costs_file_replace"), key=f"costs_replace_{dataset.id}")
    rate = service.financing_rate(store, dataset)
    if view.can("settings"):
        typed = st.number_input(tr("costs_rate"), min_value=0.0, max_value=100.0, value=rate * 100, step=0.25,
                                format="%.2f", key=f"costs_rate_{dataset.id}", help=tr("costs_rate_help"))
        if abs(typed / 100 - rate) > 1e-12 and st.button(tr("costs_rate_save"), key=f"costs_rate_save_{dataset.id}"):
            service.save_financing_rate(store, view.identity, dataset, typed / 100)
            st.success(tr("costs_rate_saved", rate=format_share(typed / 100, 2)))
    else:
        st.caption(tr("costs_rate_shown", rate=format_share(rate, 2)))
    report = attach_form(dataset, "costs", tr("costs_file_upload"),
                         tr("costs_file_attach", name=escape_markdown(dataset.name)),
                         lambda *args: service.attach_costs(*args, replace=replace))
    if report is not None:
        st.success(escape_markdown("  \n".join(costs_report_lines(report, view.lang))))


failed = st.session_state.pop(_FAILED, None)
if failed is not None:
    show_error(failed, view.lang)
report = st.session_state.get("_ingest_report")
if report:
    with st.container(border=True):
        st.subheader(tr("report_title"))
        show_report(report)
        st.button(tr("report_dismiss"), on_click=st.session_state.pop, args=("_ingest_report", None))

def audit_section() -> None:
    """The audit trail (administrators): newest first, with a CSV export."""
    trail = service.audit_export(service.audit_trail(store, view.identity))
    st.caption(tr("audit_help", entries=format_count(len(trail))))
    shown = trail.assign(action=trail["action"].map(labeller("audit_action_")))
    st.dataframe(shown.rename(columns={"at": tr("audit_at"), "actor": tr("audit_actor"), "action": tr("audit_action"),
                                       "dataset": tr("col_dataset"), "detail": tr("audit_detail")}),
                 hide_index=True, width="stretch")
    st.download_button(tr("audit_download"), data=lambda: csv_bytes(trail), file_name="kam-audit.csv",
                       mime="text/csv", key="audit_download", on_click="ignore")


def attach_section() -> None:
    """Attach a table Spark reads (editors): nothing is copied; every page reads it there."""
    if not view.can("upload"):
        st.info(tr("role_cannot_upload", role=tr(f"role_{view.identity.role}")))
        return
    st.caption(tr("attach_help"))
    with st.form("attach_form"):
        table = st.text_input(tr("attach_table"), placeholder="parquet.`/data/orders/`  ·  sales.orders").strip()
        name = st.text_input(tr("upload_name"), key="attach_name").strip()
        mapping = st.text_area(tr("attach_mapping"), placeholder="customer_id=cust_no\norder_date=order_day",
                               help=tr("attach_mapping_help"))
        date_format = st.selectbox(tr("upload_date_format"), DATE_FORMATS, format_func=labeller("date_format_"))
        replace = st.checkbox(tr("attach_replace"))
        go = st.form_submit_button(tr("attach_go"), type="primary")
    if not go:
        return
    from kam_analytics.ingest import parse_overrides

    try:
        with st.spinner(tr("attach_running")):
            report = service.attach_dataset(store, view.identity, name or table, table, "spark",
                                            parse_overrides([line for line in mapping.splitlines() if line.strip()]),
                                            replace=replace, date_format=None if date_format == "auto" else date_format)
    except Exception as failure:
        show_error(failure, view.lang)
        return
    st.success(tr("attach_done", dataset=escape_markdown(report.dataset), rows=format_count(report.rows),
                  customers=format_count(report.customers), revenue=money(report.revenue),
                  rejected=format_count(report.rejected)))
    for line in report_details(report.to_json(), view.lang) + report_warnings(report.to_json(), view.lang):
        st.caption(escape_markdown(line))
    select_dataset(store.find(report.dataset).id)


tabs = [("data_tab_upload", upload_section), ("data_tab_attach", attach_section), ("data_tab_manage", manage_section)]
if view.can("audit"):
    tabs.append(("data_tab_audit", audit_section))
for (_, section), tab in zip(tabs, st.tabs([tr(k) for k, _ in tabs])):
    with tab:
        section()
