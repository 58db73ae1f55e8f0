"""Shared fixtures: a fresh store file per test, a CLI runner, paths to the shared datasets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# a catalog key missing in a language, or a placeholder left unfilled, raises in every test
# (and in the app and CLI processes the tests start) instead of showing the bare key
os.environ["KAM_STRICT_I18N"] = "1"
DATASETS = ROOT.parent / "shared" / "datasets"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real Chromium through Playwright")
    config.addinivalue_line("markers", "slow: large generated files (CI runs them too)")


@pytest.fixture
def store(tmp_path):
    from kam_analytics.store import Store

    s = Store.open(tmp_path / "kam.duckdb")
    yield s
    s.close()


@pytest.fixture
def shared_dataset():
    def get(name: str) -> Path:
        path = DATASETS / name
        if not path.exists():
            pytest.skip(f"shared dataset {path} is absent (the ../shared/datasets folder is not beside the project)")
        return path
    return get


def run_cli(*args, db: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KAM_NO_DEMO": "1", **(env or {})}
    full_env.pop("KAM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "kam_analytics", "--db", str(db), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=timeout)


@pytest.fixture
def cli(tmp_path):
    db = tmp_path / "cli.duckdb"

    def call(*args, **kwargs):
        return run_cli(*args, db=db, **kwargs)
    call.db = db
    return call
