"""The command line of the review on file: ``review create|list|show|compare|delete`` and
``report`` (the PDF for the review meeting). Each command is one call of ``kam_analytics.reviews``
or ``kam_analytics.report`` plus its output."""
from __future__ import annotations

from kam_analytics import reviews, service
from kam_analytics.cli_common import _lang, _me, _write, print_json
from kam_analytics.i18n import t


def cmd_review_create(args, store) -> int:
    dataset = store.dataset(args.dataset)
    review = reviews.create_review(store, _me(), dataset, args.as_of, args.by, args.note or "")
    if args.json:
        print_json(review.to_json())
    else:
        print(t("cli_review_created", _lang(), review_id=review.review_id, as_of=review.as_of,
                key_accounts=f"{review.key_accounts:,}", accounts=f"{review.accounts:,}", dataset=dataset.name))
    return 0


def cmd_review_list(args, store) -> int:
    dataset = store.dataset(args.dataset)
    found = reviews.list_reviews(store, _me(), dataset)
    if args.json:
        print_json({"reviews": [r.to_json() for r in found]})
    elif not found:
        print(t("cli_reviews_none", _lang(), dataset=dataset.name))
    else:
        for r in found:
            print("\t".join([str(r.review_id), r.as_of, r.by, str(r.key_accounts), r.created_at[:16].replace("T", " "),
                             r.created_by, r.note]))
    return 0


def cmd_review_show(args, store) -> int:
    review = store.reviews.get(args.review_id)
    dataset = store.dataset_by_id(review.dataset_id)
    review = reviews.review_of(store, _me(), dataset, review.review_id)
    rows = reviews.review_rows(store, _me(), review)
    return _write(reviews.review_export(rows, review.by), args.out)


def cmd_review_compare(args, store) -> int:
    dataset = store.dataset(args.dataset)
    comparison = reviews.compare(store, _me(), dataset, args.from_id, args.to_id)
    if args.out:
        _write(comparison.moves, args.out)
    if args.json:
        print_json(comparison.to_json())
    elif not args.out:
        for key, value in comparison.bridge.items():
            print(f"{key}: {value}")
        for row in comparison.moves.itertuples(index=False):
            print(f"{row.change}: {row.customer_id} ({row.criterion})")
    return 0


def cmd_review_delete(args, store) -> int:
    dataset = store.dataset(args.dataset)
    review = reviews.delete_review(store, _me(), dataset, args.review_id)
    print(t("cli_review_deleted", _lang(), review_id=review.review_id, as_of=review.as_of, dataset=dataset.name))
    return 0


def cmd_report(args, store) -> int:
    from kam_analytics import report

    dataset = store.dataset(args.dataset)
    made = report.review_report(store, _me(), dataset, review_id=args.review, compare_to=args.compare_to,
                                as_of=args.as_of, by=args.by, lang=args.lang)
    with open(args.out, "wb") as out:
        out.write(made.pdf)
    print(t("cli_report_written", _lang(), path=args.out, pages=made.pages, as_of=made.as_of))
    return 0


def add_commands(sub, command) -> None:
    """Add ``review`` (with its actions) and ``report`` to the parser's commands ``sub``;
    ``command`` is ``cli._command`` (the options most commands share)."""
    by = (["--by"], dict(choices=list(service.LEVELS), default="customer", metavar="customer|group",
                         help="count customers as the data lists them (default) or the groups they belong to"))
    review = sub.add_parser("review", help="the review on file (定期评判): archive, list, show, compare, delete")
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    command(actions, "create", "evaluate every account as of a date and keep the result on file", cmd_review_create,
            as_of="optional", json_flag=True, extra=[by, (["--note"], dict(metavar="TEXT"))])
    command(actions, "list", "the dataset's archived reviews, newest first", cmd_review_list, json_flag=True)
    command(actions, "show", "write an archived review's rows, one per account", cmd_review_show, dataset=False,
            out=True, extra=[(["review_id"], dict(type=int, metavar="ID"))])
    command(actions, "compare", "what changed between two archived reviews: revenue bridge, tier migration, "
            "accounts that entered or left the key-account list", cmd_review_compare, json_flag=True, extra=[
                (["--from"], dict(dest="from_id", type=int, required=True, metavar="ID")),
                (["--to"], dict(dest="to_id", type=int, required=True, metavar="ID")),
                (["--out"], dict(metavar="FILE.csv", help="write the accounts that entered or left"))])
    command(actions, "delete", "delete an archived review (administrators)", cmd_review_delete,
            extra=[(["review_id"], dict(type=int, metavar="ID"))])
    command(sub, "report", "the review report for the meeting, as a PDF", cmd_report, as_of="optional", extra=[
        (["--review"], dict(type=int, metavar="ID", help="an archived review (default: evaluated now, not archived)")),
        (["--compare-to"], dict(type=int, metavar="ID", help="the review to compare with (default: the latest "
                                "earlier review at the same level)")),
        by, (["--lang"], dict(choices=["zh", "en"], required=True, metavar="zh|en")),
        (["--out"], dict(required=True, metavar="FILE.pdf"))])

