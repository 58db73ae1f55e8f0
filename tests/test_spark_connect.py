"""A dataset attached through Spark Connect (KAM_SPARK_REMOTE): a local Spark Connect server
(the one pyspark ships) is started on a free port; the command line, pointed at it, attaches a
Parquet file and reports the same concentration as the same lines loaded into DuckDB."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, run_cli
from kam_analytics import spark as engines

pytestmark = [pytest.mark.spark, pytest.mark.slow]

if not engines.java_available():
    print("\nSpark Connect test skipped: no Java runtime (apt-get install openjdk-17-jre-headless)")
    pytest.skip("no Java runtime for the Spark Connect server", allow_module_level=True)

LINES = """customer_id,order_date,amount,region
A,2024-01-05,500.5,华东
A,2024-02-05,100,华东
B,2024-01-10,300.25,华南
C,2024-03-01,99.25,华北
"""


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    import pyspark

    home = Path(pyspark.__file__).parent
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {**os.environ, "SPARK_HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    process = subprocess.Popen(
        [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}", "spark-internal"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and "Spark Connect server started" not in log.read_text(errors="replace"):
        if process.poll() is not None:
            pytest.fail(f"the Spark Connect server stopped; see {log}")
        time.sleep(0.5)
    else:
        if "Spark Connect server started" not in log.read_text(errors="replace"):
            process.kill()
            pytest.fail(f"the Spark Connect server did not start; see {log}")
    yield f"sc://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=60)


def test_attach_and_analyse_through_spark_connect(connect_server, tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text(LINES, encoding="utf-8")
    db = tmp_path / "kam.db"
    assert run_cli("ingest", csv, "--dataset", "local", db=db).returncode == 0
    parquet = tmp_path / "orders.parquet"
    from kam_analytics.store import Store

    with Store.open(db) as store:
        store.cursor().execute(f"COPY (SELECT * FROM {store.dataset('local').table_name}) TO '{parquet}' (FORMAT parquet)")
    remote = {"KAM_SPARK_REMOTE": connect_server}
    attached = run_cli("attach", "remote", "--table", f"parquet.`{parquet}`", "--json", db=db, env=remote)
    assert attached.returncode == 0, attached.stderr
    report = json.loads(attached.stdout.strip().splitlines()[-1])
    assert (report["rows"], report["customers"], report["rejected"]) == (4, 3, 0)
    assert report["revenue"] == pytest.approx(1000.0)  # 500.5 + 100 + 300.25 + 99.25
    on_spark = run_cli("concentration", "--dataset", "remote", "--json", db=db, env=remote)
    on_duckdb = run_cli("concentration", "--dataset", "local", "--json", db=db)
    assert on_spark.returncode == 0, on_spark.stderr
    spark_figures = json.loads(on_spark.stdout.strip().splitlines()[-1])
    duck_figures = json.loads(on_duckdb.stdout.strip().splitlines()[-1])
    assert spark_figures == duck_figures
    assert spark_figures["top1_share"] == pytest.approx(600.5 / 1000.0, rel=1e-12)  # A: 500.5 + 100
