"""The command line of alerts: ``alerts subscribe|subscriptions|unsubscribe|run|log``."""
from __future__ import annotations

from kam_analytics import alerts, service
from kam_analytics.cli_common import _lang, _me, print_json
from kam_analytics.i18n import t


def cmd_subscribe(args, store) -> int:
    from kam_analytics.notify import config

    dataset = store.dataset(args.dataset)
    found = alerts.subscribe(store, _me(), dataset, args.rule, args.to, args.threshold, args.scope, args.by, args.lang,
                             settings=config.load())
    if args.json:
        print_json(found.to_json())
    else:
        print(t("cli_alerts_subscribed", _lang(), subscription_id=found.subscription_id, rule=found.rule, to=found.target,
                dataset=dataset.name))
    return 0


def cmd_subscriptions(args, store) -> int:
    dataset = store.dataset(args.dataset)
    found = alerts.subscriptions(store, _me(), dataset)
    if args.json:
        print_json({"subscriptions": [s.to_json() for s in found]})
    elif not found:
        print(t("cli_alerts_none", _lang(), dataset=dataset.name))
    for s in [] if args.json else found:
        print("\t".join(str(x) for x in (s.subscription_id, s.rule, s.target, "" if s.threshold is None else s.threshold,
                                        s.scope, s.by, s.lang)))
    return 0


def cmd_unsubscribe(args, store) -> int:
    dataset = store.dataset_by_id(store.alerts.subscription(args.subscription_id).dataset_id)
    found = alerts.unsubscribe(store, _me(), dataset, args.subscription_id)
    print(t("cli_alerts_unsubscribed", _lang(), subscription_id=found.subscription_id, dataset=dataset.name))
    return 0


def cmd_run(args, store) -> int:
    dataset = store.dataset(args.dataset)
    result = alerts.run(store, _me(), dataset, args.as_of, dry_run=args.dry_run)
    if args.json:
        print_json(result.to_json())
        return 0
    if args.dry_run:
        for entry in result.deliveries:
            print(t("cli_alerts_would_send", _lang(), to=entry["to"], alerts=entry["alerts"]))
            print(entry["text"])
            print()
    print(t("cli_alerts_run", _lang(), alerts=result.alerts, messages=result.messages, failed=result.failed,
            suppressed=result.suppressed))
    for entry in result.deliveries:
        if entry["status"] == "failed":
            print(t("cli_alerts_failed", _lang(), to=entry["to"], reason=entry["reason"]))
    if result.unaddressed:
        print(t("cli_alerts_unaddressed", _lang(), owners=", ".join(result.unaddressed)))
    return 1 if result.failed else 0


def cmd_log(args, store) -> int:
    dataset = store.dataset(args.dataset)
    entries = alerts.alert_log(store, _me(), dataset, args.limit)
    if args.json:
        print_json({"log": entries})
    else:
        for e in entries:
            print("\t".join(str(e[k]) for k in ("at", "recipient", "channel", "status", "alerts", "detail")))
    return 0


def add_commands(sub, command) -> None:
    """Add ``alerts`` and its actions; ``command`` is ``cli._command``."""
    from kam_analytics.notify.rules import RULES

    by = (["--by"], dict(choices=list(service.LEVELS), default="customer", metavar="customer|group"))
    group = sub.add_parser("alerts", help="alerts and digests to account owners, e-mail, DingTalk, WeCom, Feishu, webhooks")
    actions = group.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    command(actions, "subscribe", "send a rule's alerts to owners, an address or a channel (administrators)",
            cmd_subscribe, json_flag=True, extra=[
                (["--rule"], dict(required=True, choices=list(RULES), metavar="|".join(RULES))),
                (["--to"], dict(required=True, metavar="owners|email:ADDRESS|channel:NAME")),
                (["--threshold"], dict(type=float, metavar="X", help="at_risk: probability (0.5); concentration: "
                                       "share (0.10); overdue: amount more than 90 days overdue (0)")),
                (["--scope"], dict(choices=["key", "all"], default="key", metavar="key|all")), by,
                (["--lang"], dict(choices=["zh", "en"], default="zh", metavar="zh|en"))])
    command(actions, "subscriptions", "the dataset's subscriptions", cmd_subscriptions, json_flag=True)
    command(actions, "unsubscribe", "remove a subscription (administrators)", cmd_unsubscribe, dataset=False,
            extra=[(["subscription_id"], dict(type=int, metavar="ID"))])
    command(actions, "run", "evaluate the subscriptions and send one digest per recipient", cmd_run,
            as_of="optional", json_flag=True, extra=[(["--dry-run"], dict(action="store_true",
                                                                         help="send nothing; print what would go out"))])
    command(actions, "log", "what was sent to whom, and what failed", cmd_log, json_flag=True,
            extra=[(["--limit"], dict(type=int, metavar="N"))])
