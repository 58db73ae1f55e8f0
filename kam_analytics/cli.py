"""The command line: each command is one library call plus its output.

Contract (see README): errors exit ≠ 0 with one or two plain sentences on stderr and no
traceback unless KAM_DEBUG=1; ``--json`` prints one JSON object on the last line of stdout;
CSV outputs start with customer_id and are guarded against formula injection.
"""
from __future__ import annotations

import argparse
import sys

from kam_analytics import config, service
from kam_analytics.cli_common import _date, _lang, _me, _write, print_json
from kam_analytics.cli_alerts import add_commands as add_alert_commands
from kam_analytics.cli_reviews import add_commands as add_review_commands
from kam_analytics.analytics.window import STANDARD_WINDOWS
from kam_analytics.errors import KamError
from kam_analytics.i18n import t
from kam_analytics.store import FOLLOWUP_STATUSES


def _print_load_report(report, lang: str) -> None:
    """What an ingest and an attach both report: the mapping, the report's details and
    warnings, and the rejected lines by reason."""
    from kam_analytics.ingest.report import report_details, report_warnings

    print(t("cli_mapping", lang, mapping=", ".join(f"{k} ← {v}" for k, v in report.mapping.items())))
    for line in report_details(report.to_json(), lang) + report_warnings(report.to_json(), lang):
        print(line)
    if report.rejected:
        from kam_analytics.ingest.report import NOT_DATA

        not_data = {k: v for k, v in report.rejected_reasons.items() if k in NOT_DATA}
        if not_data:
            print(t("cli_not_data", lang, count=sum(not_data.values()), what=", ".join(
                f"{t('reject_' + k, lang)}: {v}" for k, v in not_data.items())))
        print(t("cli_rejected", lang, rejected=report.rejected, reasons=", ".join(
            f"{t('reject_' + k, lang)}: {v}" for k, v in report.rejected_reasons.items())))


def cmd_ingest(args, store) -> int:
    from kam_analytics.ingest import parse_overrides

    if args.overlap and not args.append:
        raise KamError("overlap_without_append")
    if args.append and args.replace:
        raise KamError("append_and_replace")
    report = service.load_files(store, _me(), args.file, dataset=args.dataset, mapping=parse_overrides(args.map),
                                sheet=args.sheet, date_format=args.date_format, replace=args.replace,
                                duplicates=args.duplicates, header_row=args.header_row, append=args.append,
                                overlap=args.overlap)
    lang = _lang()
    if args.json:
        print_json(report.to_json())
        return 0
    print(t("cli_appended" if report.append is not None else "cli_ingested", lang, dataset=report.dataset,
            rows=report.rows, customers=report.customers, revenue=f"{report.revenue:,.2f}", date_min=report.date_min,
            date_max=report.date_max))
    print(t("cli_detected", lang, encoding=report.encoding or "-",
            delimiter=t("delimiter_" + report.delimiter, lang) if report.delimiter else "-",
            file_format=report.file_format))
    if len(report.files) > 1:
        for account in report.files:
            print(t("cli_file_account", lang, file=account["file"], records=f"{account['file_records']:,}",
                    header=f"{account['header_records']:,}", blank=f"{account['blank_rows']:,}",
                    rows=f"{account['rows']:,}", rejected=f"{account['rejected']:,}",
                    encoding=account["encoding"] or "-", file_format=account["file_format"]))
    if report.append is not None:
        from kam_analytics.ingest.append import append_sentence

        print(append_sentence(report.append, lang))
    _print_load_report(report, lang)
    if report.duplicate_lines:
        print(t(f"cli_duplicates_{report.duplicates}", lang, lines=f"{report.duplicate_lines:,}",
                amount=f"{report.duplicate_amount:,.2f}"))
    if report.rejected:
        for example in report.rejected_examples:
            print(t("cli_rejected_example", lang, row=example["row"], reason=t("reject_" + example["reason"], lang)))
        print(t("cli_rejected_hint", lang, dataset=report.dataset))
    return 0


