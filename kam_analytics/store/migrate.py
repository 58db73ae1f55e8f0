"""Convert a store of format 1 (one DuckDB file holding the registry and every table) to the
catalog and dataset files of format 2, in place: the old file is kept beside it as
``<name>.v1``, and nothing is written to it."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from kam_analytics.errors import StoreError
from kam_analytics.store.catalog import Catalog
from kam_analytics.store.records import FORMAT_VERSION, iso_text as _text, sql_literal as _literal


def migrate_v1(path: Path) -> None:
    try:
        old = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        if "lock" in str(error).lower():
            raise StoreError("store_locked_v1", path=str(path)) from None
        raise StoreError("store_unreadable", path=str(path), reason=str(error).splitlines()[0]) from None
    try:
        tables = {r[0] for r in old.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
        if tables and "kam_datasets" not in tables:
            raise StoreError("store_not_kam", path=str(path), reason="a DuckDB database without the KAM registry")
        if "kam_meta" in tables:
            row = old.execute("SELECT value FROM kam_meta WHERE key = 'format_version'").fetchone()
            found = int(row[0]) if row and str(row[0]).isdigit() else 0
            if found > 1:
                raise StoreError("store_newer", path=str(path), found=found, supported=FORMAT_VERSION)
        new_path = path.with_name(f".{path.name}.migrating-{os.getpid()}")
        new_path.unlink(missing_ok=True)
        catalog = Catalog(new_path)
        folder = path.with_name(f"{path.stem}-datasets")
        catalog.initialise()
        folder.mkdir(parents=True, exist_ok=True)
        datasets = old.execute("SELECT * FROM kam_datasets ORDER BY id").df().to_dict("records") if tables else []
        with catalog.connect(write=True) as db:
            for d in datasets:
                files = {}
                for kind, table in (("tx", d["table_name"]), ("attr", d["attributes_table"])):
                    if not table:
                        continue
                    name = f"{kind}-{uuid.uuid4().hex[:16]}-p{os.getpid()}.duckdb"
                    target = duckdb.connect(str(folder / name))
                    target.execute(f"ATTACH {_literal(path)} AS old (READ_ONLY)")
                    target.execute(f'CREATE TABLE "{kind}" AS SELECT * FROM old.main."{table}"')
                    if kind == "tx":
                        rejects = d["rejects_table"]
                        target.execute(f'CREATE TABLE rej AS SELECT * FROM old.main."{rejects}"' if rejects else
                                       'CREATE TABLE rej ("row" BIGINT, reason VARCHAR)')
                    target.close()
                    files[kind] = name
                number = catalog.next_number(db, "table")
                db.execute(
                    """INSERT INTO datasets (id, name, number, data_file, attributes_number, attributes_file,
                       source_file, file_format, encoding, delimiter, mapping, details, columns, rows, rejected,
                       customers, revenue, date_min, date_max, created_at, version)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [int(d["id"]), d["name"], number, files["tx"], number if "attr" in files else None,
                     files.get("attr"), d["source_file"], d["file_format"], d["encoding"], d["delimiter"],
                     d["mapping"], d["details"], d["columns"], int(d["rows"] or 0), int(d["rejected"] or 0),
                     int(d["customers"] or 0), float(d["revenue"] or 0.0), _text(d["date_min"]), _text(d["date_max"]),
                     _text(d["created_at"]), catalog.next_number(db, "version")])
            for row in (old.execute("SELECT * FROM kam_followups ORDER BY created_at, rowid").fetchall()
                        if "kam_followups" in tables else []):
                db.execute("INSERT INTO followups (dataset_id, customer_id, status, note, owner, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)", [row[0], row[1], row[2], row[3], row[4], _text(row[5])])
            for row in (old.execute("SELECT * FROM kam_settings ORDER BY updated_at, rowid").fetchall()
                        if "kam_settings" in tables else []):
                if ":" not in row[1]:  # facts about old tables are checked again on the new files
                    db.execute("INSERT INTO settings (dataset_id, key, value, updated_at) VALUES (?, ?, ?, ?)",
                               [row[0], row[1], row[2], _text(row[3])])
    finally:
        old.close()
    path.rename(path.with_name(path.name + ".v1"))
    for suffix in ("", "-wal", "-shm"):
        moved = new_path.with_name(new_path.name + suffix)
        if moved.exists():
            moved.rename(path.with_name(path.name + suffix))
