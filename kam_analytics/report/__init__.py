"""The report for the review meeting: a PDF of an archived review (or of the accounts evaluated
now), compared with an earlier review — summary figures, concentration, key accounts and what
changed, the revenue bridge, churn and overdue receivables (``document.py``; charts drawn
without a browser, ``charts.py``).

HTML and CSS are set into PDF by WeasyPrint, which embeds subsets of the fonts it uses: text
stays text, Chinese names included, in a CJK font the system has (Debian's fonts-noto-cjk; ``make
run`` and ``make test`` install it as root). Without such a font, or without Pango, the report
is refused with a sentence saying what to install, rather than printed with empty boxes.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import pandas as pd

from kam_analytics import reviews, service
from kam_analytics.access import Identity, require
from kam_analytics.errors import KamError, StoreError
from kam_analytics.i18n import format_share, t


@dataclass
class Content:
    """What a report shows: the accounts (``rows``, as a review archives them, those the reader
    sees), the review's settings and summary, and — when there is an earlier review at the same
    level — its rows, the bridge and the migration (``analytics.reviews``)."""

    dataset_name: str
    as_of: str
    by: str
    rows: pd.DataFrame
    settings: dict
    summary: dict
    review_id: int | None
    created_at: str | None
    created_by: str | None
    note: str
    scoped: bool
    earlier_id: int | None = None
    earlier_as_of: str | None = None
    earlier_rows: pd.DataFrame | None = None
    bridge: dict | None = None
    matrix: pd.DataFrame | None = None
    moves: pd.DataFrame | None = None

    @property
    def key_share(self) -> float | None:
        """The key accounts' share of the twelve months' revenue: Σ revenue_12m of the key
        accounts / Σ revenue_12m (None when nobody bought)."""
        total = float(self.rows["revenue_12m"].sum())
        return float(self.rows.loc[self.rows["key_account"].astype(bool), "revenue_12m"].sum()) / total if total > 0 else None

    def origin(self, lang: str) -> str:
        """Where the figures come from: the archived review (number, when, by whom) or an
        evaluation made for this report."""
        level = t(f"report_by_{self.by}", lang)
        if self.review_id is None:
            return t("report_origin_live", lang, dataset=self.dataset_name, as_of=self.as_of, level=level,
                     version=self.settings.get("dataset_version"))
        return t("report_origin_review", lang, review_id=self.review_id, dataset=self.dataset_name, as_of=self.as_of,
                 level=level, created_at=(self.created_at or "")[:16].replace("T", " "), created_by=self.created_by or "",
                 version=self.settings.get("dataset_version"))

    def standard(self, lang: str) -> str:
        """The standard the accounts were evaluated against, in one sentence."""
        rule = self.settings.get("key_rule", {})
        line = (t("report_rule_score", lang, score=f"{rule.get('min_score', 0):g}") if rule.get("kind") == "score"
                else t("report_rule_tiers", lang, tiers=", ".join(t(f"tier_{x}", lang) for x in rule.get("tiers", []))))
        window = self.settings.get("window_months")
        return t("report_standard", lang, rule=line,
                 window=t("report_window_all", lang) if not window else t("report_window_months", lang, months=window),
                 horizon=self.settings.get("horizon_days"), basis=t(f"ka_basis_{self.settings.get('tier_basis', 'score')}", lang),
                 cuts=" / ".join(format_share(c, 0) for c in self.settings.get("tier_cuts", [])))


@dataclass
class Made:
    """A report made: the PDF's bytes, its number of pages and the date it reports on."""

    pdf: bytes
    pages: int
    as_of: str


def content(store, identity: Identity, dataset, review_id=None, compare_to=None, as_of=None,
            by: str = "customer") -> Content:
    """The report's content: archived review ``review_id`` (its date and level), else the
    accounts evaluated now as of ``as_of`` (default: the dataset's last day) at level ``by``,
    not archived; compared with review ``compare_to``, else the latest earlier review at the
    same level (none: no comparison). A scoped reader sees the accounts of their scope and no
    portfolio concentration."""
    require(identity, "read")
    if review_id is not None:
        review = reviews.review_of(store, identity, dataset, review_id)
        base = Content(dataset.name, review.as_of, review.by, reviews.review_rows(store, identity, review),
                       review.settings, review.summary, review.review_id, review.created_at, review.created_by,
                       review.note, identity.scope is not None)
    else:
        day = as_of or service.default_as_of(dataset)
        if day is None:
            raise KamError("review_no_lines", dataset=dataset.name)
        taken = reviews.snapshot(store, dataset, day, by)
        base = Content(dataset.name, taken.as_of, by, reviews.visible_rows(identity, taken.rows), taken.settings, taken.summary, None, None, None, "",
                       identity.scope is not None)
    earlier = None
    if compare_to is not None:
        earlier = reviews.review_of(store, identity, dataset, compare_to)
        if earlier.by != base.by:
            raise StoreError("review_levels_differ", first=compare_to, second=review_id or base.as_of)
    else:
        earlier = next(iter(reviews.earlier_reviews(store, dataset.id, base.by, base.as_of)), None)
    if earlier is not None:
        before = reviews.review_rows(store, identity, earlier)
        base.earlier_id, base.earlier_as_of, base.earlier_rows = earlier.review_id, earlier.as_of, before
        base.bridge, base.matrix, base.moves = reviews.compared(earlier, before, base.rows,
                                                                base.settings.get("criteria", []))
    return base


def review_report(store, identity: Identity, dataset, review_id=None, compare_to=None, as_of=None,
                  by: str = "customer", lang: str = "en") -> Made:
    """The PDF of ``content`` in ``lang``."""
    from kam_analytics.report.document import html

    made = content(store, identity, dataset, review_id, compare_to, as_of, by)
    pdf, pages = render(html(made, lang))
    return Made(pdf, pages, made.as_of)


def cjk_font_available() -> bool:
    """Whether fontconfig knows a font with Chinese glyphs (the report's names and words)."""
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30)
    return bool(found.stdout.strip())


def render(document: str) -> tuple[bytes, int]:
    """``document`` (HTML) set as PDF by WeasyPrint: (the PDF's bytes, its pages). Refused with
    what to install when Pango or a CJK font is missing."""
    try:
        from weasyprint import HTML
    except OSError as error:  # WeasyPrint is installed but Pango (a system library) is not
        raise KamError("report_engine_missing", reason=str(error).splitlines()[0]) from None
    if not cjk_font_available():
        raise KamError("report_font_missing")
    rendered = HTML(string=document, base_url=None).render()
    return rendered.write_pdf(), len(rendered.pages)
