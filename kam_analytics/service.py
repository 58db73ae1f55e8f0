"""The use cases: what the command line, the pages and the tests ask of the store and the
analytics, each one function with explicit arguments.

The analytics (``kam_analytics.analytics``) compute on a table of transactions and never see
the store; the store keeps datasets, settings and follow-ups and computes nothing. This module
joins the two: it opens the store, resolves a dataset and a slice of it, looks up the facts and
settings an analysis needs (saved weights, whether every order is one line) and hands them over
as plain values. ``cli.py`` only parses arguments and prints; ``ui/queries.py`` only caches.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kam_analytics import config
from kam_analytics.access import AccessDenied, Identity, require

if TYPE_CHECKING:  # pandas is imported where a frame is made: a CLI command that needs none starts faster
    import pandas as pd

# the store setting that holds the scorecard weights saved on the Key accounts page
WEIGHTS_SETTING = "scorecard_weights"
# the store setting that holds the key-account standard's window, in months (0: all history)
WINDOW_SETTING = "standard_window_months"
# the store setting that holds the annual rate the financing cost of receivables is counted at
FINANCING_SETTING = "financing_rate"
# what an account is: a customer as the data lists it, or the group that buys (``analytics.groups``)
LEVELS = ("customer", "group")


@dataclass(frozen=True)
class Slice:
    """Which transactions a figure is computed on: one dataset at one version, a period
    (whole days, inclusive; None = open), dimension filters (empty = all values) and the
    viewer's scope (the owner values whose accounts they see, ``access.Identity.scope``;
    None = every account; see ``scoped``) and the level accounts are counted at, ``by``:
    'customer' or 'group' (``LEVELS``; a group's figures are its members' lines together,
    ``grouped``).

    Hashable and immutable: it is the cache key of every page query, so a new upload, replace
    or rename (each bumps the version) or another slice gets fresh results."""

    dataset_id: int
    version: int
    start: dt.date | None = None
    end: dt.date | None = None
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    scope: tuple[str, ...] | None = None
    by: str = "customer"

    @classmethod
    def of(cls, dataset, start=None, end=None, dimensions: dict[str, list[str]] | None = None,
           scope: tuple[str, ...] | None = None, by: str = "customer") -> "Slice":
        if by not in LEVELS:
            raise ValueError(by)
        dims = tuple(sorted((name, tuple(sorted(values))) for name, values in (dimensions or {}).items() if values))
        return cls(dataset.id, dataset.version, _day(start), _day(end), dims,
                   None if scope is None else tuple(sorted(set(scope))), by)

    @property
    def dimension_filters(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.dimensions}


def whole(data_slice: Slice) -> Slice:
    """The slice an account's own figures are computed on: the dataset at the slice's version,
    at the slice's level (``by``), with no period, no dimension filter and nobody's scope.
    Risk, reason, lapsed or at risk, score, tier and key-account status are an account's,
    whoever looks and however the page is filtered; filters and scope only choose which
    accounts are listed (``listed_ids``) and which totals are summed."""
    return Slice(data_slice.dataset_id, data_slice.version, by=data_slice.by)


def by_customer(data_slice: Slice) -> Slice:
    """The same slice counted by customer (a group's members are customers)."""
    from dataclasses import replace

    return replace(data_slice, by="customer")


def listed_ids(store, data_slice: Slice) -> set[str] | None:
    """The accounts a slice lists: those with a line matching its dimension filters within its
    scope (``scoped``), whatever the period (an account silent in the period is still the
    viewer's to see: the lapsed are). None when the slice filters nothing and has no scope
    (every account)."""
    from kam_analytics.analytics.filters import apply_filters

    if not data_slice.dimensions and data_slice.scope is None:
        return None
    dataset = dataset_of(store, data_slice)
    table = store.orders(dataset)
    table = scoped(store, dataset, table if table is not None else store.table(dataset), data_slice.scope)
    table = grouped(store, dataset, apply_filters(table, dimensions=data_slice.dimension_filters), data_slice.by)
    return set(table.select("customer_id").distinct().to_pandas()["customer_id"].astype(str))


def _day(value) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# -- the store and its datasets ---------------------------------------------------------------
def open_store(db: str | None = None, seed: bool = True):
    """Open the store file (``--db``, else KAM_DB, else data/kam.duckdb); a new store is
    seeded with the demo dataset unless KAM_NO_DEMO=1."""
    from kam_analytics.store import Store

    path = config.db_path(db)
    is_new = not path.exists()
    store = Store.open(path)
    if is_new and seed and not config.flags().no_demo:
        from kam_analytics import demo

        demo.seed_store(store)
    return store


def dataset_of(store, data_slice: Slice):
    """The dataset a slice reads (by id: a rename keeps the slice valid)."""
    from kam_analytics.errors import StoreError

    dataset = store.dataset_by_id(data_slice.dataset_id)
    if dataset is None:
        raise StoreError("dataset_gone")
    return dataset


def transactions(store, data_slice: Slice, as_of=None):
    """The slice's transactions as an Ibis table (only the accounts of its scope); with
    ``as_of`` nothing dated after that day."""
    from kam_analytics.analytics.filters import apply_filters

    dataset = dataset_of(store, data_slice)
    table = scoped(store, dataset, store.table(dataset), data_slice.scope)
    table = apply_filters(table, start=data_slice.start, end=data_slice.end,
                          as_of=as_of, dimensions=data_slice.dimension_filters)
    return grouped(store, dataset, table, data_slice.by)


def order_lines(store, data_slice: Slice, as_of=None):
    """The slice's lines summed per order, as an Ibis table like ``transactions`` (the same
    columns, filters and scope, plus ``lines``): the dataset's order table (``Store.orders``)
    when it has one, else its lines. Every analysis that only sums measures, counts distinct
    values (orders, customers, months) or takes minima and maxima gets the same figures from
    it, on fewer rows; one that counts lines sums ``lines`` (``line_count``)."""
    from kam_analytics.analytics.filters import apply_filters

    dataset = dataset_of(store, data_slice)
    table = store.orders(dataset)
    if table is None:
        return transactions(store, data_slice, as_of)
    table = scoped(store, dataset, table, data_slice.scope)
    table = apply_filters(table, start=data_slice.start, end=data_slice.end,
                          as_of=as_of, dimensions=data_slice.dimension_filters)
    return grouped(store, dataset, table, data_slice.by)


# -- customer groups --------------------------------------------------------------------------
_GROUP_MAPS: dict[tuple, object] = {}  # (store file, dataset id, version) -> analytics.groups.group_map
_GROUP_MAPS_KEPT = 16


def group_map(store, dataset) -> pd.DataFrame:
    """Every customer of the dataset with its group (``analytics.groups.group_map``):
    customer_id, group_id, group_name — from the attributes file's customer_group, else the
    sales lines' (the latest line's), else the customer alone. Computed once per dataset
    version (a replace, an attributes file or a rename bumps it) and kept in memory."""
    from kam_analytics.analytics import groups
    from kam_analytics.analytics.customers import name_per_customer

    key = (str(getattr(store, "path", id(store))), dataset.id, dataset.version)
    if key in _GROUP_MAPS:
        return _GROUP_MAPS[key]
    lines = store.orders(dataset)
    lines = lines if lines is not None else store.table(dataset)
    customers = name_per_customer(lines).to_pandas()
    from_lines = groups.line_groups(lines).to_pandas() if "customer_group" in lines.columns else None
    attributes = store.attributes(dataset)
    from_attributes = None
    if attributes is not None and "customer_group" in attributes.columns:
        from_attributes = attributes.select("customer_id", "customer_group").to_pandas()
    gmap = groups.group_map(customers, from_lines, from_attributes)
    if len(_GROUP_MAPS) >= _GROUP_MAPS_KEPT:
        _GROUP_MAPS.pop(next(iter(_GROUP_MAPS)))
    _GROUP_MAPS[key] = gmap
    return gmap


def has_group_data(store, dataset) -> bool:
    """Whether any customer of the dataset belongs to a group other than itself."""
    from kam_analytics.analytics.groups import has_groups

    return has_groups(group_map(store, dataset))


def grouped(store, dataset, table, by: str):
    """``table`` (lines of customers) counted at level ``by``: as it is by customer; by group,
    each customer replaced by its group (``analytics.groups.roll_up``, with ``member_id``)."""
    if by != "group":
        return table
    from kam_analytics.analytics.groups import has_groups, roll_up

    gmap = group_map(store, dataset)
    # every customer a group of its own: its lines are its group's as they are (no join of the lines)
    return roll_up(table, gmap) if has_groups(gmap) else table


def group_members(store, data_slice: Slice) -> pd.DataFrame:
    """group_id, group_name, members (how many customers), one row per group of the dataset."""
    from kam_analytics.analytics.groups import members

    return members(group_map(store, dataset_of(store, data_slice)))


def with_group_columns(store, data_slice: Slice, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of a per-account export (customer_id first) as the group level writes them:
    group_id, group_name, members first, then the rest (customer_id kept: the same value as
    group_id, so a script reading either level finds its column). Unchanged by customer."""
    if data_slice.by != "group":
        return rows
    import pandas as pd

    from kam_analytics.analytics.groups import group_head

    return pd.concat([group_head(rows["customer_id"], group_members(store, data_slice)), rows], axis=1)


def group_of(store, data_slice: Slice, customer_id: str) -> dict | None:
    """The group of one customer when it has one beyond itself: {group_id, group_name,
    members}; None for a customer that is a group of its own."""
    gmap = group_map(store, dataset_of(store, data_slice))
    row = gmap[gmap["customer_id"] == str(customer_id)]
    if row.empty:
        return None
    group_id = row["group_id"].iloc[0]
    count = int((gmap["group_id"] == group_id).sum())
    if count == 1 and group_id == str(customer_id):
        return None
    return {"group_id": group_id, "group_name": row["group_name"].iloc[0], "members": count}


def group_member_rows(store, data_slice: Slice, group_id: str, as_of) -> pd.DataFrame:
    """The members of one group as the group's account page lists them, by revenue (ties by
    id): customer_id, name, revenue (net, over the slice's period up to ``as_of``), share (of
    the group's revenue: max(revenue, 0) / Σ max(revenue, 0) over the members; None when no
    member has a positive revenue), last_order (ever, up to ``as_of``) and standing as of
    ``as_of`` (``churn.standing`` of the member alone: 'active', 'lapsed' — silent longer than
    its own rhythm allows, a branch that stopped while the group may go on — or 'gone')."""
    import pandas as pd

    from kam_analytics.analytics import churn, customers

    gmap = group_map(store, dataset_of(store, data_slice))
    ids = gmap.loc[gmap["group_id"] == str(group_id), "customer_id"].tolist()
    columns = ["customer_id", "name", "revenue", "share", "last_order", "standing"]
    if not ids:
        return pd.DataFrame(columns=columns)
    period = order_lines(store, by_customer(data_slice), as_of)
    period = customers.customer_summary(period.filter(period.customer_id.isin(ids)))
    ever = order_lines(store, by_customer(whole(data_slice)), as_of)
    ever = customers.customer_summary(ever.filter(ever.customer_id.isin(ids)))
    out = pd.DataFrame({"customer_id": ids})
    out["name"] = out["customer_id"].map(gmap.set_index("customer_id")["name"]) if "name" in gmap else None
    out["revenue"] = out["customer_id"].map(period.set_index("customer_id")["revenue"]).fillna(0.0)
    positive = out["revenue"].clip(lower=0)
    out["share"] = positive / positive.sum() if positive.sum() > 0 else None
    out["last_order"] = out["customer_id"].map(ever.set_index("customer_id")["last_order"])
    status = churn.standing(ever, as_of) if len(ever) else pd.Series(dtype=str)
    out["standing"] = out["customer_id"].map(pd.Series(status.to_numpy(), index=ever["customer_id"])).fillna("gone")
    return out.sort_values(["revenue", "customer_id"], ascending=[False, True], kind="mergesort")[columns].reset_index(
        drop=True)


def suggest_groups(store, dataset) -> pd.DataFrame:
    """Groups proposed from the dataset's customer names (``analytics.groups.suggest_groups``):
    customer_id, name, group, one row per customer that gets a suggestion. Nothing changes
    until the file is loaded back as attributes."""
    from kam_analytics.analytics.customers import name_per_customer
    from kam_analytics.analytics.groups import suggest_groups as suggest

    lines = store.orders(dataset)
    return suggest(name_per_customer(lines if lines is not None else store.table(dataset)).to_pandas())


def attributes(store, data_slice: Slice):
    """The customer attributes at the slice's level, as an Ibis table (None when the dataset
    has none): by customer, the file's; by group, each group's largest member's
    (``analytics.groups.group_attributes``), its credit limit the members' sum."""
    dataset = dataset_of(store, data_slice)
    table = store.attributes(dataset)
    if table is None or data_slice.by != "group":
        return table
    import ibis

    from kam_analytics.analytics.customers import per_customer_revenue
    from kam_analytics.analytics.groups import group_attributes

    revenue = per_customer_revenue(order_lines(store, by_customer(whole(data_slice)))).to_pandas()
    rows = group_attributes(table.to_pandas(), group_map(store, dataset), revenue)
    return ibis.memtable(rows)