def cmd_attach(args, store) -> int:
    from kam_analytics.ingest import parse_overrides

    report = service.attach_dataset(store, _me(), args.name, args.table, args.engine, parse_overrides(args.map),
                                    replace=args.replace, date_format=args.date_format)
    if args.json:
        print_json(report.to_json())
        return 0
    lang = _lang()
    print(t("cli_attached", lang, dataset=report.dataset, engine=report.engine, table=report.table, rows=report.rows,
            customers=report.customers, revenue=f"{report.revenue:,.2f}", date_min=report.date_min,
            date_max=report.date_max))
    _print_load_report(report, lang)
    return 0


def cmd_datasets(args, store) -> int:
    datasets = store.datasets()
    if args.json:
        print_json({"datasets": [
            {"name": d.name, "rows": d.rows, "rejected": d.rejected, "customers": d.customers,
             "revenue": d.revenue, "date_min": d.date_min, "date_max": d.date_max, "source_file": d.source_file,
             "encoding": d.encoding, "version": d.version, "created_at": d.created_at} for d in datasets]})
        return 0
    if not datasets:
        print(t("cli_no_datasets", _lang()))
    for d in datasets:
        print(f"{d.name}\t{d.rows:,} rows\t{d.customers:,} customers\t{d.revenue:,.2f}\t"
              f"{d.date_min:%Y-%m-%d}…{d.date_max:%Y-%m-%d}\t{d.source_file or ''}")
    return 0


def cmd_drop(args, store) -> int:
    service.delete_dataset(store, _me(), args.name)
    print(t("cli_dropped", _lang(), name=args.name))
    return 0


def cmd_rejects(args, store) -> int:
    return _write(service.rejected_rows(store, _me(), store.dataset(args.dataset)), args.out)


def _slice(store, args):
    """The dataset and slice a command reads: the whole dataset, or --start/--end."""
    dataset = store.dataset(args.dataset)
    return dataset, service.Slice.of(dataset, getattr(args, "start", None), getattr(args, "end", None),
                                     by=getattr(args, "by", None) or "customer")


def _as_of(args, dataset) -> str | None:
    """--as-of, else the dataset's last day."""
    return args.as_of or service.default_as_of(dataset)


def _write_accounts(store, data_slice, frame, path: str) -> int:
    """A per-account CSV: by group, with group_id, group_name, members first."""
    return _write(service.with_group_columns(store, data_slice, frame), path)


def cmd_customers(args, store) -> int:
    dataset, data_slice = _slice(store, args)
    return _write_accounts(store, data_slice, service.customer_summary(store, data_slice, as_of=args.as_of), args.out)


def cmd_concentration(args, store) -> int:
    _, data_slice = _slice(store, args)
    report = service.slice_concentration(store, data_slice, args.measure)
    if args.json:
        print_json(report)
    else:
        for key, value in report.items():
            if key != "flags":
                print(f"{key}: {value}")
        for flag in report["flags"]:
            print("flag: " + ", ".join(f"{k}={v}" for k, v in flag.items()))
    return 0


def cmd_accounts(args, store) -> int:
    dataset, data_slice = _slice(store, args)
    return _write_accounts(store, data_slice, service.accounts_table(store, data_slice, _as_of(args, dataset),
                                                                     months=args.window_months), args.out)


def cmd_rfm(args, store) -> int:
    from kam_analytics.analytics import rfm

    dataset, data_slice = _slice(store, args)
    result, _ = service.rfm_segments(store, data_slice, _as_of(args, dataset), "auto" if args.k == "auto" else int(args.k))
    return _write_accounts(store, data_slice, rfm.rfm_export(result), args.out)


def cmd_churn(args, store) -> int:
    _, data_slice = _slice(store, args)
    card = None
    if args.scope == "key" and args.window_months is not None:
        card = service.scorecard(store, service.whole(data_slice), args.as_of, features=service.account_features(
            store, data_slice, args.as_of, args.window_months))
    churn = service.churn_list(store, data_slice, args.as_of, args.horizon, args.scope, listing=args.list, card=card)
    return _write_accounts(store, data_slice, service.churn_export(churn, "en"), args.out)


