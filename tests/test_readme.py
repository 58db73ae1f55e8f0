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