def order_lines_single(store, data_slice: Slice) -> bool:
    """``single_line_orders`` for the table ``order_lines`` gives: on the order table, whether
    each order is one row of it (true unless an order's lines differ in date or a dimension).
    The load says (``Files.build_orders``); a dataset loaded before it did is checked once
    and remembered."""
    dataset = dataset_of(store, data_slice)
    table = store.orders(dataset)
    if table is None:
        return single_line_orders(store, dataset)
    return _order_fact(store, dataset, "single_row_orders", lambda: table)


def _order_fact(store, dataset, fact: str, table) -> bool:
    """``filters.every_order_is_one_line`` of ``table()`` under the name ``fact``: as the load
    recorded it in the dataset's details (``Files.build_orders``), else as remembered with
    the loaded table (``Store.table_setting``), else checked now and remembered."""
    from kam_analytics.analytics.filters import every_order_is_one_line

    known = dataset.details.get(fact)
    known = store.table_setting(dataset, fact) if known is None else known
    if known is None:
        known = every_order_is_one_line(table())
        store.set_table_setting(dataset, fact, known)
    return bool(known)


def scoped(store, dataset, table, scope: tuple[str, ...] | None):
    """The lines of ``table`` a user with ``scope`` may see (the scope rule of the README's
    "Running for a team"):

    - no scope (None): every line;
    - the dataset has customer attributes with an owner: the lines of the accounts whose
      owner attribute is one of ``scope`` (the account's owner, whoever sold each line);
    - else the transactions have an owner column: the lines whose owner is one of ``scope``;
    - else nothing (no owner is known, so no account can be shown as the user's).

    Owner values are compared exactly (the ingest has trimmed them); a missing owner matches
    nothing."""
    if scope is None:
        return table
    attributes = store.attributes(dataset)
    if attributes is not None and "owner" in attributes.columns:
        mine = attributes.filter(attributes.owner.isin(list(scope))).customer_id
        return table.filter(table.customer_id.isin(mine))
    if "owner" in table.columns:
        return table.filter(table.owner.isin(list(scope)))
    import ibis

    return table.filter(ibis.literal(False))