def cmd_receivables(args, store) -> int:
    dataset, data_slice = _slice(store, args)
    rows = service.receivables(store, data_slice, _as_of(args, dataset))
    return _write_accounts(store, data_slice, service.receivables_export(rows, "en"), args.out)


def cmd_receivables_file(args, store) -> int:
    from kam_analytics.ingest.load import parse_overrides

    dataset = store.dataset(args.dataset)
    report = service.attach_receivables(store, _me(), dataset, args.file, mapping=parse_overrides(args.map),
                                        sheet=args.sheet, date_format=args.date_format)
    if args.json:
        print_json(report.to_json())
        return 0
    lang = _lang()
    print(t("recv_file_loaded", lang, file=report.source_file, rows=f"{report.rows:,}", invoices=f"{report.invoices:,}",
            customers=f"{report.customers:,}", matched=f"{report.matched:,}"))
    if report.rejected:
        print(t("cli_rejected", lang, rejected=report.rejected, reasons=", ".join(
            f"{t('reject_' + k, lang)}: {v}" for k, v in report.rejected_reasons.items())))
    if report.undated_due:
        print(t("recv_file_undated", lang, count=f"{report.undated_due:,}"))
    return 0


def cmd_costs_file(args, store) -> int:
    """The Data page's costs upload: the same report, refusals and audit entry."""
    from kam_analytics.ingest.costs import costs_report_lines
    from kam_analytics.ingest.load import parse_overrides

    dataset = store.dataset(args.dataset)
    report = service.attach_costs(store, _me(), dataset, args.file, mapping=parse_overrides(args.map),
                                  sheet=args.sheet, date_format=args.date_format, replace=args.replace)
    if args.json:
        print_json(report.to_json())
        return 0
    for line in costs_report_lines(report, _lang()):
        print(line)
    return 0


def cmd_pnl(args, store) -> int:
    """The account P&L (``analytics.costs``) as CSV, and what it left out in a sentence."""
    from kam_analytics.analytics.costs import pnl_notes

    _, data_slice = _slice(store, args)
    result = service.account_pnl(store, data_slice, rate=args.rate)
    lang = _lang()
    code = _write_accounts(store, data_slice, service.pnl_export(result), args.out)
    for key, params in pnl_notes(result):
        print(t(key, lang, **params))
    return code


def cmd_attributes(args, store) -> int:
    """The Data page's attributes upload: the same report, refusals and audit entry."""
    from kam_analytics.ingest import parse_overrides

    dataset = store.dataset(args.dataset)
    report = service.attach_attributes(store, _me(), dataset, args.file, mapping=parse_overrides(args.map),
                                       sheet=args.sheet)
    if args.json:
        print_json(report.to_json())
        return 0
    lang = _lang()
    from kam_analytics.ingest.attributes import attributes_report_lines

    for line in attributes_report_lines(report, lang):
        print(line)
    return 0


def cmd_groups_suggest(args, store) -> int:
    dataset = store.dataset(args.dataset)
    rows = service.suggest_groups(store, dataset)
    _write(rows, args.out)
    print(t("cli_groups_suggested", _lang(), groups=f"{rows['group'].nunique():,}", customers=f"{len(rows):,}",
            path=args.out, dataset=dataset.name))
    return 0


def cmd_followup(args, store) -> int:
    from dataclasses import replace

    dataset = store.dataset(args.dataset)
    me = _me()
    if args.owner:  # recorded for someone else, from this machine's account: both are kept
        me = replace(me, user=f"{me.user} ({args.owner})")
    service.add_followup(store, me, dataset, args.customer, args.status, note=args.note or "")
    print(t("cli_followup_saved", _lang(), customer=args.customer, status=t(f"status_{args.status}", _lang()),
            dataset=dataset.name))
    return 0


def cmd_audit(args, store) -> int:
    trail = service.audit_export(service.audit_trail(store, _me(), args.limit))
    if args.out:
        from kam_analytics.export import write_csv

        write_csv(trail, args.out)
        print(t("cli_written", _lang(), rows=len(trail), path=args.out))
    elif args.json:
        print_json({"entries": trail.to_dict("records")})
    else:
        for row in trail.itertuples(index=False):
            print("\t".join([row.at, row.actor, row.action, row.dataset or "", row.detail]))
    return 0


