"""The command line: each command is one library call plus its output.

Contract (see README): errors exit ≠ 0 with one or two plain sentences on stderr and no
traceback unless KAM_DEBUG=1; ``--json`` prints one JSON object on the last line of stdout;
CSV outputs start with customer_id and are guarded against formula injection.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from kam_analytics import config
from kam_analytics.errors import KamError
from kam_analytics.i18n import normalise_lang, t


def open_store(db: str | None = None, seed: bool = True):
    """Open the store file; a new store is seeded with the demo dataset (unless KAM_NO_DEMO=1)."""
    from kam_analytics.store import Store

    path = config.db_path(db)
    is_new = not path.exists()
    store = Store.open(path)
    if is_new and seed and not config.flags().no_demo:
        from kam_analytics import demo

        demo.seed_store(store)
    return store


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(obj) -> None:
    print(json.dumps(_clean(obj), ensure_ascii=False, default=_json_default))


def _lang() -> str:
    return normalise_lang(config.setting("KAM_LANG") or "en")


# -- commands ---------------------------------------------------------------------------------
def cmd_ingest(args, store) -> int:
    from kam_analytics.ingest import ingest_file, parse_overrides

    report = ingest_file(store, args.file, dataset=args.dataset, mapping=parse_overrides(args.map),
                         sheet=args.sheet, date_format=args.date_format, replace=args.replace)
    lang = _lang()
    if args.json:
        print_json(report.to_json())
        return 0
    print(t("cli_ingested", lang, dataset=report.dataset, rows=report.rows, customers=report.customers,
            revenue=f"{report.revenue:,.2f}", date_min=report.date_min, date_max=report.date_max))
    print(t("cli_detected", lang, encoding=report.encoding or "-",
            delimiter=t("delimiter_" + report.delimiter, lang) if report.delimiter else "-",
            file_format=report.file_format))
    print(t("cli_mapping", lang, mapping=", ".join(f"{k} ← {v}" for k, v in report.mapping.items())))
    from kam_analytics.ingest.report import report_details, report_warnings

    for line in report_details(report.to_json(), lang) + report_warnings(report.to_json(), lang):
        print(line)
    if report.rejected:
        print(t("cli_rejected", lang, rejected=report.rejected, reasons=", ".join(
            f"{t('reject_' + k, lang)}: {v}" for k, v in report.rejected_reasons.items())))
        for example in report.rejected_examples:
            print(t("cli_rejected_example", lang, row=example["row"], reason=t("reject_" + example["reason"], lang)))
        print(t("cli_rejected_hint", lang, dataset=report.dataset))
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
    store.drop(args.name)
    print(t("cli_dropped", _lang(), name=args.name))
    return 0


def cmd_rejects(args, store) -> int:
    from kam_analytics.export import write_csv

    dataset = store.dataset(args.dataset)
    frame = store.rejected_rows(dataset)
    write_csv(frame, args.out)
    print(t("cli_written", _lang(), rows=len(frame), path=args.out))
    return 0


def _dataset_table(store, args):
    from kam_analytics.analytics.filters import apply_filters

    dataset = store.dataset(args.dataset)
    table = apply_filters(store.table(dataset), start=getattr(args, "start", None),
                          end=getattr(args, "end", None), as_of=getattr(args, "as_of", None))
    return dataset, table


def cmd_customers(args, store) -> int:
    from kam_analytics.analytics.customers import customer_summary
    from kam_analytics.export import write_csv

    from kam_analytics.analytics.filters import single_line_orders

    dataset, table = _dataset_table(store, args)
    frame = customer_summary(table, single_line_orders(store, dataset))
    write_csv(frame, args.out)
    print(t("cli_written", _lang(), rows=len(frame), path=args.out))
    return 0


def concentration_report(table, measure: str = "revenue") -> dict:
    """The ``concentration --json`` object (see README): indicators of revenue, or with
    measure='profit' the same on profit plus the whale-curve figures."""
    from kam_analytics.analytics import concentration as conc

    report = conc.concentration(conc.ranked_customers(table, measure), measure).to_json()
    if measure == "profit":
        whale = conc.whale_curve(conc.ranked_customers(table, "profit"))
        report.update(unprofitable_customers=whale.unprofitable_customers,
                      break_even_customers=whale.break_even_customers,
                      profitable_customers=whale.profitable_customers, peak_share=whale.peak_share,
                      peak_customers=whale.peak_customers, top20pct_share=whale.top20pct_share,
                      total=whale.total_profit)
    return report


def cmd_concentration(args, store) -> int:
    from kam_analytics.errors import StoreError

    dataset, table = _dataset_table(store, args)
    if args.measure == "profit" and "profit" not in table.columns:
        raise StoreError("no_profit", name=dataset.name)
    report = concentration_report(table, args.measure)
    if args.json:
        print_json(report)
    else:
        for key, value in report.items():
            if key != "flags":
                print(f"{key}: {value}")
        for flag in report["flags"]:
            print("flag: " + ", ".join(f"{k}={v}" for k, v in flag.items()))
    return 0


def scorecard(store, dataset, as_of, weights=None):
    """The scorecard of ``dataset`` as of ``as_of`` with the saved (or given) weights, default
    tiers and key-account rule — the one the pages show by default."""
    from kam_analytics.analytics import account_features, accounts
    from kam_analytics.analytics.filters import single_line_orders

    features = account_features.customer_features(store.table(dataset), as_of, store.attributes(dataset),
                                                  single_line_orders=single_line_orders(store, dataset))
    return accounts.scorecard(features, weights or saved_weights(store, dataset), as_of=as_of)


def accounts_table(store, dataset, as_of, weights=None):
    """The scorecard of ``dataset`` as of ``as_of`` with the saved (or given) weights, as rows."""
    from kam_analytics.analytics import accounts

    return accounts.scorecard_export(scorecard(store, dataset, as_of, weights))


def _as_of(args, dataset) -> str | None:
    """--as-of, else the dataset's last day."""
    return args.as_of or (dataset.date_max.date().isoformat() if dataset.date_max else None)