def scoped_by_accounts(store, dataset, table, scope: tuple[str, ...] | None):
    """The rows of ``table`` (another file's: receivables) of the accounts a user with ``scope``
    may see by the sales lines (``scoped``) — never by an owner column of ``table`` itself,
    which whoever attached it could have written to show themselves other accounts."""
    if scope is None:
        return table
    accounts = scoped(store, dataset, store.table(dataset), scope).select("customer_id").distinct()
    if dataset.engine != "duckdb":  # (the lines on Spark, the file in DuckDB: the ids cross over)
        ids = accounts.to_pandas()["customer_id"].tolist()
        return table.filter(table.customer_id.isin(ids))
    return table.filter(table.customer_id.isin(accounts.customer_id))


def scope_has_owner(store, dataset) -> bool:
    """Whether the scope rule can find owners in the dataset (attributes or transactions)."""
    attributes = store.attributes(dataset)
    return dataset.has("owner") or (attributes is not None and "owner" in attributes.columns)


def single_line_orders(store, dataset) -> bool:
    """True when no two lines of the dataset share an order: every (customer, order key) pair
    (``filters.order_key``) occurs once and no line lacks a key. Then orders can be counted as
    lines (``filters.orders_expr``), which skips a grouping by order — the costly part on ten
    million lines; any filter of the lines keeps it true. Checked once per loaded table and
    remembered with it (``Store.table_setting``), unless the load already said
    (``Files.build_orders``)."""
    return _order_fact(store, dataset, "single_line_orders", lambda: store.table(dataset))


def _single_line(store, data_slice: Slice) -> bool:
    return single_line_orders(store, dataset_of(store, data_slice))


def default_as_of(dataset) -> str | None:
    """The as-of date when none is given: the dataset's last day."""
    return dataset.date_max.date().isoformat() if dataset.date_max else None


# -- per customer -----------------------------------------------------------------------------
def customer_summary(store, data_slice: Slice, as_of=None) -> pd.DataFrame:
    """The per-customer summary of the slice (``analytics.customers.customer_summary``)."""
    from kam_analytics.analytics import customers

    return customers.customer_summary(order_lines(store, data_slice, as_of), order_lines_single(store, data_slice))


def revenue_by_period(store, data_slice: Slice, freq: str = "month") -> pd.DataFrame:
    from kam_analytics.analytics import trend

    return trend.revenue_by_period(order_lines(store, data_slice), freq, order_lines_single(store, data_slice))


# -- the key-account scorecard ----------------------------------------------------------------
def saved_weights(store, dataset) -> dict | None:
    """The scorecard weights saved for the dataset on the Key accounts page, if any."""
    return store.get_setting(dataset, WEIGHTS_SETTING)


def save_weights(store, identity, dataset, weights: dict[str, float]) -> None:
    """Save the scorecard weights every page and command then uses (administrators)."""
    require(identity, "settings")
    store.set_setting(dataset, WEIGHTS_SETTING, weights, actor=identity.label)


def scorecard_weights(store, dataset) -> dict[str, float]:
    """The weights every page and command scores with unless told otherwise: the saved ones,
    else the balanced preset."""
    from kam_analytics.analytics import accounts

    return saved_weights(store, dataset) or dict(accounts.PRESETS["balanced"])


def standard_months(store, dataset) -> int:
    """The window the key-account standard is evaluated on, in months ending on the as-of date
    (``accounts.window_start``): the one saved on the Key accounts page, else
    ``accounts.STANDARD_MONTHS``; 0 = the whole history up to the date."""
    from kam_analytics.analytics.window import STANDARD_MONTHS, STANDARD_WINDOWS

    saved = store.get_setting(dataset, WINDOW_SETTING)
    return int(saved) if saved in STANDARD_WINDOWS else STANDARD_MONTHS


def save_standard_months(store, identity, dataset, months: int) -> None:
    """Save the standard's window every page and command then uses (administrators)."""
    from kam_analytics.analytics.window import STANDARD_WINDOWS

    require(identity, "settings")
    if int(months) not in STANDARD_WINDOWS:
        raise ValueError(months)
    store.set_setting(dataset, WINDOW_SETTING, int(months), actor=identity.label)


def account_features(store, data_slice: Slice, as_of, months: int | None = None) -> pd.DataFrame:
    """Scorecard features per customer as of ``as_of`` (``account_features.customer_features``)
    on the whole dataset (``whole``: whatever the slice filters), over the standard's window of
    ``months`` ending on ``as_of`` (``standard_months`` when None; ``accounts.window_start``)."""
    from kam_analytics.analytics.account_features import customer_features
    from kam_analytics.analytics.window import window_start

    dataset = dataset_of(store, data_slice)
    everything = whole(data_slice)
    months = standard_months(store, dataset) if months is None else months
    since = window_start(as_of, months)
    features = customer_features(order_lines(store, everything), as_of, attributes(store, everything),
                                 single_line_orders=order_lines_single(store, everything), since=since)
    if dataset.costs_file and "profit" in dataset.columns and not features.empty:
        # the net margin criterion: the account P&L over the same window (``analytics.costs``)
        result = account_pnl(store, everything, start=since or dataset.date_min, end=as_of)
        margin = result.rows.set_index("customer_id")["net_margin"].astype("float64")
        features["net_margin"] = features["customer_id"].astype(str).map(margin).to_numpy()
    return features


def listed_card(card, ids: set[str] | None):
    """The scorecard ``card`` (scored on the whole dataset) showing only the accounts ``ids``
    (``listed_ids``; None = all): scores, ranks, tiers and flags stay the whole portfolio's."""
    from dataclasses import replace

    if ids is None:
        return card
    return replace(card, table=card.table[card.table["customer_id"].astype(str).isin(ids)].reset_index(drop=True))


def score_features(features: pd.DataFrame, as_of, weights: dict[str, float], tier_cuts: tuple | None = None,
                   key_rule=None):
    """Score features already computed (cheap; the pages re-score on every weight change):
    default tiers (``accounts.TIER_CUTS``) and key-account rule (``accounts.KeyRule.by_score``)
    unless given."""
    from kam_analytics.analytics import accounts

    return accounts.scorecard(features, weights, tier_cuts or accounts.TIER_CUTS, key_rule or accounts.KeyRule.by_score(),
                              as_of)


