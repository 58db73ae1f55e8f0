"""The sentences of an ingest report, for the command line and the upload page alike."""
from __future__ import annotations

from kam_analytics.i18n import join_list, t

# the reasons a set-aside row is not data at all (a repeated header, a total line, a title or
# note line): reported apart from the data rows refused
NOT_DATA = ("header_repeated", "summary_row", "title_line")


def report_details(report: dict, lang: str) -> list[str]:
    """How the encoding was decided, the row count both ways (file vs loaded + rejected), the
    date formats read and the columns read with a decimal comma."""
    lines = []
    if report.get("encoding_reason"):
        lines.append(t("report_encoding_reason", lang, reason=t("encoding_reason_" + report["encoding_reason"], lang)))
    if report.get("count_method"):
        lines.append(t("report_counts", lang, method=t("count_method_" + report["count_method"], lang),
                       records=f"{report['file_records']:,}", header=f"{report['header_records']:,}",
                       blank=f"{report['blank_rows']:,}", data=f"{report['data_rows']:,}",
                       rows=f"{report.get('lines') if report.get('lines') is not None else report['rows']:,}",
                       rejected=f"{sum(f['rejected'] for f in report['files']) if report.get('files') else report['rejected']:,}"))
    if report.get("date_formats"):
        lines.append(t("report_read_as", lang, formats=", ".join(
            f"{t('field_' + c, lang)} {f}" for c, f in report["date_formats"].items())))
    if report.get("decimal_comma"):
        lines.append(t("report_decimal_comma", lang, columns=", ".join(report["decimal_comma"])))
    return lines


def report_warnings(report: dict, lang: str) -> list[str]:
    """Each warning of the report as a sentence (values may hold user text: show as text)."""
    out = []
    for warning in report.get("warnings", []):
        key, _, value = warning.partition(":")
        out.append(t(f"warning_{key}", lang, value=value))
    if report.get("group_conflicts"):
        named = join_list([t("warning_group_conflict_example", lang, customer=e["customer_id"],
                             groups=join_list(e["groups"], lang), kept=e["kept"])
                           for e in report.get("group_conflict_examples", [])], lang)
        out.append(t("warning_group_conflicts", lang, count=f"{report['group_conflicts']:,}", examples=named))
    return out
