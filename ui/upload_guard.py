"""Uploaded bytes are kept only for a session allowed to upload.

Streamlit accepts ``PUT /_stcore/upload_file/<session>/<file>`` from any live session — the
sign-in screen's included — and holds the bytes in memory until the session ends: four 50 MB
PUTs from a browser that never signed in kept 200 MB of the server's memory. ``install``
wraps the one place Streamlit stores an upload (``MemoryUploadedFileManager.add_file``) so a
session whose identity (set by ``ui.auth.gate`` on every run) may not upload is answered
403 and nothing is stored. The request's own body is still read while it arrives (bounded by
``server.maxUploadSize``); the proxy of a team deployment can refuse it earlier (docs/team.md).
"""
from __future__ import annotations

import logging

from ui.session import IDENTITY_KEY

log = logging.getLogger("kam_analytics.app")


def session_may_upload(session_id: str) -> bool:
    """Whether the live session ``session_id`` has an identity whose role may upload files."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return False
    runtime = Runtime.instance()
    if type(runtime) is not Runtime:  # AppTest's stand-in: no server, no HTTP endpoint to guard
        return True
    info = runtime._session_mgr.get_session_info(session_id)
    if info is None:
        return False
    try:
        identity = info.session.session_state[IDENTITY_KEY]
    except (KeyError, AttributeError):
        return False
    return bool(getattr(identity, "can", None)) and identity.can("upload")


def install() -> None:
    """Wrap Streamlit's upload store once per process (idempotent)."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    if getattr(MemoryUploadedFileManager.add_file, "kam_guarded", False):
        return
    store_upload = MemoryUploadedFileManager.add_file

    def add_file(self, session_id, file):
        if not session_may_upload(session_id):
            from starlette.exceptions import HTTPException

            log.warning("an upload from a session that may not upload was refused (%d bytes)", len(file.data))
            raise HTTPException(status_code=403, detail="Uploads need a signed-in editor.")
        return store_upload(self, session_id, file)

    add_file.kam_guarded = True
    MemoryUploadedFileManager.add_file = add_file
