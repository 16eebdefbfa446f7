"""Where tosengine keeps what it computes once per machine (kernels, parser tables)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$TOSENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tosengine``, else ``~/.cache/tosengine``."""
    env = os.environ.get("TOSENGINE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "tosengine"
