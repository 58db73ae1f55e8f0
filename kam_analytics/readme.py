"""Keep README.md's command summary in step with the parser: ``make docs`` runs this module,
which rewrites the fenced block under "## Command line" with ``cli.command_reference()``."""
from __future__ import annotations

from pathlib import Path

from kam_analytics.cli import command_reference

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = "`" * 3


def command_block(text: str) -> str:
    """The fenced block under the README's "## Command line" heading."""
    return text.split("## Command line", 1)[1].split(FENCE)[1].strip("\n")


def with_reference(text: str) -> str:
    head, rest = text.split("## Command line", 1)
    before, _, after = rest.split(FENCE, 2)
    return f"{head}## Command line{before}{FENCE}\n{command_reference()}\n{FENCE}{after}"


if __name__ == "__main__":
    README.write_text(with_reference(README.read_text(encoding="utf-8")), encoding="utf-8")
