"""Keep the documented command line in step with the parser. ``make docs`` runs this module: it
rewrites the fenced block under README.md's "## Command line" with ``cli.command_reference()``
and writes ``docs/cli.md`` from every command's ``--help`` (``cli_markdown``); a test checks
both against the parser."""
from __future__ import annotations

import os
from pathlib import Path

from kam_analytics.cli import build_parser, command_parsers, command_reference

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
FENCE = "`" * 3
HELP_WIDTH = 100  # --help as a terminal of this width prints it (argparse reads COLUMNS)


def command_block(text: str) -> str:
    """The fenced block under the README's "## Command line" heading."""
    return text.split("## Command line", 1)[1].split(FENCE)[1].strip("\n")


def with_reference(text: str) -> str:
    head, rest = text.split("## Command line", 1)
    before, _, after = rest.split(FENCE, 2)
    return f"{head}## Command line{before}{FENCE}\n{command_reference()}\n{FENCE}{after}"


def help_texts() -> dict[str, str]:
    """What ``python -m kam_analytics [COMMAND] --help`` prints, for the program and each command
    (at ``HELP_WIDTH`` columns), keyed by the command ('' for the program)."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH)
    try:
        parser = build_parser()
        texts = {"": parser.format_help()}
        texts.update({name: sub.format_help() for name, sub in command_parsers(parser).items()})
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return texts


def cli_markdown() -> str:
    """``docs/cli.md``: the summary, then every command's ``--help`` as printed."""
    texts = help_texts()
    parts = ["# Command-line reference", "",
             "[← README](../README.md) · written by `make docs` from the parser's own `--help`; a test keeps it so.", "",
             "Errors exit with a non-zero code and one or two plain sentences on stderr (a traceback only with "
             "`KAM_DEBUG=1`); `--json` prints one JSON object on the last line of stdout; CSV outputs are UTF-8 "
             "with a BOM and guard cells that start with `= + - @` against formula injection.", "",
             "## Summary", "", FENCE, command_reference(), FENCE, "",
             "## python -m kam_analytics", "", FENCE, texts.pop("").rstrip(), FENCE, ""]
    for name, text in texts.items():
        parts += [f"## {name}", "", FENCE, text.rstrip(), FENCE, ""]
    return "\n".join(parts)


if __name__ == "__main__":
    README.write_text(with_reference(README.read_text(encoding="utf-8")), encoding="utf-8")
    CLI_DOC.parent.mkdir(exist_ok=True)
    CLI_DOC.write_text(cli_markdown(), encoding="utf-8")
