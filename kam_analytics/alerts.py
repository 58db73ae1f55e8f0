"""Alerts and digests (the use cases): subscribe and unsubscribe (administrators, audited), list
the subscriptions, run them — each recipient gets one digest of their new alerts — and read the
alert log. Rules, configuration, wording and delivery live in ``kam_analytics.notify``.

Once per condition: an alert (dataset, rule, account, recipient) is sent once while its
condition holds and again only after it cleared and came back (``store.alerts``). A digest that
could not be delivered is recorded as failed and its alerts stay unsent, so the next run tries
them again; a failing channel never stops the others.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from kam_analytics import service
from kam_analytics.access import Identity, require
from kam_analytics.errors import KamError

def _check_target(target: str, settings) -> str:
    target = (target or "").strip()
    if target == "owners":
        return target
    if target.startswith("email:") and "@" in target[6:]:
        return "email:" + target[6:].strip()
    if target.startswith("channel:") and target[8:].strip():
        name = target[8:].strip()
        if settings is not None and name not in settings.channels:
            raise KamError("alerts_channel_unknown", channel=name, channels=", ".join(settings.channels) or "—")
        return "channel:" + name
    raise KamError("alerts_target_bad", target=target)


def subscribe(store, identity: Identity, dataset, rule: str, target: str, threshold: float | None = None,
              scope: str = "key", by: str = "customer", lang: str = "zh", settings=None):
    """A new subscription (administrators; audited 'alerts_subscribe')."""
    from kam_analytics.notify.rules import RULES

    require(identity, "alerts")
    if rule not in RULES:
        raise KamError("alerts_rule_unknown", rule=rule, rules=", ".join(RULES))
    if threshold is not None and not (threshold >= 0):
        raise KamError("alerts_threshold_bad", threshold=threshold)
    return store.alerts.subscribe(dataset, rule, _check_target(target, settings), threshold, scope, by, lang,
                                  identity.label)


def subscriptions(store, identity: Identity, dataset) -> list:
    """The dataset's subscriptions: all of them for an administrator, else those that reach
    the user (their e-mail address, or 'owners' when they own accounts)."""
    require(identity, "read")
    found = store.alerts.subscriptions(dataset.id)
    if identity.can("alerts"):
        return found
    mine = {f"email:{identity.user}"}
    return [s for s in found if s.target in mine or (s.target == "owners" and identity.scope)]


def unsubscribe(store, identity: Identity, dataset, subscription_id: int):
    require(identity, "alerts")
    found = store.alerts.subscription(subscription_id)
    if found.dataset_id != dataset.id:
        raise KamError("subscription_other_dataset", subscription_id=subscription_id, dataset=dataset.name)
    return store.alerts.unsubscribe(subscription_id, dataset.name, identity.label)


@dataclass
class RunResult:
    """What a run did: ``alerts`` new alerts found (summed over recipients), ``messages`` sent,
    ``failed`` digests not delivered, ``suppressed`` alerts already sent while their condition
    holds, ``cleared`` conditions gone since the last run, ``unaddressed`` owners with accounts
    on an alert but no address; ``deliveries`` one entry per digest."""

    as_of: str
    dry_run: bool
    alerts: int = 0
    messages: int = 0
    failed: int = 0
    suppressed: int = 0
    cleared: int = 0
    unaddressed: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"as_of": self.as_of, "dry_run": self.dry_run, "alerts": self.alerts, "messages": self.messages,
                "failed": self.failed, "suppressed": self.suppressed, "cleared": self.cleared,
                "unaddressed": self.unaddressed, "deliveries": self.deliveries}


def _account_emails(store, dataset) -> dict[str, str]:
    """account → its owner_email attribute (wins over the configured owners)."""
    table = store.attributes(dataset)
    if table is None or "owner_email" not in table.columns:
        return {}
    rows = table.select("customer_id", "owner_email").to_pandas()
    return {str(c): str(e).strip() for c, e in rows.itertuples(index=False) if isinstance(e, str) and "@" in e}


def run(store, identity: Identity, dataset, as_of=None, dry_run: bool = False, settings=None, sleep=None) -> RunResult:
    """Evaluate every subscription of ``dataset`` as of ``as_of`` (default: its last day) and send
    each recipient one digest of their new alerts (``dry_run``: nothing sent, nothing recorded)."""
    from kam_analytics.notify import channels, config, messages, rules

    require(identity, "alerts_run")
    settings = settings if settings is not None else config.load()
    day = dt.date.fromisoformat(str(as_of or service.default_as_of(dataset))[:10])
    result = RunResult(day.isoformat(), dry_run)
    sent = store.alerts.sent(dataset.id)
    account_emails = _account_emails(store, dataset)
    owner_emails = dict(settings.owners) if settings else {}  # an account's owner_email attribute wins
    current: set[tuple[str, str, str]] = set()
    pending: dict[str, dict] = defaultdict(dict)  # recipient -> {(rule, account): alert}
    languages: dict[str, str] = {}
    unaddressed = set()
    for subscription in store.alerts.subscriptions(dataset.id):
        for alert in rules.evaluate(store, dataset, subscription, day):
            if subscription.target == "owners":
                address = account_emails.get(alert.account) or owner_emails.get(alert.owner)
                if not address:
                    unaddressed.add(alert.owner or "—")
                    continue
                recipient = f"email:{address}"
            else:
                recipient = subscription.target
            key = (alert.rule, alert.account, recipient)
            current.add(key)
            if key in sent:
                result.suppressed += 1
                continue
            pending[recipient][(alert.rule, alert.account)] = alert
            languages.setdefault(recipient, subscription.lang)
    result.unaddressed = sorted(unaddressed)
    cleared = sent - current
    result.cleared = len(cleared)
    if not dry_run:
        store.alerts.clear(dataset.id, cleared)
    run_id = dt.datetime.now().isoformat(timespec="seconds")
    for recipient in sorted(pending):
        found = list(pending[recipient].values())
        result.alerts += len(found)
        digest = messages.Digest(dataset.name, dataset.id, day.isoformat(), languages[recipient], found,
                                 settings.base_url if settings else "")
        entry = {"to": recipient, "alerts": len(found), "lang": digest.lang}
        if dry_run:
            entry.update(status="dry_run", text=messages.plain_text(digest))
            result.deliveries.append(entry)
            continue
        kind = recipient.split(":", 1)[0]
        try:
            if kind == "email":
                if settings is None or settings.smtp is None:
                    raise channels.Failed("no mail server configured ([kam.notify.smtp])")
                channels.send_email(settings.smtp, recipient[6:], digest)
                count = 1
            else:
                channel = settings.channels.get(recipient[8:]) if settings else None
                if channel is None:
                    raise channels.Failed(f"channel {recipient[8:]} is not configured")
                count = channels.send_channel(channel, digest, **({"sleep": sleep} if sleep else {}))
            store.alerts.record(dataset.id, run_id, recipient, kind, "sent", list(pending[recipient]))
            result.messages += count
            entry.update(status="sent", messages=count)
        except channels.Failed as failure:
            store.alerts.record(dataset.id, run_id, recipient, kind, "failed", list(pending[recipient]), str(failure))
            result.failed += 1
            entry.update(status="failed", reason=str(failure))
        result.deliveries.append(entry)
    return result


def alert_log(store, identity: Identity, dataset, limit: int | None = None) -> list[dict]:
    """What was sent to whom and what failed, newest first (administrators)."""
    require(identity, "alerts")
    return store.alerts.log(dataset.id, limit)