def saved_weights(store, dataset) -> dict | None:
    """The scorecard weights saved for the dataset on the key-accounts page, if any."""
    return store.get_setting(dataset, "scorecard_weights")


def cmd_accounts(args, store) -> int:
    from kam_analytics.export import write_csv

    dataset = store.dataset(args.dataset)
    frame = accounts_table(store, dataset, _as_of(args, dataset))
    write_csv(frame, args.out)
    print(t("cli_written", _lang(), rows=len(frame), path=args.out))
    return 0


def cmd_rfm(args, store) -> int:
    from kam_analytics.analytics import rfm
    from kam_analytics.analytics.filters import single_line_orders
    from kam_analytics.export import write_csv

    dataset = store.dataset(args.dataset)
    as_of = _as_of(args, dataset)
    result = rfm.rfm(rfm.rfm_values(store.table(dataset), as_of, single_line_orders(store, dataset)), as_of)
    rfm.cluster_customers(result, "auto" if args.k == "auto" else int(args.k))
    write_csv(rfm.rfm_export(result), args.out)
    print(t("cli_written", _lang(), rows=len(result.table), path=args.out))
    return 0


def churn_table(store, dataset, as_of, horizon: int, scope: str = "key"):
    """The ``churn --out`` rows, highest risk first: customer_id, name, risk, rank,
    revenue_at_risk, reasons (plain English, '; '-separated), last_order, typical_gap_days,
    status (latest follow-up). ``scope`` 'key' keeps the key accounts (the scorecard's list,
    else the top 20% by revenue), 'all' every active account."""
    import pandas as pd

    from kam_analytics.analytics import accounts, churn

    table = store.table(dataset)
    scored = churn.score_accounts(table, as_of, horizon)
    t = scored.table
    if scope == "key" and not t.empty:
        key, _ = accounts.watched_ids(scorecard(store, dataset, as_of))
        t = t[t["customer_id"].isin(key)].copy()
        t["rank"] = range(1, len(t) + 1)
    names = {}
    if "customer_name" in table.columns and not t.empty:
        named = table.filter(table.customer_id.isin(list(t["customer_id"])))
        names = dict(named.group_by("customer_id").aggregate(n=named.customer_name.max()).to_pandas().values)
    latest = store.latest_statuses(dataset)
    return pd.DataFrame({
        "customer_id": t["customer_id"], "name": [names.get(c) for c in t["customer_id"]],
        "risk": t["risk"].round(4), "rank": t["rank"], "revenue_at_risk": t["revenue_at_risk"].round(2),
        "reasons": ["; ".join(churn.reason_text(r, "en") for r in rs) for rs in t["reasons"]],
        "last_order": pd.to_datetime(t["last"]).dt.date.astype(str), "typical_gap_days": t["typical_gap_days"].round(1),
        "status": [latest.get(c, "") for c in t["customer_id"]],
    })


