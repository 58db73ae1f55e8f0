"""Where uploaded files wait between reruns: beside the store, in a folder of the browser
session (``tmp/uploads/<session>/<upload>/``), removed when the session ends or after an hour
(``tmpfiles.sweep``)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import streamlit as st

from kam_analytics import config, tmpfiles
from kam_analytics.errors import KamError
from kam_analytics.ingest import preview_file


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx().session_id


def _session_active(session_id: str) -> bool:
    from streamlit.runtime import Runtime

    return Runtime.instance().is_active_session(session_id)


def sweep_uploads() -> None:
    """Remove the uploads of ended sessions and those older than an hour (without a running
    server, as under a test harness, only the age counts: no session can be judged ended)."""
    from streamlit.runtime import Runtime

    tmpfiles.sweep(tmpfiles.scratch_dir(config.db_path()),
                   session_active=_session_active if Runtime.exists() else None)


MAX_NAME_BYTES = 200  # a file name on disk (most file systems allow 255 bytes; '.part' is added while copying)


def disk_name(name: str) -> str:
    """The upload's file name as it is kept on disk (and quoted by the reports): its own name,
    or — past ``MAX_NAME_BYTES`` in UTF-8, where the file system would refuse it (a
    300-character name gave "Something went wrong") — its start, '…' and its extension."""
    name = Path(str(name)).name or "upload.csv"
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix) <= 16 else ""
    stem = name[: len(name) - len(suffix)]
    while len((stem + "…" + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + "…" + suffix


def save_upload(uploaded) -> Path:
    """Copy an ``st.file_uploader`` file to disk once (keeping its name, which the reports
    quote), into this session's upload folder; again if the sweep removed it meanwhile."""
    sweep_uploads()
    digest = hashlib.sha1(str(uploaded.file_id).encode()).hexdigest()[:16]
    # the session's id (a UUID) names the folder: it is what the sweep asks the runtime about
    folder = tmpfiles.scratch_dir(config.db_path()) / "uploads" / _session_id() / digest
    path = folder / disk_name(uploaded.name)
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
def preview(path: str, size: int, sheet: str | None, overrides: tuple, date_format: str | None,
            header_row: int | None = None):
    """``preview_file`` cached per file, sheet, mapping corrections, date format and header row."""
    try:
        return preview_file(path, sheet=sheet, mapping=dict(overrides), date_format=date_format,
                            header_row=header_row), None
    except KamError as error:
        return None, error
    except Exception as error:  # a bug, not the file: logged with a reference, shown as a sentence
        from ui.errors import reference_for

        return None, KamError("error_unexpected", reference=reference_for(error))
