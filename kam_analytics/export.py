"""Writing results for spreadsheets: CSV (UTF-8 with BOM so Excel shows Chinese) and Excel."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells and header names starting with = + - @ tab or CR get a leading ' so no
    spreadsheet runs them as formulas (CSV injection). Numbers are left alone."""
    out = frame.copy()
    # header names are user text too (a column named '=HYPERLINK(…)' in an uploaded file)
    out.columns = [_guard(c) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            out[column] = series.map(_guard)
    return out


def _guard(value):
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    guard_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return guard_formulas(frame).to_csv(index=False).encode("utf-8-sig")


# xlsxwriter's conversions of text, every one turned off: '{=…}' and '=…' would become
# formulas, 'http://…', 'mailto:…', 'file:///…' and 'external:…' hyperlinks (their shown text
# cut), '12.5' a number. A workbook we write holds the text it was given, as text.
_AS_TEXT = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def excel_bytes(frame: pd.DataFrame, sheet: str = "data", percent: tuple[str, ...] = ()) -> bytes:
    """``frame`` as an .xlsx workbook of one sheet. Text cells are written as text and read
    back exactly as given: no formula and no hyperlink is ever made from data, so no leading
    ' is needed (the CSV needs it: a spreadsheet decides there what a cell is). The columns
    named in ``percent`` hold fractions and are formatted as percentages (0.286 shows 28.6%)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="xlsxwriter", engine_kwargs={"options": _AS_TEXT}) as writer:
        frame.to_excel(writer, index=False, sheet_name=sheet[:31])
        if percent:
            as_percent = writer.book.add_format({"num_format": "0.0%"})
            for column in percent:
                index = list(frame.columns).index(column)
                writer.sheets[sheet[:31]].set_column(index, index, 12, as_percent)
    return buffer.getvalue()