def scorecard(store, data_slice: Slice, as_of, weights: dict[str, float] | None = None, features=None):
    """The scorecard the pages and commands show by default, of every account of the dataset
    (``account_features``; ``listed_card`` narrows it to a slice's accounts): ``weights`` or the
    dataset's (``scorecard_weights``), default tiers and key-account rule. Pass ``features``
    when they are at hand (the pages cache them)."""
    if features is None:
        features = account_features(store, data_slice, as_of)
    return score_features(features, as_of, weights or scorecard_weights(store, dataset_of(store, data_slice)))


def accounts_table(store, data_slice: Slice, as_of, weights: dict[str, float] | None = None,
                   months: int | None = None) -> pd.DataFrame:
    """The ``accounts --out`` rows (``accounts.scorecard_export``) of the default scorecard
    (over ``months``, else the saved window), the slice's accounts."""
    from kam_analytics.analytics import accounts

    features = account_features(store, data_slice, as_of, months)
    card = scorecard(store, data_slice, as_of, weights, features=features)
    return accounts.scorecard_export(listed_card(card, listed_ids(store, data_slice)))


def key_account_outlook(store, data_slice: Slice, as_of, horizon_days: int = 90, card=None) -> dict | None:
    """The key accounts' expected revenue over the next ``horizon_days`` against what they
    brought in the same days a year earlier (``expected_revenue.outlook``), on the default
    scorecard of the slice's accounts (``card`` when at hand). None without key accounts."""
    from kam_analytics.analytics import expected_revenue

    card = card if card is not None else listed_card(scorecard(store, data_slice, as_of), listed_ids(store, data_slice))
    key = card.table[card.table["key_account"]]
    earlier = expected_revenue.revenue_a_year_earlier(order_lines(store, data_slice), as_of, horizon_days)
    return expected_revenue.outlook(key, earlier, as_of, horizon_days)


# -- concentration ----------------------------------------------------------------------------
def concentration_report(table, measure: str = "revenue") -> dict:
    """The ``concentration --json`` object (see README): indicators of revenue, or with
    measure='profit' the same on profit plus the whale-curve figures; ``table`` is the lines,
    or for measure='net_profit' the accounts already ranked (``concentration.ranked_frame``)."""
    import pandas as pd

    from kam_analytics.analytics import concentration as conc

    ranked = conc.ranked_customers(table, measure) if not isinstance(table, pd.DataFrame) else table
    report = conc.concentration(ranked, measure).to_json()
    if measure in ("profit", "net_profit"):
        whale = conc.whale_curve(ranked)
        report.update(unprofitable_customers=whale.unprofitable_customers,
                      break_even_customers=whale.break_even_customers,
                      profitable_customers=whale.profitable_customers, peak_share=whale.peak_share,
                      peak_customers=whale.peak_customers, top20pct_share=whale.top20pct_share,
                      total=whale.total_profit)
    return report


def slice_concentration(store, data_slice: Slice, measure: str = "revenue") -> dict:
    """``concentration_report`` of a slice; profit needs a dataset with profit (or cost)."""
    from kam_analytics.errors import StoreError

    if measure == "net_profit":
        from kam_analytics.analytics.concentration import ranked_frame

        result = account_pnl(store, data_slice)
        report = concentration_report(ranked_frame(result.rows, "net_profit"), measure)
        report.update(start=result.start.isoformat(), end=result.end.isoformat(), cost_to_serve=round(float(
            result.rows["cost_to_serve"].sum()), 2), financing_rate=result.rate)
    else:
        table = order_lines(store, data_slice)
        if measure == "profit" and "profit" not in table.columns:
            raise StoreError("no_profit", name=dataset_of(store, data_slice).name)
        report = concentration_report(table, measure)
    report["by"] = data_slice.by
    if data_slice.by == "group":
        gmap = group_map(store, dataset_of(store, data_slice))
        for flag in report["flags"]:
            if "customer_id" in flag:
                mine = gmap[gmap["group_id"] == flag["customer_id"]]
                flag["group_name"] = mine["group_name"].iloc[0] if len(mine) else flag["customer_id"]
                flag["members"] = mine["customer_id"].tolist()
    return report


# -- cost to serve: the account P&L ----------------------------------------------------------
def has_costs(store, data_slice: Slice) -> bool:
    """Whether the slice's dataset has a costs file attached (``ingest.costs``)."""
    return bool(dataset_of(store, data_slice).costs_file)


def financing_rate(store, dataset) -> float:
    """The annual rate the financing cost of receivables is counted at: the one saved on the
    Key accounts page (administrators), else 0 (no financing cost)."""
    saved = store.get_setting(dataset, FINANCING_SETTING)
    return float(saved) if isinstance(saved, (int, float)) and saved >= 0 else 0.0


def save_financing_rate(store, identity, dataset, rate: float) -> None:
    """Save the financing rate every page and command then uses (administrators); 0–1."""
    require(identity, "settings")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(rate)
    store.set_setting(dataset, FINANCING_SETTING, rate, actor=identity.label)


def pnl_window(store, data_slice: Slice, start=None, end=None) -> tuple[dt.date, dt.date]:
    """The P&L's window: ``start``/``end`` when given, else the slice's period, else the
    dataset's first and last day."""
    dataset = dataset_of(store, data_slice)
    first = _day(start) or data_slice.start or _day(dataset.date_min)
    last = _day(end) or data_slice.end or _day(dataset.date_max)
    return first, last


def account_pnl(store, data_slice: Slice, start=None, end=None, rate: float | None = None):
    """The account P&L (``analytics.costs.pnl``) over ``pnl_window`` at the slice's level,
    computed on the whole dataset (a shared cost is spread over every account of its values,
    whatever the page filters) and listing the slice's accounts (``listed_ids``). ``rate``:
    the financing rate (``financing_rate`` when None). Refused (StoreError 'no_profit') for a
    dataset without profit or cost: the P&L starts from gross profit."""
    from dataclasses import replace

    from kam_analytics.analytics import costs
    from kam_analytics.errors import StoreError

    dataset = dataset_of(store, data_slice)
    if "profit" not in dataset.columns:
        raise StoreError("no_profit", name=dataset.name)
    first, last = pnl_window(store, data_slice, start, end)
    everything = by_customer(whole(data_slice))
    rate = financing_rate(store, dataset) if rate is None else float(rate)
    owed = receivable_lines(store, everything) if rate and has_receivables(store, everything) else None
    result = costs.pnl(order_lines(store, everything), store.costs(dataset), owed, first, last, rate)
    if data_slice.by == "group":
        result = costs.by_group(result, group_map(store, dataset))
    ids = listed_ids(store, data_slice)
    if ids is not None:
        result = replace(result, rows=result.rows[result.rows["customer_id"].isin(ids)].reset_index(drop=True))
    return result


def pnl_export(result) -> pd.DataFrame:
    """The ``pnl --out`` rows: customer_id, name, revenue, gross_profit, cost_to_serve,
    financing_cost, net_profit, net_margin, then one ``cost_<type>`` column per cost type;
    money to cents, the margin to six decimals; by net profit, lowest first (ties by id)."""
    out = result.rows.copy()
    money = [c for c in out.columns if c not in ("customer_id", "name", "net_margin")]
    out[money] = out[money].astype("float64").round(2)
    out["net_margin"] = out["net_margin"].astype("float64").round(6)
    return out


# -- RFM --------------------------------------------------------------------------------------
def rfm_scores(store, data_slice: Slice, as_of):
    """RFM scores and segments as of ``as_of`` (``rfm.rfm``), not clustered."""
    from kam_analytics.analytics import rfm

    return rfm.rfm(rfm.rfm_values(order_lines(store, data_slice), as_of, order_lines_single(store, data_slice)), as_of)


def rfm_segments(store, data_slice: Slice, as_of, n_clusters="auto"):
    """RFM scores and segments as of ``as_of`` (``rfm_scores``), clustered
    (``rfm.cluster_customers``). Returns the RFM result and the fitted model (None when there
    is nothing to cluster)."""
    from kam_analytics.analytics import rfm

    result = rfm_scores(store, data_slice, as_of)
    model = rfm.cluster_customers(result, n_clusters)
    return result, model


# -- churn ------------------------------------------------------------------------------------
@dataclass
class ChurnList:
    """The accounts a churn review looks at, highest risk first.

    ``table``: customer_id, name (when known), risk, rank (1 = first within the list), status
    ('at_risk' or 'lapsed', ``churn.lapse_status``), expected_revenue (with expected_low and
    expected_high) and revenue_at_risk (``analytics.expected_revenue``), reasons (list of
    reason dicts, ``churn.reason_text`` words them), last, typical_gap_days,
    revenue_last_year (lapsed accounts: the 365 days up to the last order), followup (the
    latest follow-up status, '' when none), followups (how many), followup_at (the latest's
    time), followup_note and followup_by (its note and author), region and owner (the most frequent on the account's lines, when the data has them);
    ``scored``: the whole ``churn.Scored`` result (method, why, training rows);
    ``fallback``: the key-account rule selected nobody, so the top 20% by revenue are watched."""

    table: pd.DataFrame
    scored: object
    fallback: bool


CHURN_LISTS = ("at_risk", "lapsed", "all")


def account_dimensions(store, data_slice: Slice) -> pd.DataFrame:
    """customer_id and, where the lines have them, region and owner: each customer's most
    frequent value (``churn.most_frequent``: ties to the smallest). One row per customer."""
    import pandas as pd

    from kam_analytics.analytics.churn import most_frequent
    from kam_analytics.analytics.customers import per_customer

    lines = order_lines(store, data_slice)
    out = lines.select("customer_id").distinct().to_pandas()
    for column in ("region", "owner"):
        if column in lines.columns:
            common = most_frequent(lines, "customer_id", column).to_pandas()
            out[column] = per_customer(out["customer_id"], common, column)
    return out.sort_values("customer_id", kind="mergesort").reset_index(drop=True) if len(out) else pd.DataFrame(
        columns=["customer_id"])


def account_owners(store, data_slice: Slice, dimensions: pd.DataFrame | None = None) -> dict[str, str]:
    """account → owner, one per account of the slice's level: the attributes file's owner
    (a blank cell does not count), else the most frequent owner on the account's lines
    (``account_dimensions``, which may be passed when at hand); accounts with neither are
    absent. Alerts to owners and archived reviews name owners this way."""
    dims = dimensions if dimensions is not None else account_dimensions(store, data_slice)
    owners = {str(c): o for c, o in zip(dims["customer_id"], dims["owner"]) if isinstance(o, str) and o.strip()} \
        if "owner" in dims else {}
    table = attributes(store, data_slice)
    if table is not None and "owner" in table.columns:
        for cid, owner in table.select("customer_id", "owner").to_pandas().itertuples(index=False):
            if isinstance(owner, str) and owner.strip():
                owners[str(cid)] = owner.strip()
    return owners


def churn_scores(store, data_slice: Slice, as_of, horizon_days: int, progress=None):
    """``churn.score_accounts`` of every account of the dataset (``whole``: the slice's period,
    filters and scope do not change an account's risk) on its order lines (``order_lines``),
    counting orders as rows when each order is one (``order_lines_single``); ``progress`` as
    there."""
    from kam_analytics.analytics import churn

    everything = whole(data_slice)
    return churn.score_accounts(order_lines(store, everything), as_of, horizon_days, progress=progress,
                                single_line_orders=order_lines_single(store, everything))


def churn_list(store, data_slice: Slice, as_of, horizon_days: int, scope: str = "key",
               scored=None, card=None, summary: pd.DataFrame | None = None, listing: str = "at_risk",
               dimensions: pd.DataFrame | None = None, owed: pd.DataFrame | None = None,
               listed: set[str] | None | bool = False, card_before=None,
               reviewed: set[str] | None = None) -> ChurnList:
    """Lapse risk of the key accounts (``scope='key'``: the default scorecard's list, else the
    top 20% by revenue, ``accounts.watched_ids``; an account that has lapsed counts as key when
    it was one as of the date or one horizon earlier, ``card_before``, or at the latest
    archived review on or before the date, ``reviewed`` (``reviewed_key_ids``): a lapsing
    account's own figures sink below the line as it goes silent, and the win-back list is of
    the key accounts lost) or of every active account (``'all'``), with names and the follow-ups; of the accounts the slice lists (``listed_ids``: its filters and
    scope choose the accounts, never their figures). Everything about an account — risk,
    reasons, status, key-account status, name, region, owner — is computed on the whole
    dataset as of ``as_of`` (``whole``). ``listing``:
    'at_risk' (still active, highest risk first: the list to prevent), 'lapsed' (already
    silent by their own rhythm, most revenue in their last active year first: the list to win
    back; ties by customer_id) or 'all' (by risk). When the dataset has receivables, an
    account whose payments are getting worse gets that as a reason too
    (``receivables.churn_reasons``). ``scored``, ``card`` (the whole scorecard), ``summary``,
    ``dimensions`` (``account_dimensions``), ``owed`` (``receivables``) and ``listed``
    (``listed_ids``) may be passed when at hand (the pages cache them); each is the whole
    dataset's."""
    from kam_analytics.analytics import accounts
    from kam_analytics.analytics.customers import per_customer

    if listing not in CHURN_LISTS:
        raise ValueError(listing)
    dataset = dataset_of(store, data_slice)
    everything = whole(data_slice)
    if scored is None:
        scored = churn_scores(store, data_slice, as_of, horizon_days)
    table = scored.table.copy()
    fallback = False
    if scope == "key" and not table.empty:
        card = card if card is not None else scorecard(store, everything, as_of)
        key_ids, fallback = accounts.watched_ids(card)
        keep = table["customer_id"].isin(key_ids)
        lapsed = table["status"] == "lapsed"
        if lapsed.any():  # a key account that lapsed: key now, or one horizon earlier (``key_before``)
            before = card_before if card_before is not None else scorecard(store, everything, horizon_before(as_of, horizon_days))
            reviewed = reviewed if reviewed is not None else reviewed_key_ids(store, data_slice, as_of)
            keep |= lapsed & table["customer_id"].isin(accounts.watched_ids(before)[0] | reviewed)
        table = table[keep].copy()
    listed = listed_ids(store, data_slice) if listed is False else listed
    if listed is not None:
        table = table[table["customer_id"].astype(str).isin(listed)].copy()
    if listing != "all":
        table = table[table["status"] == listing].copy()
    if listing == "lapsed":
        table = table.sort_values(["revenue_last_year", "customer_id"], ascending=[False, True], kind="mergesort")
    table["rank"] = range(1, len(table) + 1)
    if dimensions is None and not table.empty:
        dimensions = account_dimensions(store, everything)
    for column in [c for c in ("region", "owner") if dimensions is not None and c in dimensions]:
        table[column] = per_customer(table["customer_id"], dimensions, column)
    if summary is None:
        import pandas as pd

        summary = customer_summary(store, everything, as_of) if not table.empty else pd.DataFrame()
    if "name" in summary:
        table["name"] = per_customer(table["customer_id"], summary, "name")
    if not table.empty and (owed is not None or has_receivables(store, everything)):
        from kam_analytics.analytics.receivables import churn_reasons

        owed = owed if owed is not None else receivables(store, everything, as_of)
        extra = {c: churn_reasons(row) for c, row in zip(owed["customer_id"], owed.to_dict("records"))}
        table["reasons"] = [
            ([r for r in found if r["reason"] != "pattern"] + extra[c]) if extra.get(c) else found
            for c, found in zip(table["customer_id"], table["reasons"])]
    history = store.followups(dataset)
    newest = history.drop_duplicates("customer_id")  # newest first
    table["followup"] = per_customer(table["customer_id"], newest, "status").fillna("")
    table["followup_at"] = per_customer(table["customer_id"], newest, "created_at")
    table["followup_note"] = per_customer(table["customer_id"], newest, "note").fillna("")
    table["followup_by"] = per_customer(table["customer_id"], newest, "owner").fillna("")
    table["followups"] = table["customer_id"].map(history["customer_id"].value_counts()).fillna(0).astype(int)
    return ChurnList(table.reset_index(drop=True), scored, fallback)


