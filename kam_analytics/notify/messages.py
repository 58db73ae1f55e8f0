"""A digest — one recipient's new alerts of one run, grouped by rule — worded in the recipient's
language (every word from the i18n catalogs) for each kind of channel: plain text and HTML for
e-mail, Markdown for the robots (DingTalk, WeCom, Feishu), JSON for a webhook.

User text (names, owners, the dataset's name) is text everywhere: escaped in HTML; in robot
Markdown its Markdown characters are replaced by their full-width forms and '://' is broken, so
a customer named ``[点我](http://evil.example/x)`` reads as that text and never becomes a link
(robots' Markdown has no reliable escape character). Only the links we make are links.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from kam_analytics.i18n import customer_label, format_amount, format_share, join_list, t

WECOM_LIMIT = 4096  # bytes of a WeCom robot's markdown content
_FULL_WIDTH = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "*": "＊", "_": "＿",
                             "`": "｀", "#": "＃", "!": "！", "|": "｜", "~": "～", "\\": "＼", "\n": " ", "\r": " "})


@dataclass
class Digest:
    """One recipient's alerts of a run (``notify.rules.Alert``), as of a date, on a dataset."""

    dataset_name: str
    dataset_id: int
    as_of: str
    lang: str
    alerts: list
    base_url: str = ""

    def by_rule(self) -> list[tuple[str, list]]:
        from kam_analytics.notify.rules import RULES

        return [(rule, [a for a in self.alerts if a.rule == rule]) for rule in RULES
                if any(a.rule == rule for a in self.alerts)]


def robot_text(text: str) -> str:
    """User text for robot Markdown: Markdown characters in their full-width forms, '://'
    broken (no link, no image, no emphasis, no heading can come of it)."""
    return str(text or "").translate(_FULL_WIDTH).replace("://", ":／／")


def link(digest: Digest, account: str) -> str | None:
    """The account page of ``account`` under the configured base URL (None without one)."""
    if not digest.base_url or account.startswith("*"):
        return None
    return f"{digest.base_url}/account?" + urlencode({"lang": digest.lang, "ds": digest.dataset_id, "account": account})


def line(alert, lang: str) -> str:
    """One alert in a sentence (the account's name is not in it: the label says who)."""
    from kam_analytics.analytics.churn import reason_text

    f = alert.figures
    if alert.rule == "at_risk":
        reasons = join_list([reason_text(r, lang) for r in f.get("reasons") or []], lang, sentences=True)
        return t("alert_line_at_risk", lang, risk=format_share(f["risk"]), revenue=format_amount(f["revenue_at_risk"], lang),
                 reasons=reasons or "–")
    if alert.rule == "lapsed":
        return t("alert_line_lapsed", lang, last=f["last_order"], days=f["days_silent"],
                 revenue=format_amount(f["revenue_last_year"], lang))
    if alert.rule == "concentration":
        if "top5_share" in f:
            return t("alert_line_top5", lang, share=format_share(f["top5_share"]), level=format_share(f["threshold"]))
        return t("alert_line_concentration", lang, share=format_share(f["share"]), level=format_share(f["threshold"]))
    if alert.rule == "overdue":
        return t("alert_line_overdue", lang, amount=format_amount(f["overdue_90_plus"], lang),
                 outstanding=format_amount(f["outstanding"], lang))
    if alert.rule == "paying_later":
        return t("alert_line_paying_later", lang, flags=join_list([t(f"receivables_flag_{x}", lang) for x in f["flags"]], lang),
                 overdue=format_amount(f["overdue"], lang))
    return t("alert_line_tier_drop", lang, before=t(f"tier_{f['tier_before']}", lang), after=t(f"tier_{f['tier_after']}", lang),
             review_before=f["as_of_before"], review_after=f["as_of_after"])


def label(alert, lang: str) -> str:
    if alert.account.startswith("*"):
        return t("alert_portfolio", lang)
    who = customer_label(alert.account, alert.name)
    return t("alert_owner_label", lang, who=who, owner=alert.owner) if alert.owner else who


def title(digest: Digest) -> str:
    return t("alert_digest_title", digest.lang, dataset=digest.dataset_name, as_of=digest.as_of,
             count=len(digest.alerts))


def plain_text(digest: Digest) -> str:
    lang, out = digest.lang, [title(digest), ""]
    for rule, alerts in digest.by_rule():
        out.append(t(f"alert_rule_{rule}", lang))
        for alert in alerts:
            out.append(f"- {label(alert, lang)}: {line(alert, lang)}")
            if link(digest, alert.account):
                out.append(f"  {link(digest, alert.account)}")
        out.append("")
    out.append(t("alert_footer", lang))
    return "\n".join(out)


def html(digest: Digest) -> str:
    lang = digest.lang
    parts = [f"<h2>{escape(title(digest))}</h2>"]
    for rule, alerts in digest.by_rule():
        parts.append(f"<h3>{escape(t(f'alert_rule_{rule}', lang))}</h3><ul>")
        for alert in alerts:
            target = link(digest, alert.account)
            who = escape(label(alert, lang))
            who = f'<a href="{escape(target, quote=True)}">{who}</a>' if target else who
            parts.append(f"<li>{who}: {escape(line(alert, lang))}</li>")
        parts.append("</ul>")
    parts.append(f"<p>{escape(t('alert_footer', lang))}</p>")
    return f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><meta charset="utf-8"><body>' + "".join(parts) + "</body></html>"


def markdown_parts(digest: Digest, limit: int | None = None) -> list[str]:
    """The digest in robot Markdown, split into messages of at most ``limit`` bytes (UTF-8)
    between alerts (each part starts with the title)."""
    lang = digest.lang
    head = f"### {robot_text(title(digest))}\n"
    blocks = []
    for rule, alerts in digest.by_rule():
        heading = f"**{robot_text(t(f'alert_rule_{rule}', lang))}**\n"
        for i, alert in enumerate(alerts):
            target = link(digest, alert.account)
            who = robot_text(label(alert, lang))
            who = f"[{who}]({target})" if target else who
            blocks.append((heading if i == 0 else "") + f"- {who}: {robot_text(line(alert, lang))}\n")
    parts, current = [], head
    for block in blocks:
        if limit and len((current + block).encode("utf-8")) > limit and current != head:
            parts.append(current)
            current = head
        current += block
    parts.append(current)
    return parts


def webhook_document(digest: Digest) -> dict:
    """The JSON a webhook receives: every alert as data."""
    return {"dataset": digest.dataset_name, "dataset_id": digest.dataset_id, "as_of": digest.as_of, "lang": digest.lang,
            "alerts": [{**a.to_json(), "link": link(digest, a.account)} for a in digest.alerts]}
