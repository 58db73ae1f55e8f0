"""Settings read from the environment.

Every setting is declared once in ``SETTINGS`` as (name, default, help); the README's table
of settings is tested against this declaration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SETTINGS: list[tuple[str, str, str]] = [
    ("KAM_DB", "data/kam.db", "Path of the store's catalog (relative paths are from the project root); each dataset's DuckDB file lives in the folder beside it, `<name>-datasets`."),
    ("KAM_LANG", "", "Interface language, 'zh' or 'en'; empty means: from the browser's locale."),
    ("KAM_USER_NAME", "", "Without sign-in: the name follow-ups, settings and loads are signed with (default: this computer's user name); the sidebar can change it for a session."),
    ("KAM_SECRETS", "", "The secrets file the command line and the app read alert channels from (`[kam.notify]`); empty means the project's `.streamlit/secrets.toml`."),
    ("KAM_DEBUG", "", "Set to 1 to show full tracebacks on the command line."),
    ("KAM_NO_DEMO", "", "Set to 1 to create an empty store instead of seeding the demo dataset."),
    ("KAM_NO_PREPARE", "", "Set to 1 not to prepare the newest dataset's opening pages when the app starts and after each load (see \"Performance\")."),
    ("KAM_SPARK_MASTER", "local[*]", "Where datasets attached with `--engine spark` run: `local[*]` (this machine; needs Java 17) or a cluster's master URL such as `spark://host:7077` or `yarn`."),
    ("KAM_SPARK_REMOTE", "", "A Spark Connect server, such as `sc://host:15002`; when set it is used instead of KAM_SPARK_MASTER (no Java needed here)."),
    ("KAM_SPARK_CONF", "", "More Spark settings, `key=value` pairs separated by `;` (e.g. `spark.driver.memory=4g;spark.sql.catalogImplementation=hive`)."),
]


def setting(name: str) -> str:
    """The value of a declared setting: the environment variable if set, else its default."""
    defaults = {n: d for n, d, _ in SETTINGS}
    if name not in defaults:
        raise KeyError(f"undeclared setting {name}")
    return os.environ.get(name, defaults[name])


LEGACY_DB = "data/kam.duckdb"  # the default of store format 1 (one DuckDB file)


def db_path(override: str | None = None) -> Path:
    """The store's catalog: ``override`` (``--db``) if given, else ``KAM_DB``. With neither,
    a store of format 1 at the old default path is used (and converted) when no new one exists."""
    raw = override or setting("KAM_DB")
    path = Path(raw)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    legacy = PROJECT_ROOT / LEGACY_DB
    if not override and "KAM_DB" not in os.environ and not path.exists() and legacy.exists():
        return legacy
    return path


@dataclass(frozen=True)
class Flags:
    debug: bool
    no_demo: bool
    no_prepare: bool = False


def flags() -> Flags:
    return Flags(debug=setting("KAM_DEBUG") == "1", no_demo=setting("KAM_NO_DEMO") == "1",
                 no_prepare=setting("KAM_NO_PREPARE") == "1")