def latest_review(store, data_slice: Slice, as_of):
    """The dataset's latest archived review at the slice's level dated on or before ``as_of``
    (ties: the last created), or None."""
    dataset = dataset_of(store, data_slice)
    day = str(_day(as_of))
    return next((r for r in store.reviews.list(dataset.id) if r.by == data_slice.by and r.as_of <= day), None)


def reviewed_key_ids(store, data_slice: Slice, as_of) -> set[str]:
    """The key accounts of ``latest_review`` as archived (empty without one). A review whose
    rows file is refused (changed or missing on disk) adds none; the Reviews page says why."""
    from kam_analytics.errors import StoreError

    review = latest_review(store, data_slice, as_of)
    if review is None:
        return set()
    try:
        rows = store.reviews.rows(review)
    except StoreError:
        return set()
    return set(rows.loc[rows["key_account"].astype(bool), "customer_id"].astype(str))


def horizon_before(as_of, horizon_days: int):
    """The day one horizon before ``as_of`` (when a lapsed account's key status is looked up too)."""
    return _day(as_of) - dt.timedelta(days=int(horizon_days))


def lapsed_key_accounts(store, data_slice: Slice, as_of, horizon_days: int = 90, card=None,
                        listed: set[str] | None | bool = False, summary: pd.DataFrame | None = None,
                        card_before=None, reviewed: set[str] | None = None) -> pd.DataFrame:
    """The slice's accounts on the churn page's win-back list of key accounts
    (``churn_list(scope='key', listing='lapsed')``), in its order, found without training the
    model (``churn.lapsed_accounts`` on the whole dataset; key as of the date or one horizon
    earlier, ``card`` and ``card_before``, whole scorecards, ``accounts.watched_ids``, or at the
    latest archived review, ``reviewed``, ``reviewed_key_ids``; then
    ``listed_ids``): customer_id, name (when known), last, recency_days, typical_gap_days,
    revenue_last_year."""
    from kam_analytics.analytics import accounts, churn
    from kam_analytics.analytics.customers import per_customer

    everything = whole(data_slice)
    lapsed = churn.lapsed_accounts(order_lines(store, everything), as_of, horizon_days,
                                   single_line_orders=order_lines_single(store, everything))
    card = card if card is not None else scorecard(store, everything, as_of)
    before = card_before if card_before is not None else scorecard(store, everything, horizon_before(as_of, horizon_days))
    reviewed = reviewed if reviewed is not None else reviewed_key_ids(store, data_slice, as_of)
    key_ids = accounts.watched_ids(card)[0] | accounts.watched_ids(before)[0] | reviewed
    listed = listed_ids(store, data_slice) if listed is False else listed
    keep = lapsed["customer_id"].isin(key_ids) if len(lapsed) else []
    lapsed = lapsed[keep] if len(lapsed) else lapsed
    if listed is not None and len(lapsed):
        lapsed = lapsed[lapsed["customer_id"].astype(str).isin(listed)]
    columns = ["customer_id", "last", "recency_days", "typical_gap_days", "revenue_last_year"]
    out = lapsed[columns].reset_index(drop=True) if len(lapsed) else lapsed.reindex(columns=columns)
    if len(out):
        summary = summary if summary is not None else customer_summary(store, everything, as_of)
        if "name" in summary:
            out.insert(1, "name", per_customer(out["customer_id"], summary, "name"))
    return out


def churn_export(churn: ChurnList, lang: str = "en") -> pd.DataFrame:
    """The ``churn --out`` rows: customer_id, name, risk, rank, revenue_at_risk, reasons
    (worded, joined with the language's list separator), last_order, typical_gap_days,
    followup (the latest follow-up status; the column was called status before the lists),
    status (at_risk or lapsed), expected_revenue, expected_low, expected_high,
    revenue_last_year (lapsed accounts)."""
    import pandas as pd

    from kam_analytics.analytics.churn import reason_text
    from kam_analytics.i18n import join_list

    t = churn.table
    return pd.DataFrame({
        "customer_id": t["customer_id"], "name": t["name"] if "name" in t else None,
        "risk": t["risk"].round(4), "rank": t["rank"], "revenue_at_risk": t["revenue_at_risk"].round(2),
        "reasons": [join_list([reason_text(r, lang) for r in rs], lang, sentences=True) for rs in t["reasons"]],
        "last_order": pd.to_datetime(t["last"]).dt.date.astype(str), "typical_gap_days": t["typical_gap_days"].round(1),
        "followup": t["followup"], "status": t["status"], "expected_revenue": t["expected_revenue"].round(2),
        "expected_low": t["expected_low"].round(2), "expected_high": t["expected_high"].round(2),
        "revenue_last_year": t["revenue_last_year"].round(2),
    })


# -- receivables ------------------------------------------------------------------------------
RECEIVABLES_EXPORT = ["customer_id", "name", "outstanding", "not_due", "overdue_1_30", "overdue_31_60",
                      "overdue_61_90", "overdue_90_plus", "dso_days", "share_of_receivables", "flags"]


