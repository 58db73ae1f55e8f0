"""Alert rules: which accounts a subscription's rule finds as of a date, each with the figures a
message gives. Every rule reads the figures the pages show (``kam_analytics.service``), on the
whole dataset at the subscription's level: an account's risk is the account's, whoever hears of it.

  at_risk       a key account still active whose churn probability is at or above the threshold
                (default 0.5) — the churn page's at-risk list;
  lapsed        an account on the churn page's lapsed list (scope 'key': a key account as of the
                date or one horizon earlier; 'all': every account);
  concentration an account whose share of revenue over the twelve months ending on the date is at
                or above the threshold (default 0.10: the disclosure line); with scope 'all' the
                top-5 share reaching the threshold is one alert of its own (account '*top5');
  overdue       a key account (scope 'key') or any account owing more than 90 days overdue above
                the threshold (default 0);
  paying_later  an account on the receivables page's getting-worse list (paying later, overdue
                rising three months running, slow payer, over its credit limit);
  tier_drop     an account whose tier fell between the dataset's two latest archived reviews at
                the level (dated on or before the date).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from kam_analytics import service

RULES = ("at_risk", "lapsed", "concentration", "overdue", "paying_later", "tier_drop")
DEFAULT_THRESHOLDS = {"at_risk": 0.5, "concentration": 0.10, "overdue": 0.0}
HORIZON_DAYS = 90
TOP5 = "*top5"  # the account of the portfolio-wide top-5 alert


@dataclass(frozen=True)
class Alert:
    """One account a rule found: ``figures`` are plain numbers and dates a message words."""

    rule: str
    account: str
    name: str
    owner: str
    figures: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"rule": self.rule, "account_id": self.account, "name": self.name, "owner": self.owner, **self.figures}


def threshold_of(subscription) -> float | None:
    return subscription.threshold if subscription.threshold is not None else DEFAULT_THRESHOLDS.get(subscription.rule)


def evaluate(store, dataset, subscription, as_of) -> list[Alert]:
    """The alerts ``subscription``'s rule finds on ``dataset`` as of ``as_of``, by account id."""
    data_slice = service.Slice.of(dataset, by=subscription.by)
    finder = {"at_risk": _at_risk, "lapsed": _lapsed, "concentration": _concentration, "overdue": _overdue,
              "paying_later": _paying_later, "tier_drop": _tier_drop}[subscription.rule]
    found = finder(store, dataset, data_slice, subscription, as_of)
    return sorted(found, key=lambda a: a.account)


def _alerts(rule: str, rows, owners: dict, figures) -> list[Alert]:
    out = []
    for row in rows.to_dict("records"):
        cid = str(row["customer_id"])
        name = row.get("name")
        out.append(Alert(rule, cid, name if isinstance(name, str) else "", owners.get(cid, ""), figures(row)))
    return out


def _day(value) -> str | None:
    return None if value is None or value != value else str(value)[:10]


def _at_risk(store, dataset, data_slice, subscription, as_of) -> list[Alert]:
    listed = service.churn_list(store, data_slice, as_of, HORIZON_DAYS, "key", listing="at_risk", listed=None).table
    hit = listed[listed["risk"] >= threshold_of(subscription)]
    return _alerts("at_risk", hit, service.account_owners(store, data_slice), lambda r: {
        "risk": float(r["risk"]), "revenue_at_risk": float(r["revenue_at_risk"]), "last_order": _day(r["last"]),
        "reasons": json.loads(json.dumps(r["reasons"], default=_plain))})


def _lapsed(store, dataset, data_slice, subscription, as_of) -> list[Alert]:
    listed = service.churn_list(store, data_slice, as_of, HORIZON_DAYS, subscription.scope, listing="lapsed",
                                listed=None).table
    return _alerts("lapsed", listed, service.account_owners(store, data_slice), lambda r: {
        "last_order": _day(r["last"]), "days_silent": int(r["recency_days"]),
        "typical_gap_days": None if r["typical_gap_days"] != r["typical_gap_days"] else float(r["typical_gap_days"]),
        "revenue_last_year": float(r["revenue_last_year"])})


