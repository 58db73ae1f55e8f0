"""Shared use with real processes: the app under `streamlit run`, CLI commands as subprocesses,
all on one store at once. Format 1 of the store refused every second process ("in use by
another program"); these are the scenarios that must now work."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, big_orders_csv, run_cli, start_app, start_cli
from kam_analytics.store import Store

pytestmark = pytest.mark.slow


def _csv(path, rows):
    path.write_text("customer_id,order_date,amount\n" + "".join(f"{c},{d},{a}\n" for c, d, a in rows), encoding="utf-8")
    return path


@pytest.fixture
def app_store(tmp_path):
    """A store with the demo dataset, served by the app."""
    db = tmp_path / "kam.db"
    assert run_cli("datasets", db=db, env={"KAM_NO_DEMO": ""}).returncode == 0  # seeds, as `make run` does
    url, process = start_app(db, tmp_path / "app.log")
    yield db, url
    process.terminate()
    process.wait(timeout=20)


def _wait_for_new_file(folder, before: set, process, seconds: float = 30) -> None:
    """Until ``process`` (a load) has begun writing its own file in the store's folder."""
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        if any(f.name not in before for f in folder.iterdir()):
            return
        time.sleep(0.02)


def test_cli_reads_while_the_app_runs_and_while_an_ingest_runs(app_store, tmp_path):
    db, url = app_store
    folder = db.with_name("kam-datasets")
    big = big_orders_csv(tmp_path / "big.csv", 3_000_000)
    before = {f.name for f in folder.iterdir()}
    loading = start_cli("ingest", big, "--dataset", "big", db=db)
    _wait_for_new_file(folder, before, loading)
    reads = [start_cli("datasets", "--json", db=db),
             start_cli("concentration", "--dataset", "演示数据 Demo", "--json", db=db),
             start_cli("churn", "--dataset", "演示数据 Demo", "--as-of", "2025-12-31", "--out", tmp_path / "c.csv", db=db)]
    assert loading.poll() is None, "the ingest ended before the reads started: use a bigger file"
    outputs = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in reads]
    assert loading.wait(timeout=300) == 0, loading.stderr.read()
    for code, _, err in outputs:
        assert code == 0, err
    assert [d["name"] for d in json.loads(outputs[0][1].splitlines()[-1])["datasets"]] == ["演示数据 Demo"]
    assert json.loads(outputs[1][1].splitlines()[-1])["customers"] == 1500
    assert (tmp_path / "c.csv").read_text(encoding="utf-8-sig").startswith("customer_id,")
    assert urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).status == 200
    listed = json.loads(run_cli("datasets", "--json", db=db).stdout.splitlines()[-1])["datasets"]
    assert [(d["name"], d["rows"]) for d in listed][1:] == [("big", 3_000_000)]


def test_two_ingests_into_different_datasets_both_succeed(tmp_path):
    db = tmp_path / "kam.db"
    files = [big_orders_csv(tmp_path / f"{n}.csv", 600_000) for n in ("a", "b")]
    loads = [start_cli("ingest", f, "--dataset", f.stem, db=db) for f in files]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in loads]
    assert [code for code, _ in results] == [0, 0], results
    with Store.open(db) as store:
        assert sorted((d.name, d.rows) for d in store.datasets()) == [("a", 600_000), ("b", 600_000)]


def test_two_replaces_of_one_dataset_one_wins_the_other_changes_nothing(tmp_path):
    db = tmp_path / "kam.db"
    assert run_cli("ingest", _csv(tmp_path / "old.csv", [("A", "2024-01-01", 1)]), "--dataset", "d", db=db).returncode == 0
    # two files told apart by their revenue: every amount is 1.5 in one and 2.5 in the other
    rows = 2_000_000
    ones = big_orders_csv(tmp_path / "ones.csv", rows, amount="1")
    twos = big_orders_csv(tmp_path / "twos.csv", rows, amount="2")
    folder = db.with_name("kam-datasets")
    seen = {f.name for f in folder.iterdir()}
    first = start_cli("ingest", ones, "--dataset", "d", "--replace", db=db)
    _wait_for_new_file(folder, seen, first)
    seen = {f.name for f in folder.iterdir()}
    second = start_cli("ingest", twos, "--dataset", "d", "--replace", db=db)
    _wait_for_new_file(folder, seen, second)
    # both have read the dataset's version (before creating their files); neither has published
    assert first.poll() is None, "the first load ended before the second began: use bigger files"
    loads = [first, second]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in loads]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "Another load replaced or created the dataset 'd' while this one ran" in loser and "Traceback" not in loser
    winner = next(f for f, (code, _) in zip((ones, twos), results) if code == 0)
    with Store.open(db) as store:
        d = store.dataset("d")
        assert d.rows == rows and d.revenue == pytest.approx(rows * (1.5 if winner == ones else 2.5))
        assert [f.name for f in store.folder.iterdir()] == [d.data_file]  # the loser's file is gone


def test_sigkill_of_the_writer_while_a_reader_reads(tmp_path):
    db = tmp_path / "kam.db"
    assert run_cli("ingest", _csv(tmp_path / "old.csv", [("A", "2024-01-01", 1), ("B", "2024-01-02", 2)]),
                   "--dataset", "d", db=db).returncode == 0
    reader = subprocess.Popen([sys.executable, "-c", f"""
import time
from kam_analytics.store import Store
s = Store.open({str(db)!r})
seen = set()
end = time.time() + 6
while time.time() < end:
    d = s.dataset('d')
    seen.add((d.rows, int(s.table(d).count().execute()), float(s.table(d).amount.sum().execute())))
print(sorted(seen), flush=True)
"""], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    big = big_orders_csv(tmp_path / "big.csv", 3_000_000)
    writer = start_cli("ingest", big, "--dataset", "d", "--replace", db=db)
    folder = db.with_name("kam-datasets")
    deadline = time.time() + 20
    while time.time() < deadline and writer.poll() is None:
        if any(f.stat().st_size > 1_000_000 for f in folder.iterdir()):
            break
        time.sleep(0.05)
    assert writer.poll() is None, "the load finished before it could be killed"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert out.strip() == "[(2, 2, 3.0)]"  # the reader saw the old version only, and no error
    with Store.open(db) as store:
        d = store.dataset("d")
        assert (d.rows, d.revenue) == (2, 3.0)
        assert [f.name for f in store.folder.iterdir()] == [d.data_file]  # no orphan after the next start


def test_follow_ups_from_many_processes_in_one_second_are_all_kept(tmp_path):
    db = tmp_path / "kam.db"
    assert run_cli("ingest", _csv(tmp_path / "a.csv", [("A", "2024-01-01", 1)]), "--dataset", "d", db=db).returncode == 0
    writers = [start_cli("followup", "--dataset", "d", "--customer", "A", "--status", "contacted",
                         "--note", f"call {i}", db=db) for i in range(8)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 8
    with Store.open(db) as store:
        history = store.followups(store.dataset("d"), "A")
        assert sorted(history["note"]) == [f"call {i}" for i in range(8)]
        # newest first, in the order the catalog accepted them
        assert list(history["created_at"]) == sorted(history["created_at"], reverse=True)


def test_many_processes_creating_one_new_store_at_once(tmp_path):
    # each switches the new catalog to WAL mode, which needs the file to itself: none may fail
    db = tmp_path / "new.db"
    openers = [start_cli("datasets", "--json", db=db) for _ in range(6)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in openers]
    assert results == [(0, "")] * 6
    with Store.open(db) as store:
        assert store.datasets() == []
