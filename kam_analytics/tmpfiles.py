"""The store's scratch folder (``tmp/`` beside the store file): transcoded copies of files
being loaded, links to files with pattern characters in their names, and browser uploads.

Each ingest removes its own files when it ends, well or badly. What a killed process left is
removed by ``sweep`` (run when a store is opened and at every upload): files named with the
id of a process that no longer runs, and browser uploads — kept per session
(``uploads/<session>/<upload>/``) — of sessions that ended or untouched for ``UPLOAD_TTL_S``.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable

UPLOAD_TTL_S = 3600  # an upload not loaded within an hour was abandoned (the browser still holds it)
_OWNED = re.compile(r"^(transcode|link)_(\d+)_")


def scratch_dir(store_path: Path) -> Path:
    return Path(store_path).parent / "tmp"


def owned_prefix(kind: str) -> str:
    """The start of a scratch file's name: its kind and this process's id."""
    return f"{kind}_{os.getpid()}_"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(folder: Path, now: float | None = None, session_active: Callable[[str], bool] | None = None) -> list[Path]:
    """Remove leftovers of dead processes and abandoned uploads; returns what was removed.
    ``session_active`` tells whether a browser session still runs (given by the app, which
    knows its sessions; without it only the age counts)."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        owner = _OWNED.match(entry.name)
        if owner and not pid_alive(int(owner.group(2))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    uploads = folder / "uploads"
    if uploads.is_dir():
        now = time.time() if now is None else now
        for session in uploads.iterdir():
            if session_active is not None and not session_active(session.name):
                shutil.rmtree(session, ignore_errors=True)
                removed.append(session)
                continue
            for entry in (session.iterdir() if session.is_dir() else [session]):
                try:
                    age = now - entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > UPLOAD_TTL_S:
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                    removed.append(entry)
    return removed
