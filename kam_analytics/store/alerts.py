"""Alert subscriptions, what has been sent, and the alert log — in the catalog.

``subscriptions``: who hears of which rule on which dataset (threshold, scope, level, language).
``alert_sent``: one row per alert (dataset, rule, account, recipient) sent while its condition
holds; a run removes the rows of conditions that cleared, so an alert comes back only after its
condition cleared and came back. A digest's rows and its log record are written in one
transaction after the channel accepted it: an alert is never recorded as sent unless it was,
and a failed one is tried again on the next run (at least once, never twice).
``alert_log``: every delivery tried — when, to whom, through what, how many alerts, whether it
went, and the channel's answer in a few plain words (never a secret: addresses of robots are
not written, only the channel's name).
"""
from __future__ import annotations

from dataclasses import dataclass

from kam_analytics.errors import StoreError
from kam_analytics.store.catalog import Catalog, _now, actor_name


@dataclass(frozen=True)
class Subscription:
    """One subscription: ``rule`` (``notify.rules.RULES``), ``target`` ('owners',
    'email:ADDRESS' or 'channel:NAME'), ``threshold`` (None: the rule's default), ``scope``
    ('key' or 'all'), ``by`` ('customer' or 'group'), ``lang`` ('zh' or 'en')."""

    subscription_id: int
    dataset_id: int
    rule: str
    target: str
    threshold: float | None
    scope: str
    by: str
    lang: str
    created_by: str
    created_at: str

    def to_json(self) -> dict:
        return {"subscription_id": self.subscription_id, "rule": self.rule, "to": self.target,
                "threshold": self.threshold, "scope": self.scope, "by": self.by, "lang": self.lang,
                "created_by": self.created_by, "created_at": self.created_at}


def _subscription(row) -> Subscription:
    return Subscription(int(row["id"]), int(row["dataset_id"]), row["rule"], row["target"], row["threshold"],
                        row["scope"], row["level"], row["lang"], row["created_by"], row["created_at"])


class Alerts:
    """Subscriptions, sent alerts and the alert log of a store's catalog."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    # -- subscriptions ------------------------------------------------------------------------
    def subscribe(self, dataset, rule: str, target: str, threshold: float | None, scope: str, by: str, lang: str,
                  actor: str | None) -> Subscription:
        actor = actor_name(actor)
        with self.catalog.connect(write=True) as db:
            cursor = db.execute(
                "INSERT INTO subscriptions (dataset_id, rule, target, threshold, scope, level, lang, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [dataset.id, rule, target, threshold, scope, by, lang, actor, _now()])
            sid = int(cursor.lastrowid)
            self.catalog._audit(db, actor, "alerts_subscribe", dataset.name, subscription_id=sid, rule=rule, to=target)
        return self.subscription(sid)

    def subscription(self, subscription_id: int) -> Subscription:
        with self.catalog.connect() as db:
            row = db.execute("SELECT * FROM subscriptions WHERE id = ?", [int(subscription_id)]).fetchone()
        if row is None:
            raise StoreError("subscription_unknown", subscription_id=subscription_id)
        return _subscription(row)

    def subscriptions(self, dataset_id: int) -> list[Subscription]:
        with self.catalog.connect() as db:
            rows = db.execute("SELECT * FROM subscriptions WHERE dataset_id = ? ORDER BY id", [dataset_id]).fetchall()
        return [_subscription(r) for r in rows]

    def unsubscribe(self, subscription_id: int, dataset_name: str, actor: str | None) -> Subscription:
        found = self.subscription(subscription_id)
        with self.catalog.connect(write=True) as db:
            db.execute("DELETE FROM subscriptions WHERE id = ?", [found.subscription_id])
            self.catalog._audit(db, actor, "alerts_unsubscribe", dataset_name, subscription_id=found.subscription_id,
                                rule=found.rule, to=found.target)
        return found

    # -- what was sent ------------------------------------------------------------------------
    def sent(self, dataset_id: int) -> set[tuple[str, str, str]]:
        """(rule, account, recipient) of every alert sent whose condition still held at the
        last run."""
        with self.catalog.connect() as db:
            rows = db.execute("SELECT rule, account, recipient FROM alert_sent WHERE dataset_id = ?", [dataset_id])
            return {(r[0], r[1], r[2]) for r in rows}

    def clear(self, dataset_id: int, cleared: set[tuple[str, str, str]]) -> None:
        """Forget the alerts whose condition no longer holds (they may be sent again later)."""
        if not cleared:
            return
        with self.catalog.connect(write=True) as db:
            db.executemany("DELETE FROM alert_sent WHERE dataset_id = ? AND rule = ? AND account = ? AND recipient = ?",
                           [(dataset_id, *key) for key in sorted(cleared)])

    def record(self, dataset_id: int, run: str, recipient: str, channel: str, status: str,
               keys: list[tuple[str, str]], detail: str = "") -> None:
        """One delivery tried, in one transaction: its log record and, when it went
        (``status`` 'sent'), each of its alerts ``keys`` ((rule, account) pairs) as sent."""
        with self.catalog.connect(write=True) as db:
            if status == "sent":
                db.executemany("INSERT OR REPLACE INTO alert_sent (dataset_id, rule, account, recipient, sent_at) "
                               "VALUES (?, ?, ?, ?, ?)", [(dataset_id, rule, account, recipient, _now())
                                                          for rule, account in keys])
            db.execute("INSERT INTO alert_log (dataset_id, run, at, recipient, channel, status, alerts, detail) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [dataset_id, run, _now(), recipient, channel, status, len(keys),
                                                           detail[:500]])

    def log(self, dataset_id: int, limit: int | None = None) -> list[dict]:
        """The deliveries tried, newest first."""
        sql = "SELECT run, at, recipient, channel, status, alerts, detail FROM alert_log WHERE dataset_id = ? ORDER BY seq DESC"
        with self.catalog.connect() as db:
            rows = db.execute(sql + (f" LIMIT {int(limit)}" if limit else ""), [dataset_id]).fetchall()
        return [dict(r) for r in rows]

