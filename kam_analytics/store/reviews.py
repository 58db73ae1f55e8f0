"""Archived reviews (定期评判 · 档案): a review's record in the catalog (``reviews``: when, by whom,
of which dataset version, the settings it was made with, its summary figures) and its rows —
one per account — in a Parquet file of its own in the folder beside the catalog
(``<catalog>-reviews``).

A review is kept forever and never rewritten: the rows file is written once under a new name
(``review-<token>-p<pid>.parquet``), its SHA-256 recorded with it, and only then does one
catalog transaction, with its audit entry, make it a review. Nothing updates a review; deleting
one (an administrator's action) removes its record, then its file. A file whose writer died
before the catalog named it is removed when a store is next opened.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from kam_analytics.errors import StoreError
from kam_analytics.store.catalog import Catalog, _now, actor_name
from kam_analytics.tmpfiles import pid_alive

_FILE = re.compile(r"^review-(?P<token>[0-9a-f]{16})-p(?P<pid>\d+)\.parquet(?:\.part)?$")


def reviews_folder(catalog_path: Path) -> Path:
    """The folder of review files beside the catalog ``catalog_path``."""
    return catalog_path.with_name(f"{catalog_path.stem}-reviews")


@dataclass(frozen=True)
class Review:
    """One archived review's record: ``by`` is the level accounts were counted at
    ('customer' or 'group'); ``settings`` the weights, criteria, tier cuts and basis, key-account
    rule, window, horizon and dataset version used; ``summary`` the review's totals and its
    concentration over the twelve months (``kam_analytics.reviews``)."""

    review_id: int
    dataset_id: int
    dataset_name: str
    version: int
    as_of: str
    by: str
    note: str
    created_at: str
    created_by: str
    accounts: int
    key_accounts: int
    settings: dict
    summary: dict
    rows_file: str
    checksum: str

    def to_json(self) -> dict:
        """The ``review list --json`` entry."""
        return {"review_id": self.review_id, "as_of": self.as_of, "created_at": self.created_at,
                "created_by": self.created_by, "by": self.by, "note": self.note, "key_accounts": self.key_accounts,
                "accounts": self.accounts, "dataset": self.dataset_name, "version": self.version}


def _review(row) -> Review:
    return Review(int(row["id"]), int(row["dataset_id"]), row["dataset_name"], int(row["version"]), row["as_of"],
                  row["level"], row["note"] or "", row["created_at"], row["created_by"], int(row["accounts"]),
                  int(row["key_accounts"]), json.loads(row["settings"]), json.loads(row["summary"]), row["rows_file"],
                  row["checksum"])


class Reviews:
    """The archived reviews of a store: records in ``catalog``, rows in ``folder``."""

    def __init__(self, catalog: Catalog, folder: Path):
        self.catalog = catalog
        self.folder = folder

    def create(self, dataset, as_of: str, by: str, note: str, settings: dict, summary: dict, rows,
               actor: str | None) -> Review:
        """Archive ``rows`` (a DataFrame, one row per account, key_account a bool column) as a
        review of ``dataset`` as of ``as_of``: the file first, then one catalog transaction
        with the audit entry 'review_create'. A dataset replaced or deleted meanwhile (its
        version is no longer ``dataset.version``) is refused and nothing is kept."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"review-{uuid.uuid4().hex[:16]}-p{os.getpid()}.parquet"
        part = self.folder / (name + ".part")
        try:
            rows.to_parquet(part, index=False)
            checksum = hashlib.sha256(part.read_bytes()).hexdigest()
            os.replace(part, self.folder / name)
            actor = actor_name(actor)
            with self.catalog.connect(write=True) as db:
                row = db.execute("SELECT version FROM datasets WHERE id = ?", [dataset.id]).fetchone()
                if row is None or int(row[0]) != int(dataset.version):
                    raise StoreError("dataset_changed_meanwhile", name=dataset.name)
                cursor = db.execute(
                    "INSERT INTO reviews (dataset_id, dataset_name, version, as_of, level, note, created_at, created_by, "
                    "accounts, key_accounts, settings, summary, rows_file, checksum) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [dataset.id, dataset.name, dataset.version, as_of, by, note or "", _now(), actor, len(rows),
                     int(rows["key_account"].astype(bool).sum()) if len(rows) else 0,
                     json.dumps(settings, ensure_ascii=False, default=str),
                     json.dumps(summary, ensure_ascii=False, default=str), name, checksum])
                review_id = int(cursor.lastrowid)
                self.catalog._audit(db, actor, "review_create", dataset.name, review_id=review_id, as_of=as_of, by=by)
        except BaseException:
            part.unlink(missing_ok=True)
            (self.folder / name).unlink(missing_ok=True)
            raise
        return self.get(review_id)

    def list(self, dataset_id: int) -> list[Review]:
        """The dataset's reviews, newest review date first (ties: the later created first)."""
        with self.catalog.connect() as db:
            rows = db.execute("SELECT * FROM reviews WHERE dataset_id = ? ORDER BY as_of DESC, id DESC",
                              [dataset_id]).fetchall()
        return [_review(r) for r in rows]

    def get(self, review_id: int) -> Review:
        """Review ``review_id``; refused with a sentence when there is none."""
        with self.catalog.connect() as db:
            row = db.execute("SELECT * FROM reviews WHERE id = ?", [int(review_id)]).fetchone()
        if row is None:
            raise StoreError("review_unknown", review_id=review_id)
        return _review(row)

    def rows(self, review: Review):
        """The review's archived rows, as written (checked against the recorded SHA-256: a file
        changed on disk is refused, not read)."""
        import pandas as pd

        path = self.folder / review.rows_file
        if not path.exists():
            raise StoreError("review_file_missing", review_id=review.review_id, path=str(path))
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != review.checksum:
            raise StoreError("review_file_changed", review_id=review.review_id, path=str(path))
        import io

        return pd.read_parquet(io.BytesIO(data))

    def delete(self, review_id: int, actor: str | None) -> Review:
        """Delete a review's record (audited 'review_delete'), then its file."""
        review = self.get(review_id)
        with self.catalog.connect(write=True) as db:
            db.execute("DELETE FROM reviews WHERE id = ?", [review.review_id])
            self.catalog._audit(db, actor, "review_delete", review.dataset_name, review_id=review.review_id,
                                as_of=review.as_of)
        (self.folder / review.rows_file).unlink(missing_ok=True)
        return review

    def files_of(self, dataset_id: int) -> list[str]:
        """The rows files of a dataset's reviews (deleted with the dataset, ``discard``)."""
        with self.catalog.connect() as db:
            return [r[0] for r in db.execute("SELECT rows_file FROM reviews WHERE dataset_id = ?", [dataset_id])]

    def discard(self, files: list[str]) -> None:
        """Delete review files no review names any more."""
        named = self.named_files()
        for file in files:
            if file not in named:
                (self.folder / file).unlink(missing_ok=True)

    def named_files(self) -> set[str]:
        with self.catalog.connect() as db:
            return {r[0] for r in db.execute("SELECT rows_file FROM reviews")}

    def remove_orphans(self, named: set[str] | None = None) -> None:
        """Delete review files no review names whose writer is gone."""
        if not self.folder.exists():
            return
        named = self.named_files() if named is None else named
        for file in self.folder.iterdir():
            match = _FILE.match(file.name)
            if match is None or file.name in named:
                continue
            if not pid_alive(int(match["pid"])):
                file.unlink(missing_ok=True)