def cmd_churn(args, store) -> int:
    from kam_analytics.export import write_csv

    dataset = store.dataset(args.dataset)
    frame = churn_table(store, dataset, args.as_of, args.horizon, args.scope)
    write_csv(frame, args.out)
    print(t("cli_written", _lang(), rows=len(frame), path=args.out))
    return 0


def cmd_backtest(args, store) -> int:
    from kam_analytics.analytics import churn

    dataset = store.dataset(args.dataset)
    result = churn.backtest(store.table(dataset), args.as_of, args.horizon).to_json()
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


def _date(text: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write it as YYYY-MM-DD") from None
    return text[:10]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kam_analytics", description="KAM Analytics command line.")
    parser.add_argument("--db", help="store file (default: KAM_DB or data/kam.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="load a CSV/TSV/TXT/XLSX/Parquet file as a dataset")
    p.add_argument("file")
    p.add_argument("--dataset", help="dataset name (default: the file name)")
    p.add_argument("--map", action="append", metavar="CANONICAL=SOURCE", help="map a field to a column")
    p.add_argument("--sheet", help="Excel sheet (default: the first non-empty one)")
    p.add_argument("--date-format", help="dmy, mdy, ymd or a strptime format such as %%d/%%m/%%Y")
    p.add_argument("--replace", action="store_true", help="replace an existing dataset of that name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("datasets", help="list datasets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("drop", help="delete a dataset")
    p.add_argument("name")
    p.set_defaults(func=cmd_drop)

    p = sub.add_parser("rejects", help="write the rows an ingest refused, with reasons")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_rejects)

    p = sub.add_parser("customers", help="one row per customer")
    p.add_argument("--dataset", required=True)
    p.add_argument("--as-of", type=_date)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_customers)

    p = sub.add_parser("concentration", help="how concentrated revenue (or profit) is on few customers")
    p.add_argument("--dataset", required=True)
    p.add_argument("--measure", choices=["revenue", "profit"], default="revenue")
    p.add_argument("--start", type=_date)
    p.add_argument("--end", type=_date)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_concentration)

    p = sub.add_parser("accounts", help="customer value scorecard, tiers, flags and the key-account list")
    p.add_argument("--dataset", required=True)
    p.add_argument("--as-of", type=_date)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_accounts)

    p = sub.add_parser("rfm", help="RFM scores, segments and clusters per customer")
    p.add_argument("--dataset", required=True)
    p.add_argument("--as-of", type=_date)
    p.add_argument("--k", type=_k, default="auto")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_rfm)

    p = sub.add_parser("churn", help="lapse risk of key accounts (or all) with reasons")
    p.add_argument("--dataset", required=True)
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--horizon", type=int, default=90)
    p.add_argument("--scope", choices=["key", "all"], default="key")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_churn)

    p = sub.add_parser("backtest", help="replay the churn model at an earlier date against what happened")
    p.add_argument("--dataset", required=True)
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--horizon", type=int, default=90)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backtest)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = config.flags().debug
    store = None
    try:
        store = open_store(args.db)
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
