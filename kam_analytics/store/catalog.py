"""The catalog: a SQLite database in WAL mode (the file ``KAM_DB`` names) holding the datasets
registry, follow-ups, settings, the archived reviews' records (``store.reviews``) and the audit
trail.

Every change is one short transaction written together with its audit entry, so the app, any
number of CLI processes and the app's own sessions can write at once; a writer that finds the
file busy waits (``BUSY_TIMEOUT_S``) instead of failing. Each table's schema lives here, once
(``SCHEMA``); a table added later is added here, with its upgrade in ``_upgrade``.

Follow-ups and audit entries are append-only: nothing here updates or deletes them, except
that deleting a dataset deletes its follow-ups.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from kam_analytics.errors import StoreError
from kam_analytics.store.records import FOLLOWUP_STATUSES, FORMAT_VERSION, Dataset, dataset_from_row

BUSY_TIMEOUT_S = 60.0  # how long a catalog write waits for another writer's transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    number INTEGER NOT NULL,
    data_file TEXT NOT NULL,
    attributes_number INTEGER,
    attributes_file TEXT,
    source_file TEXT, file_format TEXT, encoding TEXT, delimiter TEXT,
    mapping TEXT, details TEXT, columns TEXT,
    rows INTEGER, rejected INTEGER, customers INTEGER, revenue REAL,
    date_min TEXT, date_max TEXT, created_at TEXT,
    version INTEGER NOT NULL,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS followups (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL, customer_id TEXT NOT NULL, status TEXT NOT NULL,
    note TEXT, owner TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, dataset TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL, dataset_name TEXT NOT NULL, version INTEGER NOT NULL,
    as_of TEXT NOT NULL, level TEXT NOT NULL, note TEXT, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
    accounts INTEGER NOT NULL, key_accounts INTEGER NOT NULL,
    settings TEXT NOT NULL, summary TEXT NOT NULL, rows_file TEXT NOT NULL, checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id INTEGER NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL,
    threshold REAL, scope TEXT NOT NULL, level TEXT NOT NULL, lang TEXT NOT NULL,
    created_by TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_sent (
    dataset_id INTEGER NOT NULL, rule TEXT NOT NULL, account TEXT NOT NULL, recipient TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, rule, account, recipient)
);
CREATE TABLE IF NOT EXISTS alert_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id INTEGER NOT NULL, run TEXT NOT NULL, at TEXT NOT NULL,
    recipient TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL, alerts INTEGER NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS reviews_by_dataset ON reviews (dataset_id, as_of);
CREATE INDEX IF NOT EXISTS followups_by_dataset ON followups (dataset_id, customer_id);
CREATE INDEX IF NOT EXISTS settings_by_key ON settings (dataset_id, key);
"""
# the columns of ``datasets`` added after the first catalogs, with what adds them
_UPGRADES = {
    "receivables_file": ("ALTER TABLE datasets ADD COLUMN receivables_number INTEGER",
                         "ALTER TABLE datasets ADD COLUMN receivables_file TEXT",
                         "ALTER TABLE datasets ADD COLUMN receivables_details TEXT"),
    "costs_file": ("ALTER TABLE datasets ADD COLUMN costs_number INTEGER",
                   "ALTER TABLE datasets ADD COLUMN costs_file TEXT",
                   "ALTER TABLE datasets ADD COLUMN costs_details TEXT"),
    "engine": ("ALTER TABLE datasets ADD COLUMN engine TEXT NOT NULL DEFAULT 'duckdb'",
               "ALTER TABLE datasets ADD COLUMN source TEXT"),
}


def actor_name(actor: str | None) -> str:
    """Who made a change: the identity the service passes, else the local user (a direct
    library call is made by whoever runs the process)."""
    if actor:
        return str(actor)
    from kam_analytics.access import local_identity

    return local_identity().user


def _now() -> str:
    return datetime.now().isoformat()