def cmd_backtest(args, store) -> int:
    from kam_analytics.analytics import churn

    _, data_slice = _slice(store, args)
    result = churn.backtest(service.transactions(store, data_slice), args.as_of, args.horizon).to_json()
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def _k(text: str) -> str:
    if text == "auto" or (text.isdigit() and 1 <= int(text) <= 20):
        return text
    raise argparse.ArgumentTypeError("use --k auto or a number of clusters from 1 to 20")


def _command(sub, name: str, help_text: str, func, dataset: bool = True, as_of: str | None = None,
             out: bool = False, json_flag: bool = False, extra=()) -> argparse.ArgumentParser:
    """One sub-command with the options most share: --dataset, --as-of ('optional' or
    'required'), the command's own (``extra``: (flags, keyword arguments) pairs), --out, --json."""
    p = sub.add_parser(name, help=help_text)
    if dataset:
        p.add_argument("--dataset", required=True, metavar="NAME")
    if as_of:
        p.add_argument("--as-of", type=_date, required=as_of == "required", metavar="DATE")
    for flags, kwargs in extra:
        p.add_argument(*flags, **kwargs)
    if out:
        p.add_argument("--out", required=True, metavar="FILE.csv")
    if json_flag:
        p.add_argument("--json", action="store_true")
    p.set_defaults(func=func)
    return p


MIN_HORIZON, MAX_HORIZON = 1, 3650  # days: a horizon of none or negative days has no meaning


