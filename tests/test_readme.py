"""The README's settings table and command list are kept in step with the code."""
from __future__ import annotations

import re
from pathlib import Path

from kam_analytics.cli import build_parser, command_reference
from kam_analytics.readme import command_block
from kam_analytics.config import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_settings_table_matches_config():
    rows = re.findall(r"^\| `(KAM_\w+)` \|\s*`?([^|`]*?)`?\s*\| (.+?) \|$", README, flags=re.M)
    assert [(name, default.strip(), text) for name, default, text in rows] == [
        (name, default, text) for name, default, text in SETTINGS]


def test_every_command_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    block = command_block(README)
    documented = set(re.findall(r"^\s+([\w-]+)", block, flags=re.M))
    assert set(commands) == documented


def test_command_summary_is_the_parsers_own():
    # `make docs` rewrites it; a change to an option that is not written back fails here
    assert command_block(README) == command_reference()
    assert "--as-of DATE" in command_reference() and "ingest [--dataset NAME]" in command_reference()


def test_quick_start_is_the_two_commands():
    quick = README.split("## Quick start", 1)[1].split("```")[1]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make run", "make test"]


def test_cli_reference_is_what_help_prints():
    # docs/cli.md is written by `make docs`; each command's section is its --help as a terminal
    # of HELP_WIDTH columns prints it, asked of the real command
    import os
    import subprocess
    import sys

    from kam_analytics.readme import CLI_DOC, HELP_WIDTH, cli_markdown

    doc = CLI_DOC.read_text(encoding="utf-8")
    assert doc == cli_markdown()
    env = {**os.environ, "COLUMNS": str(HELP_WIDTH)}
    for command in ("", "churn", "ingest"):
        printed = subprocess.run([sys.executable, "-m", "kam_analytics", *([command] if command else []), "--help"],
                                 capture_output=True, text=True, env=env, cwd=CLI_DOC.parent.parent, check=True).stdout
        section = doc.split(f"## {command or 'python -m kam_analytics'}\n\n```\n", 1)[1].split("\n```", 1)[0]
        assert section == printed.rstrip()
        assert printed.startswith(f"usage: python -m kam_analytics {command}".rstrip())


def test_every_doc_the_readme_links_exists():
    links = re.findall(r"\]\(((?:docs|bench)/[^)#]+)", README)
    assert {"docs/cli.md", "docs/store.md", "docs/churn.md", "docs/performance.md"} <= set(links)
    root = Path(__file__).resolve().parent.parent
    assert [link for link in links if not (root / link).exists()] == []
