"""Which datasets the app prepares ahead (``ui.prepare.to_prepare``), worked by hand."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from ui.prepare import to_prepare


def _d(id_, updated, engine="duckdb"):
    return SimpleNamespace(id=id_, updated_at=None if updated is None else dt.datetime(2026, 12, updated), engine=engine)


def test_the_one_loaded_last_then_the_sidebars_first():
    # the catalog's order is by id (the sidebar's first is id 1); id 3 was replaced last
    ids = [d.id for d in to_prepare([_d(1, 1), _d(2, 3), _d(3, 4), _d(4, 2)])]
    assert ids == [3, 1]


def test_one_dataset_once_and_none_for_none():
    assert [d.id for d in to_prepare([_d(7, 2)])] == [7]
    assert to_prepare([]) == []


def test_spark_datasets_are_left_alone():
    # id 2 (on Spark) is the newest and id 1 (on Spark) the sidebar's first: only local ones count
    ids = [d.id for d in to_prepare([_d(1, 1, "spark"), _d(2, 5, "spark"), _d(3, 2), _d(4, 3)])]
    assert ids == [4, 3]
    assert to_prepare([_d(1, 1, "spark")]) == []


def test_a_dataset_without_a_time_is_older_than_any_with_one():
    ids = [d.id for d in to_prepare([_d(1, None), _d(2, 1), _d(3, None)])]
    assert ids == [2, 1]