def horizon_days(text: str) -> int:
    """``--horizon``: a whole number of days from ``MIN_HORIZON`` to ``MAX_HORIZON`` (-5 gave
    a risk of 1.25 and a Brier score of 36)."""
    try:
        days = int(text)
    except ValueError:
        days = None
    if days is None or not MIN_HORIZON <= days <= MAX_HORIZON:
        raise argparse.ArgumentTypeError(t("cli_horizon_bad", _lang(), value=text, low=MIN_HORIZON, high=MAX_HORIZON))
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kam_analytics", description="KAM Analytics command line.")
    parser.add_argument("--db", metavar="PATH", help="store file (default: KAM_DB or data/kam.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    horizon = (["--horizon"], dict(type=horizon_days, default=90, metavar="DAYS",
                                   help=f"days ahead a lapse is counted over ({MIN_HORIZON}–{MAX_HORIZON}; default 90)"))
    window = (["--window-months"], dict(type=int, choices=list(STANDARD_WINDOWS), metavar="12|24|36|0",
                                        help="months ending on the as-of date the key-account standard reads "
                                             "(0: all history; default: the window saved on the Key accounts page, else 12)"))

    _command(sub, "ingest", "load a CSV/TSV/TXT/XLSX/Parquet file as a dataset", cmd_ingest, dataset=False,
             json_flag=True, extra=[
                 (["file"], dict(metavar="FILE", nargs="+", help="one file, or several pieces of one export "
                                 "(the same columns; each file's rows are counted on their own)")),
                 (["--dataset"], dict(metavar="NAME", help="dataset name (default: the first file's name)")),
                 (["--map"], dict(action="append", metavar="CANONICAL=SOURCE", help="map a field to a column")),
                 (["--sheet"], dict(metavar="NAME", help="Excel sheet (default: the first non-empty one)")),
                 (["--date-format"], dict(metavar="FMT", help="dmy, mdy, ymd or a strptime format such as %%d/%%m/%%Y")),
                 (["--replace"], dict(action="store_true", help="replace an existing dataset of that name")),
                 (["--append"], dict(action="store_true", help="add the files' lines to the existing dataset as a new "
                                     "version, replacing what they overlap (--overlap)")),
                 (["--overlap"], dict(choices=["orders", "days", "none"], metavar="orders|days|none",
                                      help="with --append: the file's orders replace the dataset's lines of those "
                                           "orders (default with order ids), the days it covers replace those days "
                                           "(default without), or none: lines added as they are")),
                 (["--header-row"], dict(type=int, metavar="N", help="the line (or sheet row), from 1, that holds "
                                         "the column names (default: found automatically)")),
                 (["--duplicates"], dict(choices=["keep", "drop"], default="keep", metavar="keep|drop",
                                         help="order lines repeated exactly (same order id and every column): keep "
                                              "all copies (default; the report counts them) or drop to keep one")),
             ])
    _command(sub, "attach", "attach a table another engine reads (Spark) as a dataset, without copying it",
             cmd_attach, dataset=False, json_flag=True, extra=[
                 (["name"], dict(metavar="NAME")),
                 (["--engine"], dict(choices=["spark"], default="spark", metavar="spark")),
                 (["--table"], dict(required=True, metavar="TABLE",
                                    help="a catalog table (db.orders) or a path table (parquet.`/data/orders/`)")),
                 (["--map"], dict(action="append", metavar="CANONICAL=SOURCE", help="map a field to a column")),
                 (["--date-format"], dict(metavar="FMT", help="for text dates: dmy, mdy, ymd or a strptime format")),
                 (["--replace"], dict(action="store_true", help="replace an existing dataset of that name")),
             ])
    _command(sub, "datasets", "list datasets", cmd_datasets, dataset=False, json_flag=True)
    _command(sub, "drop", "delete a dataset", cmd_drop, dataset=False, extra=[(["name"], dict(metavar="NAME"))])
    _command(sub, "rejects", "write the rows an ingest refused, with reasons", cmd_rejects, out=True)
    by = (["--by"], dict(choices=list(service.LEVELS), default="customer", metavar="customer|group",
                         help="count customers as the data lists them (default) or the groups they belong to"))
    _command(sub, "customers", "one row per customer", cmd_customers, as_of="optional", out=True, extra=[by])
    _command(sub, "concentration", "how concentrated revenue (or profit) is on few customers", cmd_concentration,
             json_flag=True, extra=[
                 (["--measure"], dict(choices=["revenue", "profit", "net_profit"], default="revenue",
                                      metavar="revenue|profit|net_profit")), by,
                 (["--start"], dict(type=_date, metavar="DATE")), (["--end"], dict(type=_date, metavar="DATE"))])
    _command(sub, "accounts", "customer value scorecard, tiers, flags and the key-account list", cmd_accounts,
             as_of="optional", out=True, extra=[window, by])
    _command(sub, "rfm", "RFM scores, segments and clusters per customer", cmd_rfm, as_of="optional", out=True,
             extra=[(["--k"], dict(type=_k, default="auto", metavar="auto|N")), by])
    _command(sub, "churn", "lapse risk of key accounts (or all) with reasons", cmd_churn, as_of="required", out=True,
             extra=[horizon, window, by, (["--scope"], dict(choices=["key", "all"], default="key", metavar="key|all")),
                    (["--list"], dict(choices=list(service.CHURN_LISTS), default="at_risk", metavar="|".join(service.CHURN_LISTS),
                                      help="at_risk: still active, by risk; lapsed: silent by their own rhythm; all"))])
    _command(sub, "receivables", "what each customer owes as of a date: aging, DSO, share of receivables, flags",
             cmd_receivables, as_of="optional", out=True, extra=[by])
    _command(sub, "receivables-file", "attach an accounts-receivable export (invoices, due dates, payments) to a dataset",
             cmd_receivables_file, json_flag=True, extra=[
                 (["file"], dict(metavar="FILE")),
                 (["--map"], dict(action="append", metavar="CANONICAL=SOURCE", help="map a field to a column")),
                 (["--sheet"], dict(metavar="NAME", help="Excel sheet (default: the first non-empty one)")),
                 (["--date-format"], dict(metavar="FMT", help="dmy, mdy, ymd or a strptime format"))])
    _command(sub, "costs-file", "attach a file of costs to serve (visits, logistics, rebates …; per customer, or "
             "shared by a region, owner or channel) to a dataset", cmd_costs_file, json_flag=True, extra=[
                 (["file"], dict(metavar="FILE")),
                 (["--map"], dict(action="append", metavar="CANONICAL=SOURCE", help="map a field to a column "
                                  "(customer_id, order_date, amount, cost_type, region, owner, channel …)")),
                 (["--sheet"], dict(metavar="NAME", help="Excel sheet (default: the first non-empty one)")),
                 (["--date-format"], dict(metavar="FMT", help="dmy, mdy, ymd or a strptime format")),
                 (["--replace"], dict(action="store_true", help="replace the costs file the dataset has"))])
    _command(sub, "pnl", "the account P&L: revenue, gross profit, cost to serve by type, financing cost, net profit",
             cmd_pnl, out=True, extra=[by, (["--start"], dict(type=_date, metavar="DATE")),
                                       (["--end"], dict(type=_date, metavar="DATE")),
                                       (["--rate"], dict(type=float, metavar="RATE", help="annual financing rate of "
                                                         "receivables, e.g. 0.05 (default: the saved one, else 0)"))])
    _command(sub, "attributes", "attach customer attributes (name, group, industry, region, owner, credit limit …) "
             "to a dataset, as the Data page does", cmd_attributes, json_flag=True, extra=[
                 (["file"], dict(metavar="FILE")),
                 (["--map"], dict(action="append", metavar="CANONICAL=SOURCE", help="map a field to a column")),
                 (["--sheet"], dict(metavar="NAME", help="Excel sheet (default: the first non-empty one)"))])
    groups = sub.add_parser("groups", help="customer groups (集团): suggestions from names")
    groups_sub = groups.add_subparsers(dest="groups_command", required=True, metavar="ACTION")
    _command(groups_sub, "suggest", "propose groups from customer names (a file to review, then load with "
             "`attributes`)", cmd_groups_suggest, out=True)
    add_review_commands(sub, _command)
    add_alert_commands(sub, _command)
    _command(sub, "followup", "record a follow-up of an account (the churn page's form)", cmd_followup, extra=[
        (["--customer"], dict(required=True, metavar="ID")),
        (["--status"], dict(required=True, choices=list(FOLLOWUP_STATUSES), metavar="|".join(FOLLOWUP_STATUSES))),
        (["--note"], dict(metavar="TEXT")),
        (["--owner"], dict(metavar="NAME", help="recorded for this person (the local user is recorded too)"))])
    _command(sub, "audit", "the audit trail: loads, replaces, deletes, renames, follow-ups, settings, sign-ins",
             cmd_audit, dataset=False, json_flag=True, extra=[
                 (["--limit"], dict(type=int, metavar="N", help="the newest N entries")),
                 (["--out"], dict(metavar="FILE.csv", help="write the trail as CSV"))])
    _command(sub, "backtest", "replay the churn model at an earlier date against what happened", cmd_backtest,
             as_of="required", json_flag=True, extra=[horizon])
    return parser


