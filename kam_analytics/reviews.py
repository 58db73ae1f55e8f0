"""The review on file (定期评判 · 档案): the use cases of archived reviews, shared by the command line
(``review create|list|show|compare|delete``, ``report``), the Reviews page and the tests.

A review evaluates every account against the key-account standard as of a date and archives
the result (``store.reviews``): per account its score, tier, key-account status, each
criterion's value, percentile and part of the score, revenue and profit over the twelve months
ending on the date, churn risk and list, receivables, owner and group; with the weights, tier
cuts, rule, window, horizon and dataset version used, and the twelve months' concentration.
Nothing recomputes an archived review: comparisons and reports read its rows only.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kam_analytics import service
from kam_analytics.access import Identity, require

if TYPE_CHECKING:
    import pandas as pd

    from kam_analytics.store import Review

REVIEW_MONTHS = 12  # the months of revenue and profit a review archives, ending on its date
HORIZON_DAYS = 90   # the churn horizon a review scores with (the churn page's default)
# the columns ``review show --out`` starts with (then the criteria's value_/pct_ columns)
EXPORT_COLUMNS = ["customer_id", "name", "score", "tier", "key_account", "revenue_12m", "profit_12m", "churn_risk",
                  "churn_list", "outstanding", "overdue", "owner", "group_id", "group_name", "flags"]


@dataclass
class Snapshot:
    """A review before it is archived: ``rows`` (one per account), ``settings`` and
    ``summary`` as ``store.reviews.Review`` keeps them."""

    as_of: str
    by: str
    rows: pd.DataFrame
    settings: dict
    summary: dict


def snapshot(store, dataset, as_of, by: str = "customer") -> Snapshot:
    """Every account of ``dataset`` evaluated as of ``as_of`` at level ``by``, with the
    dataset's saved weights and window (``service.scorecard_weights``,
    ``service.standard_months``), the default tiers and key-account rule, the churn model over
    ``HORIZON_DAYS`` and the receivables when the dataset has them. Rows: customer_id, name,
    score, score_rank, tier, key_account, flags, value_/pct_/contrib_<criterion> (the feature's
    value, its percentile score 0–100, its part of the score), revenue_12m and profit_12m
    (``analytics.reviews.revenue_12m``), churn_risk (the probability of lapsing within the
    horizon; empty for an account not active), churn_status ('at_risk', 'lapsed', '' when not
    scored), churn_list ('at_risk' or 'lapsed' for the key accounts the churn page lists, ''
    otherwise), churn_reasons (JSON), outstanding and overdue (receivables; empty without),
    owner, group_id, group_name, members (group level)."""
    import pandas as pd

    from kam_analytics.analytics import accounts, concentration
    from kam_analytics.analytics import reviews as review_math
    from kam_analytics.analytics.customers import per_customer
    from kam_analytics.analytics.window import window_start

    day = dt.date.fromisoformat(str(as_of)[:10])
    everything = service.Slice.of(dataset, by=by)
    months = service.standard_months(store, dataset)
    card = service.scorecard(store, everything, day, features=service.account_features(store, everything, day, months))
    table = card.table
    rows = pd.DataFrame({"customer_id": table["customer_id"].astype(str)})
    rows["name"] = table["name"].to_numpy() if "name" in table else None
    rows["score"] = table["score"].astype("float64").to_numpy()
    rows["score_rank"] = table["score_rank"].to_numpy()
    rows["tier"] = table["tier"].to_numpy()
    rows["key_account"] = table["key_account"].astype(bool).to_numpy()
    rows["flags"] = table["flags"].to_numpy()
    for criterion in card.criteria:
        rows[f"value_{criterion}"] = table[accounts.CRITERIA[criterion][0]].astype("float64").to_numpy()
        rows[f"pct_{criterion}"] = table[f"norm_{criterion}"].astype("float64").to_numpy()
        rows[f"contrib_{criterion}"] = table[f"contrib_{criterion}"].astype("float64").to_numpy()

    since = window_start(day, REVIEW_MONTHS)
    year = service.Slice.of(dataset, start=since, end=day, by=by)
    ranked = concentration.ranked_customers(service.order_lines(store, year), "revenue")
    twelve = review_math.revenue_12m(ranked)
    rows = rows.merge(twelve, on="customer_id", how="outer")  # (an account with lines only in the year)
    rows["revenue_12m"] = rows["revenue_12m"].fillna(0.0)
    if "profit_12m" in rows:
        rows["profit_12m"] = rows["profit_12m"].fillna(0.0)
    rows["key_account"] = rows["key_account"].astype("boolean").fillna(False).astype(bool)

    scored = service.churn_scores(store, everything, day, HORIZON_DAYS)
    risk = scored.table
    rows["churn_risk"] = per_customer(rows["customer_id"], risk, "risk").astype("float64")
    rows["churn_status"] = per_customer(rows["customer_id"], risk, "status").fillna("")
    dimensions = service.account_dimensions(store, everything)
    listed = service.churn_list(store, everything, day, HORIZON_DAYS, "key", scored=scored, card=card,
                                listing="all", listed=None, dimensions=dimensions).table
    rows["churn_list"] = per_customer(rows["customer_id"], listed, "status").fillna("")
    reasons = per_customer(rows["customer_id"], listed, "reasons")
    fallback = per_customer(rows["customer_id"], risk, "reasons")
    rows["churn_reasons"] = [json.dumps(r if isinstance(r, list) else (f if isinstance(f, list) else []),
                                        ensure_ascii=False) for r, f in zip(reasons, fallback)]

    receivables = {}
    if service.has_receivables(store, everything):
        owed = service.receivables(store, everything, day)
        overdue = owed[["overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_90_plus"]].sum(axis=1)
        owed = owed.assign(overdue=overdue)
        rows["outstanding"] = per_customer(rows["customer_id"], owed, "outstanding").astype("float64")
        rows["overdue"] = per_customer(rows["customer_id"], owed, "overdue").astype("float64")
        receivables = {"outstanding": float(owed["outstanding"].sum()), "overdue": float(overdue.sum())}
    else:
        rows["outstanding"] = rows["overdue"] = float("nan")

    rows["owner"] = rows["customer_id"].map(service.account_owners(store, everything, dimensions)).fillna("")
    gmap = service.group_map(store, dataset)
    if by == "group":
        members = service.group_members(store, everything)
        rows["group_id"] = rows["customer_id"]
        rows["group_name"] = per_customer(rows["customer_id"], members, "group_name", key="group_id")
        rows["members"] = per_customer(rows["customer_id"], members, "members", key="group_id").fillna(1).astype(int)
    else:
        rows["group_id"] = per_customer(rows["customer_id"], gmap, "group_id")
        rows["group_name"] = per_customer(rows["customer_id"], gmap, "group_name")
    rows["name"] = rows["name"].where(rows["name"].notna(), per_customer(rows["customer_id"], ranked, "name")) \
        if "name" in ranked else rows["name"]
    rows = rows.sort_values(["score", "customer_id"], ascending=[False, True], kind="mergesort", na_position="last")
    rows = rows.reset_index(drop=True)

    report = concentration.concentration(ranked, "revenue").to_json()
    if by == "group":
        for flag in report["flags"]:
            if "customer_id" in flag:
                flag["group_name"] = per_customer(pd.Series([flag["customer_id"]]), rows, "group_name").iloc[0]
    key = rows["key_account"]
    summary = {
        "as_of": day.isoformat(), "since": since.isoformat(), "accounts": int(len(rows)), "key_accounts": int(key.sum()),
        "revenue_12m": float(rows["revenue_12m"].sum()), "key_revenue_12m": float(rows.loc[key, "revenue_12m"].sum()),
        "profit_12m": float(rows["profit_12m"].sum()) if "profit_12m" in rows else None,
        "concentration": report, "pareto": review_math.pareto_points(ranked),
        "receivables": receivables or None,
        "churn": {"method": scored.method, "at_risk": int((rows["churn_list"] == "at_risk").sum()),
                  "lapsed": int((rows["churn_list"] == "lapsed").sum())},
    }
    rule = card.key_rule
    settings = {"weights": card.weights, "criteria": list(card.criteria), "tier_cuts": list(card.tier_cuts),
                "tier_basis": card.tier_basis, "key_rule": {"kind": rule.kind, "min_score": rule.min_score,
                                                            "tiers": list(rule.tiers)},
                "window_months": months, "review_months": REVIEW_MONTHS, "horizon_days": HORIZON_DAYS,
                "dataset_version": dataset.version, "churn_method": scored.method}
    return Snapshot(day.isoformat(), by, rows, settings, summary)


def create_review(store, identity: Identity, dataset, as_of=None, by: str = "customer", note: str = "") -> Review:
    """Evaluate and archive a review of ``dataset`` as of ``as_of`` (default: its last day)
    at level ``by`` (editors and administrators; audited 'review_create')."""
    from kam_analytics.errors import KamError

    require(identity, "review")
    if by not in service.LEVELS:
        raise ValueError(by)
    as_of = as_of or service.default_as_of(dataset)
    if as_of is None:
        raise KamError("review_no_lines", dataset=dataset.name)
    taken = snapshot(store, dataset, as_of, by)
    return store.reviews.create(dataset, taken.as_of, by, (note or "").strip(), taken.settings, taken.summary,
                                taken.rows, identity.label)


def list_reviews(store, identity: Identity, dataset) -> list[Review]:
    """The dataset's archived reviews, newest date first."""
    require(identity, "read")
    return store.reviews.list(dataset.id)


