"""Apache Spark, the engine of a dataset *attached* from a table Spark can read (DuckDB,
embedded, reads every uploaded dataset). The analytics are Ibis expressions written once;
what Spark needs that DuckDB does not lives here, with the reason; which engine reads a
dataset is the store's business (``store.engines``).

The Spark session is built once per process from the settings (``config.SETTINGS``):
``KAM_SPARK_REMOTE`` (Spark Connect, ``sc://host:15002``) if set, else ``KAM_SPARK_MASTER``
(``local[*]`` to try it on this machine, or a cluster's master URL), plus ``KAM_SPARK_CONF``.
"""
from __future__ import annotations

import os
import shutil
import threading

from kam_analytics import config
from kam_analytics.errors import EngineError

_lock = threading.Lock()
_session = None
_backend = None


def engine_of(table) -> str:
    """'duckdb' or 'pyspark': the backend an Ibis table runs on."""
    return table._find_backend().name


def java_available() -> bool:
    """Whether a local Spark can start here (it needs a Java runtime; Spark Connect does not)."""
    return bool(shutil.which("java") or os.environ.get("JAVA_HOME"))


def _spark_conf() -> dict[str, str]:
    """``KAM_SPARK_CONF``: 'key=value' pairs separated by ';'."""
    pairs = {}
    for item in filter(str.strip, config.setting("KAM_SPARK_CONF").split(";")):
        key, sep, value = item.partition("=")
        if not sep:
            raise EngineError("spark_conf_bad", item=item.strip())
        pairs[key.strip()] = value.strip()
    return pairs


def spark_session():
    """The process's Spark session (built on first use)."""
    global _session
    with _lock:
        if _session is not None:
            return _session
        try:
            from pyspark.sql import SparkSession
        except ImportError:  # pragma: no cover - requirements.txt installs it
            raise EngineError("spark_missing") from None
        remote = config.setting("KAM_SPARK_REMOTE").strip()
        builder = SparkSession.builder.appName("KAM Analytics")
        if remote:
            builder = builder.remote(remote)
        else:
            if not java_available():
                raise EngineError("spark_no_java")
            # the JVM starts with the session: its log (errors only) is set before that
            log_config = config.PROJECT_ROOT / "kam_analytics" / "spark-log4j2.properties"
            os.environ.setdefault("PYSPARK_SUBMIT_ARGS", f"--driver-java-options "
                                  f"-Dlog4j2.configurationFile=file:{log_config} pyspark-shell")
            builder = builder.master(config.setting("KAM_SPARK_MASTER") or "local[*]")
            # dates are compared as the store writes them (no zone); on one machine a few
            # shuffle partitions beat Spark's 200 by far for per-customer results
            builder = (builder.config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.shuffle.partitions", str(max(2, 2 * (os.cpu_count() or 1)))))
        builder = builder.config("spark.sql.session.timeZone", "UTC")
        for key, value in _spark_conf().items():
            builder = builder.config(key, value)
        try:
            _session = builder.getOrCreate()
        except Exception as error:  # the JVM or the cluster refused: say where it was looked for
            raise EngineError("spark_unreachable", where=remote or config.setting("KAM_SPARK_MASTER") or "local[*]",
                              error=str(error).splitlines()[0][:200] if str(error) else type(error).__name__) from None
        if not remote:
            _session.sparkContext.setLogLevel("ERROR")
        return _session


def backend_for(engine: str):
    """The Ibis backend of an attached dataset's ``engine``."""
    if engine == "spark":
        return spark_backend()
    raise EngineError("engine_unknown", engine=engine)


def spark_backend():
    """The Ibis backend over the process's Spark session."""
    global _backend
    session = spark_session()
    with _lock:
        if _backend is None:
            import ibis

            _teach_spark()
            _backend = ibis.pyspark.connect(session)
        return _backend


def _teach_spark() -> None:
    """Ibis 12's PySpark compiler has no rule for BIT_OR, which Spark SQL has had since 3.0;
    the month bit words of ``account_features.month_words`` need it (on DuckDB the same
    aggregate halves the time of counting distinct months)."""
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    if PySparkCompiler.visit_BitOr is PySparkCompiler.visit_Undefined:  # (every op without a rule has this)
        def visit_BitOr(self, op, *, arg, where):
            return self.agg.bit_or(arg, where=where)

        PySparkCompiler.visit_BitOr = visit_BitOr