def command_reference() -> str:
    """The README's command summary, made from the parser itself (``make docs`` writes it
    into README.md; a test checks they agree): one usage line per command."""
    parser = build_parser()

    def usage(p: argparse.ArgumentParser, prog: str) -> str:
        formatter = argparse.HelpFormatter(prog=prog, width=10_000)
        actions = [a for a in p._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
        formatter.add_usage(None, actions, p._mutually_exclusive_groups, prefix="")
        return formatter.format_help().strip()

    lines = [usage(parser, parser.prog) + " COMMAND …"]
    lines += [f"  {usage(sub, name)}" for name, sub in command_parsers(parser).items()]
    return "\n".join(lines)


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its name as typed ('groups suggest' for an action of a command
    that has actions), in the parser's order."""
    out = {}
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        actions = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if actions:
            out.update({f"{name} {action}": p for action, p in actions[0].choices.items()})
        else:
            out[name] = sub
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = config.flags().debug
    store = None
    try:
        store = service.open_store(args.db)
        return args.func(args, store)
    except KamError as error:
        if debug:
            raise
        print(error.message(_lang()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(t("cli_interrupted", _lang()), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output is printed only after the work is done: the reader left, the command did not fail.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(t("cli_broken_pipe", _lang()), file=sys.stderr)
        return 0
    except Exception as error:  # a bug, not bad input: say so briefly
        if debug:
            raise
        print(t("cli_unexpected", _lang(), error=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"),
              file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