def has_receivables(store, data_slice: Slice) -> bool:
    """Whether the slice's dataset has what receivables need: an attached receivables file,
    or due and paid dates on its transactions."""
    from kam_analytics.analytics.receivables import available

    dataset = dataset_of(store, data_slice)
    return bool(dataset.receivables_file) or available(dataset.columns)


def receivable_lines(store, data_slice: Slice):
    """The lines receivables are computed from, as an Ibis table: the attached receivables
    file's invoice lines when there is one (``ingest.receivables``), else the transactions —
    of the slice's accounts (scope and dimension filters) and without the period's start (an
    older unpaid invoice is still owed)."""
    from kam_analytics.analytics.filters import apply_filters

    dataset = dataset_of(store, data_slice)
    if not dataset.receivables_file:
        return transactions(store, _owed_slice(data_slice))
    table = scoped_by_accounts(store, dataset, store.receivables(dataset), data_slice.scope)
    table = apply_filters(table, end=data_slice.end, dimensions=data_slice.dimension_filters)
    return grouped(store, dataset, table, data_slice.by)


def _owed_slice(data_slice: Slice) -> Slice:
    """What is owed at a date includes every earlier invoice: the slice without its start."""
    from dataclasses import replace

    return replace(data_slice, start=None)


def receivables(store, data_slice: Slice, as_of) -> pd.DataFrame:
    """Receivables per customer as of ``as_of`` (``receivables.per_customer``), from every
    receivable line of the slice's accounts dated up to then (the period's start does not
    apply: an older unpaid invoice is still owed). Raises KamError('receivables_none') when
    the dataset has no due and paid dates."""
    from kam_analytics.analytics import receivables as owed
    from kam_analytics.errors import KamError

    dataset = dataset_of(store, data_slice)
    if not has_receivables(store, data_slice):
        raise KamError("receivables_none", dataset=dataset.name)
    return owed.per_customer(receivable_lines(store, data_slice), as_of, attributes(store, data_slice))


def receivables_history(store, data_slice: Slice, customer_id: str, as_of) -> pd.DataFrame:
    """One account's receivable lines and payments up to ``as_of`` (``receivables.history``)."""
    from kam_analytics.analytics import receivables as owed

    return owed.history(receivable_lines(store, data_slice), customer_id, as_of)