def _concentration(store, dataset, data_slice, subscription, as_of) -> list[Alert]:
    from kam_analytics.analytics import concentration
    from kam_analytics.analytics.window import window_start

    year = service.Slice.of(dataset, start=window_start(as_of, 12), end=as_of, by=subscription.by)
    ranked = concentration.ranked_customers(service.order_lines(store, year), "revenue")
    level = threshold_of(subscription)
    total = float(ranked["x"].sum()) if len(ranked) else 0.0
    if total <= 0:
        return []
    ranked = ranked.assign(share=ranked["x"] / total)
    owners = service.account_owners(store, data_slice)
    out = _alerts("concentration", ranked[ranked["share"] >= level - 1e-12], owners, lambda r: {
        "share": float(r["share"]), "revenue_12m": float(r["x"]), "threshold": level})
    if subscription.scope == "all":
        top5 = float(ranked["x"].head(5).sum()) / total
        if top5 >= level - 1e-12:
            out.append(Alert("concentration", TOP5, "", "", {"top5_share": top5, "threshold": level}))
    return out


def _owed(store, data_slice, as_of):
    if not service.has_receivables(store, data_slice):
        return None
    return service.receivables(store, data_slice, as_of)


def _key_ids(store, data_slice, as_of) -> set[str]:
    return set(service.scorecard(store, data_slice, as_of).table.query("key_account")["customer_id"].astype(str))


def _overdue(store, dataset, data_slice, subscription, as_of) -> list[Alert]:
    owed = _owed(store, data_slice, as_of)
    if owed is None:
        return []
    hit = owed[owed["overdue_90_plus"] > threshold_of(subscription) + 0.005]
    if subscription.scope == "key":
        hit = hit[hit["customer_id"].astype(str).isin(_key_ids(store, data_slice, as_of))]
    return _alerts("overdue", hit, service.account_owners(store, data_slice), lambda r: {
        "overdue_90_plus": float(r["overdue_90_plus"]), "outstanding": float(r["outstanding"])})


def _paying_later(store, dataset, data_slice, subscription, as_of) -> list[Alert]:
    from kam_analytics.analytics.receivables import getting_worse

    owed = _owed(store, data_slice, as_of)
    if owed is None:
        return []
    hit = getting_worse(owed)
    if subscription.scope == "key":
        hit = hit[hit["customer_id"].astype(str).isin(_key_ids(store, data_slice, as_of))]
    return _alerts("paying_later", hit, service.account_owners(store, data_slice), lambda r: {
        "flags": list(r["flags"]), "avg_days_late_recent": _number(r.get("avg_days_late_recent")),
        "avg_days_late_prior": _number(r.get("avg_days_late_prior")), "overdue": float(r["overdue"])})


def _plain(value):
    """A numpy number as Python's (for the JSON of a reason); anything else as text."""
    return value.item() if hasattr(value, "item") else str(value)


def _number(value):
    return None if value is None or value != value else float(value)


def _tier_drop(store, dataset, data_slice, subscription, as_of) -> list[Alert]:
    from kam_analytics.analytics.accounts import TIERS

    on_file = [r for r in store.reviews.list(dataset.id) if r.by == subscription.by and r.as_of <= str(as_of)[:10]]
    if len(on_file) < 2:
        return []
    later, earlier = on_file[0], on_file[1]
    a = store.reviews.rows(earlier).set_index("customer_id")
    b = store.reviews.rows(later)
    if subscription.scope == "key":
        b = b[b["customer_id"].isin(set(a.index[a["key_account"].astype(bool)]))]
    rank = {tier: i for i, tier in enumerate(TIERS)}
    before = b["customer_id"].map(a["tier"])
    fell = b[before.notna() & (b["tier"].map(rank) > before.map(rank))].assign(tier_before=before)
    owners = dict(zip(b["customer_id"].astype(str), b["owner"].fillna(""))) if "owner" in b else {}
    return _alerts("tier_drop", fell, owners, lambda r: {
        "tier_before": r["tier_before"], "tier_after": r["tier"], "review_before": earlier.review_id,
        "review_after": later.review_id, "as_of_before": earlier.as_of, "as_of_after": later.as_of})