def review_of(store, identity: Identity, dataset, review_id) -> Review:
    """Review ``review_id`` of ``dataset``; refused when it is another dataset's."""
    from kam_analytics.errors import StoreError

    require(identity, "read")
    review = store.reviews.get(int(review_id))
    if review.dataset_id != dataset.id:
        raise StoreError("review_other_dataset", review_id=review_id, dataset=dataset.name)
    return review


def visible_rows(identity: Identity, rows: pd.DataFrame) -> pd.DataFrame:
    """A review's rows the identity may see: every account, or with a scope only the accounts
    whose (archived) owner is in it."""
    if identity.scope is None:
        return rows
    return rows[rows["owner"].astype(str).isin(set(identity.scope))].reset_index(drop=True)


def review_rows(store, identity: Identity, review: Review) -> pd.DataFrame:
    """The review's archived rows the identity may see (``visible_rows``)."""
    return visible_rows(identity, store.reviews.rows(review))


def earlier_reviews(store, dataset_id: int, by: str, as_of: str) -> list:
    """The dataset's reviews at level ``by`` dated before ``as_of``, the latest first (ties:
    the last created): the first is what a review of that date is compared with by default."""
    return [r for r in store.reviews.list(dataset_id) if r.by == by and r.as_of < str(as_of)[:10]]


