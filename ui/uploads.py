"""Where uploaded files wait between reruns: beside the store, one folder per upload."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import streamlit as st

from kam_analytics import config, tmpfiles
from kam_analytics.errors import KamError
from kam_analytics.ingest import preview_file


def save_upload(uploaded) -> Path:
    """Copy an ``st.file_uploader`` file to disk once (keeping its name, which the reports quote)."""
    scratch = tmpfiles.scratch_dir(config.db_path())
    tmpfiles.sweep(scratch)
    digest = hashlib.sha1(str(uploaded.file_id).encode()).hexdigest()[:16]
    folder = scratch / "uploads" / digest
    path = folder / (Path(uploaded.name).name or "upload.csv")
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        uploaded.seek(0)
        partial = path.with_name(path.name + ".part")
        with open(partial, "wb") as out:
            shutil.copyfileobj(uploaded, out, 1 << 22)
        partial.rename(path)
    return path


def forget_upload(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


@st.cache_data(show_spinner=False, max_entries=32)
def preview(path: str, size: int, sheet: str | None, overrides: tuple, date_format: str | None):
    """``preview_file`` cached per file, sheet, mapping corrections and date format."""
    try:
        return preview_file(path, sheet=sheet, mapping=dict(overrides), date_format=date_format), None
    except KamError as error:
        return None, error
    except Exception as error:  # a bug, not the file: logged with a reference, shown as a sentence
        from ui.errors import reference_for

        return None, KamError("error_unexpected", reference=reference_for(error))
