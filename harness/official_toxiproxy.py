"""Where the official ``toxiproxy-server`` is, when it is installed: the local backend runs
it instead of the project's compatible server, and the images build one from it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SERVER_ENV = "TOXIPROXY_SERVER"


def find_official_server(explicit: str | None = None) -> str | None:
    """``explicit``, else ``TOXIPROXY_SERVER``, else ``toxiproxy-server`` on PATH; None when
    the file is not there."""
    candidate = explicit or os.environ.get(SERVER_ENV) or shutil.which("toxiproxy-server")
    return candidate if candidate and Path(candidate).exists() else None