def compared(earlier: Review, before: pd.DataFrame, after: pd.DataFrame, after_criteria: list) -> tuple:
    """(bridge, migration matrix, movers) of the accounts ``after`` (a review's rows, archived
    or evaluated now, scored on ``after_criteria``) against the earlier review's rows
    ``before`` (``analytics.reviews``; movers by the criteria both scored)."""
    from kam_analytics.analytics import reviews as review_math

    criteria = [c for c in earlier.settings.get("criteria", []) if c in after_criteria]
    matrix, moves = review_math.migration(before, after, criteria)
    return review_math.bridge(before, after), matrix, moves


def delete_review(store, identity: Identity, dataset, review_id) -> Review:
    """Delete an archived review (administrators; audited 'review_delete')."""
    require(identity, "review_delete")
    review = review_of(store, identity, dataset, review_id)
    return store.reviews.delete(review.review_id, identity.label)


def review_export(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """The ``review show --out`` rows: EXPORT_COLUMNS (key_account as true/false, money to the
    cent, score and risk as archived), then each criterion's value_ and pct_ columns; by group,
    group_id, group_name and members first."""
    # (every column, empty where the review has none, but profit_12m only when the data had profit)
    out = rows.reindex(columns=[c for c in EXPORT_COLUMNS if c != "profit_12m" or c in rows]).copy()
    out["key_account"] = rows["key_account"].map({True: "true", False: "false"})
    for column in ("revenue_12m", "profit_12m", "outstanding", "overdue"):
        if column in out:
            out[column] = out[column].round(2)
    for column in rows.columns:
        if column.startswith(("value_", "pct_")):
            out[column] = rows[column]
    if by == "group":
        head = ["group_id", "group_name", "members"]
        out["members"] = rows["members"] if "members" in rows else 1
        out = out[head + [c for c in out.columns if c not in head]]
    return out


@dataclass
class Comparison:
    """Two archived reviews side by side (``compare``)."""

    earlier: Review
    later: Review
    bridge: dict
    matrix: pd.DataFrame
    moves: pd.DataFrame

    def to_json(self) -> dict:
        """The ``review compare --json`` object."""
        from kam_analytics.analytics.reviews import migration_json

        def records(change):
            return self.moves[self.moves["change"] == change].to_dict("records")

        return {"from": self.earlier.review_id, "to": self.later.review_id, "from_as_of": self.earlier.as_of,
                "to_as_of": self.later.as_of, "by": self.later.by, "bridge": self.bridge,
                "migration": migration_json(self.matrix), "entered": records("entered"), "left": records("left")}


def compare(store, identity: Identity, dataset, from_id, to_id) -> Comparison:
    """The bridge, migration and movers between review ``from_id`` (earlier) and ``to_id``
    (``analytics.reviews``), from their archived rows only (those the identity sees). Two
    reviews at different levels are refused."""
    from kam_analytics.errors import StoreError

    earlier, later = review_of(store, identity, dataset, from_id), review_of(store, identity, dataset, to_id)
    if earlier.by != later.by:
        raise StoreError("review_levels_differ", first=from_id, second=to_id)
    bridge, matrix, moves = compared(earlier, review_rows(store, identity, earlier), review_rows(store, identity, later),
                                     later.settings.get("criteria", []))
    return Comparison(earlier, later, bridge, matrix, moves)