class Catalog:
    """The catalog file at ``path``. Each method opens a short connection of its own (thread-
    and process-safe); ``connect(write=True)`` is one IMMEDIATE transaction."""

    def __init__(self, path: Path):
        self.path = path

    @contextmanager
    def connect(self, write: bool = False):
        """A short catalog connection; with ``write`` one IMMEDIATE transaction, committed on
        leaving (rolled back on an error). Writers queue behind each other for up to
        ``BUSY_TIMEOUT_S`` rather than fail."""
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            db.row_factory = sqlite3.Row
            if write:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            else:
                yield db
        finally:
            db.close()

    def initialise(self) -> None:
        """Create the tables a catalog lacks and refuse a catalog of a newer format."""
        # WAL lets readers and one writer work at once. Switching to it needs the file to
        # itself and does not wait for a busy one: two processes creating a store at the same
        # moment retry here (a store already in WAL mode is only read).
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self.connect() as db:
                    if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                        db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with self.connect(write=True) as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            known = {r[1] for r in db.execute("PRAGMA table_info(datasets)")}
            for column, statements in _UPGRADES.items():
                if column not in known:
                    for statement in statements:
                        db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('format_version', ?)", [str(FORMAT_VERSION)])
            elif int(row[0]) > FORMAT_VERSION:
                raise StoreError("store_newer", path=str(self.path), found=int(row[0]), supported=FORMAT_VERSION)

    @staticmethod
    def next_number(db, counter: str) -> int:
        """The next value of ``counter`` (table numbers, versions) inside the caller's
        transaction: never handed out twice, even across deletes."""
        db.execute("INSERT INTO counters VALUES (?, 0) ON CONFLICT (name) DO NOTHING", [counter])
        db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", [counter])
        return int(db.execute("SELECT value FROM counters WHERE name = ?", [counter]).fetchone()[0])

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self) -> list[Dataset]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        return [dataset_from_row(dict(row)) for row in rows]

    def find(self, name: str) -> Dataset | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM datasets WHERE name = ?", [name]).fetchone()
        return dataset_from_row(dict(row)) if row else None

    def dataset(self, name: str) -> Dataset:
        """Dataset ``name``; refused with the names the catalog holds when there is none."""
        found = self.find(name)
        if found is None:
            with self.connect() as db:
                raise self.unknown(db, name)
        return found

    def dataset_by_id(self, dataset_id: int) -> Dataset | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM datasets WHERE id = ?", [dataset_id]).fetchone()
        return dataset_from_row(dict(row)) if row else None

    def unknown(self, db, name: str) -> StoreError:
        """The refusal for a dataset name the catalog does not hold, listing those it does."""
        names = ", ".join(r[0] for r in db.execute("SELECT name FROM datasets ORDER BY id")) or "—"
        return StoreError("dataset_unknown", name=name, names=names)

    def named_files(self) -> set[str]:
        """Every file a dataset of the catalog names (lines, attributes, receivables, costs)."""
        with self.connect() as db:
            rows = db.execute("SELECT data_file, attributes_file, receivables_file, costs_file, details "
                              "FROM datasets").fetchall()
        return {name for row in rows for name in (*row[:4], *_segment_files(row[4])) if name}

    def publish(self, name: str, values: dict, replace: bool, expected_version: int | None,
                actor: str | None, action: str, **detail) -> tuple[int, str | None]:
        """Point dataset ``name`` at a new version (``values``: its catalog columns) in one
        transaction with its audit entry (``action`` for a new name, 'replace' for an existing
        one). Without ``replace`` an existing name is refused; a load that another one overtook
        (the version is not ``expected_version``) is refused. A replace keeps the id (follow-ups
        and settings stay) but forgets what was remembered about the old table
        (``table_setting``). Returns the id and the file the old version used."""
        with self.connect(write=True) as db:
            existing = db.execute("SELECT id, version, data_file, details FROM datasets WHERE name = ?",
                                  [name]).fetchone()
            if existing is not None and not replace:
                raise StoreError("dataset_exists", name=name)
            if (existing["version"] if existing is not None else None) != expected_version:
                raise StoreError("dataset_changed_meanwhile", name=name)
            now = _now()
            values = dict(values, name=name, number=self.next_number(db, "table"),
                          version=self.next_number(db, "version"), created_at=now, updated_at=now)
            if existing is not None:
                db.execute(f"UPDATE datasets SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                           [*values.values(), existing["id"]])
                db.execute("DELETE FROM settings WHERE dataset_id = ? AND key LIKE ?", [existing["id"], "%:tx_%"])
                dataset_id = existing["id"]
            else:
                dataset_id = db.execute(f"INSERT INTO datasets ({', '.join(values)}) VALUES "
                                        f"({', '.join('?' for _ in values)})", list(values.values())).lastrowid
            self._audit(db, actor, "replace" if existing is not None else action, name, **detail)
        old = () if existing is None else (existing["data_file"], *_segment_files(existing["details"]))
        return dataset_id, tuple(f for f in old if f)

    def append(self, dataset_id: int, values: dict, expected_version: int, actor: str | None, **detail) -> None:
        """Point a dataset at a new version made by appending to it (``values``: the catalog
        columns that change: details with its pieces, counts, dates, columns), in one
        transaction with its audit entry ('append'). Refused when another change published
        since the append began (the version is not ``expected_version``): nothing changes.
        Keeps the id, the creation time and everything attached (follow-ups, settings,
        attributes, receivables); what was remembered about the old table is forgotten."""
        with self.connect(write=True) as db:
            row = db.execute("SELECT name, version FROM datasets WHERE id = ?", [dataset_id]).fetchone()
            if row is None:
                raise StoreError("dataset_gone")
            if row["version"] != expected_version:
                raise StoreError("dataset_changed_meanwhile", name=row["name"])
            values = dict(values, number=self.next_number(db, "table"), version=self.next_number(db, "version"),
                          updated_at=_now())
            db.execute(f"UPDATE datasets SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*values.values(), dataset_id])
            db.execute("DELETE FROM settings WHERE dataset_id = ? AND key LIKE ?", [dataset_id, "%:tx_%"])
            self._audit(db, actor, "append", row["name"], **detail)

    def attach_file(self, dataset: Dataset, kind: str, file_name: str, actor: str | None,
                    extra: dict | None = None, **detail) -> str | None:
        """Point ``dataset`` at a new ``kind`` file ('attributes', 'receivables', 'costs') with a new
        number and version, in one transaction with its audit entry. ``extra``: more catalog
        columns of that file (the receivables' details). Returns the file it replaced."""
        if kind not in ("attributes", "receivables", "costs"):
            raise ValueError(kind)
        with self.connect(write=True) as db:
            row = db.execute(f"SELECT {kind}_file FROM datasets WHERE id = ?", [dataset.id]).fetchone()
            if row is None:
                raise StoreError("dataset_gone")
            values = {f"{kind}_number": self.next_number(db, "table"), f"{kind}_file": file_name, **(extra or {}),
                      "version": self.next_number(db, "version"), "updated_at": _now()}
            db.execute(f"UPDATE datasets SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       [*values.values(), dataset.id])
            self._audit(db, actor, kind, dataset.name, **detail)
        return row[0] or None

    def drop(self, name: str, actor: str | None = None) -> tuple[str, ...]:
        """Delete a dataset with its follow-ups, settings and reviews in one transaction; returns the
        files it named (deleted after, by the caller)."""
        with self.connect(write=True) as db:
            row = db.execute("SELECT id, data_file, attributes_file, receivables_file, costs_file, details FROM datasets "
                             "WHERE name = ?", [name]).fetchone()
            if row is None:
                raise self.unknown(db, name)
            for table in ("datasets", "followups", "settings", "reviews", "subscriptions", "alert_sent"):
                db.execute(f"DELETE FROM {table} WHERE {'id' if table == 'datasets' else 'dataset_id'} = ?", [row["id"]])
            self._audit(db, actor, "delete", name)
        return tuple(f for f in (row["data_file"], *_segment_files(row["details"]), row["attributes_file"],
                                 row["receivables_file"], row["costs_file"]) if f)

    def rename(self, name: str, new_name: str, actor: str | None = None) -> int:
        """Give dataset ``name`` the name ``new_name`` (a new version); returns its id."""
        new_name = (new_name or "").strip()
        if not new_name:
            raise StoreError("dataset_name_empty")
        with self.connect(write=True) as db:
            row = db.execute("SELECT id FROM datasets WHERE name = ?", [name]).fetchone()
            if row is None:
                raise self.unknown(db, name)
            if new_name != name and db.execute("SELECT 1 FROM datasets WHERE name = ?", [new_name]).fetchone():
                raise StoreError("dataset_exists", name=new_name)
            db.execute("UPDATE datasets SET name = ?, version = ?, updated_at = ? WHERE id = ?",
                       [new_name, self.next_number(db, "version"), _now(), row["id"]])
            self._audit(db, actor, "rename", new_name, old_name=name)
        return row["id"]

    # -- follow-ups (append-only) -----------------------------------------------------------
    def add_followup(self, dataset: Dataset, customer_id: str, status: str, note: str = "",
                     owner: str | None = None) -> None:
        """Append a follow-up; ``owner`` is who recorded it (the signed-in user; by default
        the local user, ``actor_name``)."""
        if status not in FOLLOWUP_STATUSES:
            raise StoreError("followup_status_unknown", status=status, statuses=", ".join(FOLLOWUP_STATUSES))
        owner = actor_name(owner)
        with self.connect(write=True) as db:
            db.execute("INSERT INTO followups (dataset_id, customer_id, status, note, owner, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", [dataset.id, str(customer_id), status, note or "", owner, _now()])
            self._audit(db, owner, "followup", dataset.name, customer_id=str(customer_id), status=status)

    def followups(self, dataset: Dataset, customer_id: str | None = None):
        """Follow-up history, newest first (all accounts, or one); ties in time by the order
        they were saved."""
        import pandas as pd

        sql = "SELECT customer_id, status, note, owner, created_at FROM followups WHERE dataset_id = ?"
        params: list = [dataset.id]
        if customer_id is not None:
            sql += " AND customer_id = ?"
            params.append(str(customer_id))
        with self.connect() as db:
            rows = db.execute(sql + " ORDER BY seq DESC", params).fetchall()
        frame = pd.DataFrame([dict(r) for r in rows], columns=["customer_id", "status", "note", "owner", "created_at"])
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def followups_stamp(self, dataset: Dataset) -> tuple[int, int]:
        """(how many follow-ups the dataset has, the newest one's sequence number; 0 and 0
        with none): it changes with every follow-up saved, by any session or command, so a
        result that shows follow-ups can be cached under it."""
        with self.connect() as db:
            count, newest = db.execute("SELECT count(*), coalesce(max(seq), 0) FROM followups WHERE dataset_id = ?",
                                       [dataset.id]).fetchone()
        return int(count), int(newest)

    def latest_statuses(self, dataset: Dataset) -> dict[str, str]:
        """The newest follow-up status of every account that has one."""
        with self.connect() as db:
            rows = db.execute(
                """SELECT customer_id, status FROM followups f WHERE dataset_id = ? AND seq =
                   (SELECT max(seq) FROM followups g WHERE g.dataset_id = f.dataset_id
                    AND g.customer_id = f.customer_id)""", [dataset.id]).fetchall()
        return {r[0]: r[1] for r in rows}

    # -- per-dataset settings (e.g. scorecard weights) --------------------------------------
    def get_setting(self, dataset: Dataset, key: str, default=None):
        with self.connect() as db:
            row = db.execute("SELECT value FROM settings WHERE dataset_id = ? AND key = ? ORDER BY seq DESC LIMIT 1",
                             [dataset.id, key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, dataset: Dataset, key: str, value, actor: str | None = None, audited: bool = True) -> None:
        """Save a setting of the dataset (written to the audit trail unless ``audited`` is
        False: a fact about the data, not a user's choice)."""
        with self.connect(write=True) as db:
            db.execute("INSERT INTO settings (dataset_id, key, value, updated_at) VALUES (?, ?, ?, ?)",
                       [dataset.id, key, json.dumps(value, ensure_ascii=False), _now()])
            if audited:
                self._audit(db, actor, "settings", dataset.name, key=key)

    # -- the audit trail (append-only) ------------------------------------------------------
    @staticmethod
    def _audit(db, actor: str | None, action: str, dataset: str | None, **detail) -> None:
        """Append one entry inside the caller's transaction: the change and its record are
        written together or not at all."""
        db.execute("INSERT INTO audit (at, actor, action, dataset, detail) VALUES (?, ?, ?, ?, ?)",
                   [datetime.now().isoformat(timespec="seconds"), actor_name(actor), action, dataset,
                    json.dumps(detail, ensure_ascii=False, default=str) if detail else ""])

    def record(self, actor: str | None, action: str, dataset: str | None = None, **detail) -> None:
        """Append an entry that goes with no change of the store (a sign-in)."""
        with self.connect(write=True) as db:
            self._audit(db, actor, action, dataset, **detail)

    def record_once(self, actor: str | None, action: str, dataset: str | None = None, **detail) -> bool:
        """Append an entry unless the trail already holds one with the same actor, action,
        dataset and detail (checked and written in one transaction); whether it was appended."""
        text = json.dumps(detail, ensure_ascii=False, default=str) if detail else ""
        with self.connect(write=True) as db:
            if db.execute("SELECT 1 FROM audit WHERE actor = ? AND action = ? AND dataset IS ? AND detail = ?",
                          [actor_name(actor), action, dataset, text]).fetchone():
                return False
            self._audit(db, actor, action, dataset, **detail)
        return True

    def audit_trail(self, limit: int | None = None):
        """The audit trail, newest first: at, actor, action, dataset, detail (a dict)."""
        import pandas as pd

        sql = "SELECT at, actor, action, dataset, detail FROM audit ORDER BY seq DESC"
        with self.connect() as db:
            rows = db.execute(sql + (f" LIMIT {int(limit)}" if limit is not None else "")).fetchall()
        frame = pd.DataFrame([dict(r) for r in rows], columns=["at", "actor", "action", "dataset", "detail"])
        frame["dataset"] = frame["dataset"].fillna("")  # (a sign-in concerns no dataset)
        frame["detail"] = [json.loads(d) if d else {} for d in frame["detail"]]
        return frame


def _segment_files(details: str | None) -> list[str]:
    """The appended pieces' files a catalog row's details name (``Dataset.segments``)."""
    return [s["file"] for s in (json.loads(details or "{}").get("segments") or [])]
