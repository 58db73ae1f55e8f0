"""The store's scratch folder (``tmp/`` beside the store file): transcoded copies of files
being loaded, links to files with pattern characters in their names, and browser uploads.

Each ingest removes its own files when it ends, well or badly. What a killed process left is
removed by ``sweep`` (run when a store is opened and at every upload): files named with the
id of a process that no longer runs, and upload folders untouched for ``UPLOAD_TTL_S``.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

UPLOAD_TTL_S = 6 * 3600  # an upload not loaded within six hours was abandoned
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


def sweep(folder: Path, now: float | None = None) -> list[Path]:
    """Remove leftovers of dead processes and abandoned uploads; returns what was removed."""
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
        for entry in uploads.iterdir():
            try:
                age = now - entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > UPLOAD_TTL_S:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed
