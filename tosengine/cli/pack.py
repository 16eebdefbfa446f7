"""The rule pack shipped inside the package (``tosengine/rules``), found with importlib.resources."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path


@contextlib.contextmanager
def shipped_rules() -> Iterator[Path]:
    """A filesystem path to the shipped rule pack folder, valid inside the ``with`` block.

    Installed from a wheel or in place, the pack is a real folder and this is
    its path; from a zip import it is extracted to a temporary folder first.
    """
    with resources.as_file(resources.files("tosengine") / "rules") as path:
        yield Path(path)