def receivables_export(rows: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """The ``receivables --out`` rows: RECEIVABLES_EXPORT, money rounded to cents, DSO to a
    tenth of a day, the share to six places; flags worded and joined with the language's list
    separator."""
    from kam_analytics.i18n import join_list, t

    out = rows[RECEIVABLES_EXPORT].copy()
    money = ["outstanding", "not_due", "overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_90_plus"]
    out[money] = out[money].round(2)
    out["dso_days"] = out["dso_days"].round(1)
    out["share_of_receivables"] = out["share_of_receivables"].round(6)
    out["flags"] = [join_list([t(f"receivables_flag_{f}", lang) for f in flags], lang) for flags in rows["flags"]]
    return out


# -- actions: each checks the identity's role here, where it happens, and the store writes it
# to the audit trail in the same transaction as the change ------------------------------------
def load_file(store, identity: Identity, path, dataset: str | None = None, replace: bool = False, **options):
    """Load a file as a dataset (``load_files`` of that one file)."""
    return load_files(store, identity, [path], dataset=dataset, replace=replace, **options)


def load_files(store, identity: Identity, paths, dataset: str | None = None, replace: bool = False,
               append: bool = False, **options):
    """Load files — pieces of one export — as a dataset (``ingest.ingest_files``): editors and
    administrators; the name of an existing dataset needs ``replace``, or ``append`` (its
    lines join the dataset as a new version; editors, like a replace)."""
    from pathlib import Path

    from kam_analytics.ingest.load import ingest_files

    require(identity, "replace" if (replace or append) else "upload")
    return ingest_files(store, [Path(p) for p in paths], dataset=dataset, replace=replace, append=append,
                        actor=identity.label, **options)


def attach_dataset(store, identity: Identity, name: str, table: str, engine: str = "spark",
                   overrides: dict[str, str] | None = None, replace: bool = False, date_format: str | None = None):
    """Register a table another engine reads as a dataset (``ingest.attach.attach_table``):
    editors and administrators, like a load."""
    from kam_analytics import spark
    from kam_analytics.errors import EngineError
    from kam_analytics.ingest.attach import ENGINES, attach_table

    require(identity, "replace" if replace else "upload")
    if engine not in ENGINES:
        raise EngineError("engine_unknown", engine=engine)
    return attach_table(store, spark.spark_backend(), engine, name, table, overrides, replace=replace,
                        actor=identity.label, date_format=date_format)


def attach_attributes(store, identity: Identity, dataset, path, **options):
    """Attach per-customer attributes to a dataset (``ingest.ingest_attributes``): editors. A
    scoped editor's file may not widen their scope (``_attributes_within_scope``)."""
    from functools import partial

    from kam_analytics.ingest import ingest_attributes

    require(identity, "attributes")
    check = None if identity.scope is None else partial(_attributes_within_scope, store, dataset, identity.scope)
    return ingest_attributes(store, dataset, path, actor=identity.label, check=check, **options)


SCOPE_NAMED = 10  # accounts a refusal names (then: "… and N more")


def _attributes_within_scope(store, dataset, scope: tuple[str, ...], con, staged: str, file_name: str) -> None:
    """Refuse a scoped editor's attributes file (the staged table ``staged``, read on ``con``)
    that would change what the scope rule shows anyone: one naming an account they cannot see
    now; one giving an account an owner outside their scope (changing who owns an account is
    for editors without a scope); one replacing attributes the dataset holds for accounts they
    cannot see (the file replaces the dataset's attributes as a whole). Each refusal names the
    accounts or owners. The scope is taken from the data as it is, before this file."""
    from kam_analytics.errors import IngestError
    from kam_analytics.i18n import join_list

    def named(values) -> str:
        values = sorted(values)
        shown = ", ".join(values[:SCOPE_NAMED])
        return shown + (f" (+{len(values) - SCOPE_NAMED})" if len(values) > SCOPE_NAMED else "")

    mine = Slice.of(dataset, scope=scope)
    ids = [r[0] for r in con.execute(f'SELECT customer_id FROM "{staged}"').fetchall()]
    outside = set(ids) - visible_customers(store, mine, ids)
    if outside:
        raise IngestError("attributes_scope_outside", file=file_name, accounts=named(outside))
    columns = [r[0] for r in con.execute(f'SELECT * FROM "{staged}" LIMIT 0').description]
    if "owner" in columns:
        owners = {r[0] for r in con.execute(f'SELECT DISTINCT owner FROM "{staged}" WHERE owner IS NOT NULL').fetchall()}
        if owners - set(scope):
            raise IngestError("attributes_scope_owner", file=file_name, owners=join_list(sorted(owners - set(scope)), "en"))
    existing = store.attributes(dataset)
    if existing is not None:
        held = [str(c) for c in existing.select("customer_id").to_pandas()["customer_id"].dropna()]
        dropped = set(held) - visible_customers(store, mine, held)
        if dropped:
            raise IngestError("attributes_scope_replace", file=file_name, accounts=named(dropped))


def apply_groups(store, identity: Identity, dataset, rows: pd.DataFrame):
    """Give customers the groups of ``rows`` (customer_id, group: the Data page's reviewed
    suggestions; a blank group takes a customer out of its group) through an attributes file,
    as an upload would (editors; the same checks and audit entry): the dataset's attributes
    as they are, with customer_group set from ``rows`` — nothing else of them changes.
    Returns the ``AttributesReport``."""
    import uuid

    import pandas as pd

    from kam_analytics.tmpfiles import scratch_dir

    require(identity, "attributes")
    given = pd.DataFrame({"customer_id": rows["customer_id"].astype(str),
                          "customer_group": rows["group"].fillna("").astype(str).str.strip()})
    existing = store.attributes(dataset)
    merged = given
    if existing is not None:
        held = existing.to_pandas()
        held["customer_id"] = held["customer_id"].astype(str)
        others = held[~held["customer_id"].isin(given["customer_id"])]
        mine = held.drop(columns=["customer_group"], errors="ignore").merge(given, on="customer_id", how="right")
        merged = pd.concat([others, mine], ignore_index=True)
    folder = scratch_dir(store.path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"groups-{uuid.uuid4().hex[:8]}.csv"
    merged.to_csv(path, index=False, encoding="utf-8")
    try:
        return attach_attributes(store, identity, dataset, path, mapping={c: c for c in merged.columns})
    finally:
        path.unlink(missing_ok=True)


def attach_receivables(store, identity: Identity, dataset, path, **options):
    """Attach an accounts-receivable export to ``dataset`` (``ingest.receivables``; editors)."""
    from kam_analytics.ingest.receivables import ingest_receivables

    require(identity, "attributes")
    return ingest_receivables(store, dataset, path, actor=identity.label, **options)


def attach_costs(store, identity: Identity, dataset, path, **options):
    """Attach a file of costs to serve to ``dataset`` (``ingest.costs``; editors without a
    scope: a shared cost is spread over every account of its region or channel, so the file
    changes accounts beyond anyone's scope)."""
    import pathlib

    from kam_analytics.errors import IngestError
    from kam_analytics.ingest.costs import ingest_costs

    require(identity, "costs")
    if identity.scope is not None:
        raise IngestError("costs_scope", file=pathlib.Path(path).name)
    return ingest_costs(store, dataset, path, actor=identity.label, **options)


def rename_dataset(store, identity: Identity, name: str, new_name: str):
    require(identity, "rename")
    return store.rename(name, new_name, actor=identity.label)


def delete_dataset(store, identity: Identity, name: str) -> None:
    """Delete a dataset with its follow-ups and settings: administrators only."""
    require(identity, "delete")
    store.drop(name, actor=identity.label)


def rejected_rows(store, identity: Identity, dataset, limit: int | None = None, receivables: bool = False,
                  costs: bool = False):
    """The raw rows an ingest refused (any account's, so not for a scoped user): editors.
    ``receivables`` / ``costs``: those the dataset's receivables / costs file refused."""
    require(identity, "rejected_rows")
    if identity.scope is not None:
        raise AccessDenied("access_denied_scoped")
    return store.rejected_rows(dataset, limit, receivables=receivables, costs=costs)


def visible_customers(store, data_slice: Slice, customer_ids) -> set[str]:
    """Which of ``customer_ids`` have a line in the slice (its scope included)."""
    ids = [str(c) for c in customer_ids]
    if not ids:
        return set()
    table = order_lines(store, data_slice)
    found = table.filter(table.customer_id.isin(ids)).select("customer_id").distinct().to_pandas()
    return set(found["customer_id"])


def add_followup(store, identity: Identity, dataset, customer_id: str, status: str, note: str = "",
                 expected_version: int | None = None) -> None:
    """Record a follow-up on an account, authored by ``identity`` (never by a typed name):
    anyone with a role, on an account of their scope that the dataset has. A form passes the
    dataset version it was drawn on (``expected_version``): when the dataset was replaced,
    changed or deleted meanwhile, nothing is saved (the account chosen may not be the one the
    form showed) and a sentence says so."""
    from kam_analytics.errors import KamError

    require(identity, "followup")
    if expected_version is not None:
        current = store.dataset_by_id(dataset.id)
        if current is None or current.version != expected_version:
            raise KamError("followup_dataset_changed", dataset=dataset.name, customer=str(customer_id))
        dataset = current
    def seen(scope, by="customer"):  # a customer, else a group (a follow-up of the group as a whole)
        return visible_customers(store, Slice.of(dataset, scope=scope), [customer_id]) or (
            has_group_data(store, dataset) and visible_customers(store, Slice.of(dataset, scope=scope, by="group"),
                                                                  [customer_id]))

    if not seen(identity.scope):
        if identity.scope is not None and seen(None):
            raise AccessDenied("access_denied_account", customer=str(customer_id))
        raise KamError("followup_customer_unknown", dataset=dataset.name, customer=str(customer_id))
    store.add_followup(dataset, customer_id, status, note=note, owner=identity.label)


def followups(store, identity: Identity, dataset, customer_id: str | None = None):
    """Follow-up history, newest first, of the accounts ``identity`` can see."""
    require(identity, "read")
    history = store.followups(dataset, customer_id)
    if identity.scope is None or history.empty:
        return history
    mine = visible_customers(store, Slice.of(dataset, scope=identity.scope), history["customer_id"].unique())
    return history[history["customer_id"].isin(mine)].reset_index(drop=True)


def audit_trail(store, identity: Identity, limit: int | None = None):
    """The audit trail, newest first (``Store.audit_trail``): administrators."""
    require(identity, "audit")
    return store.audit_trail(limit)


def audit_export(trail) -> pd.DataFrame:
    """The ``audit --out`` rows: at, actor, action, dataset, detail (JSON text)."""
    import json

    return trail.assign(detail=[json.dumps(d, ensure_ascii=False, sort_keys=True) if d else "" for d in trail["detail"]])


def record_download(store, identity: Identity, dataset: str | None, file_name: str, rows: int) -> None:
    """Write an export from a page to the audit trail: who took which list, with how many rows."""
    store.record(identity.label, "download", dataset, file=file_name, rows=int(rows))


def record_sign_in(store, identity: Identity, sign_in: str | None = None) -> None:
    """Write a sign-in to the audit trail (with the role it was given; none = refused). With
    ``sign_in`` (what tells this sign-in from the user's others: ``sign_in_id``) it is written
    once, however many pages and tabs the signed-in browser opens."""
    if sign_in is None:
        store.record(identity.label, "sign_in", None, role=identity.role or "none")
    else:
        store.record_once(identity.label, "sign_in", None, role=identity.role or "none", sign_in=sign_in)


def sign_in_id(claims: dict) -> str | None:
    """A short id of one sign-in from its ID token's claims: the subject and when the token was
    issued (``iat``, else ``auth_time`` or ``nonce``), hashed; None when the token has none of
    them. Each page load is a new session of the same signed-in browser and carries the same id."""
    import hashlib

    moment = next((claims.get(k) for k in ("iat", "auth_time", "nonce") if claims.get(k) not in (None, "")), None)
    if moment is None:
        return None
    subject = claims.get("sub") or claims.get("email") or ""
    return hashlib.sha256(f"{subject}|{moment}".encode()).hexdigest()[:16]
