"""The on-disk kernel cache: generated modules written to files and imported.

numba's ``cache=True`` only works for functions defined in a real source file,
so each generated module is written once to
``<cache dir>/<key>/tos_kernels_<key>.py`` and imported from there; numba then
keeps the machine code next to it (``__pycache__``). The key hashes the rule
set's IR, the code generator version and the numba version, so a second
process with the same rules reuses the machine code instead of compiling.

The cache folder is ``$TOSENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tosengine``,
else ``~/.cache/tosengine``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numba

from tosengine.cachedir import cache_dir
from tosengine.compiler.codegen import CODEGEN_VERSION

__all__ = ["cache_dir", "cache_key", "interpreted_module", "load_module"]


def cache_key(source: str) -> str:
    """Hash of the generated source (which embeds the IR fingerprint) and versions."""
    h = hashlib.sha256()
    for part in (source, CODEGEN_VERSION, numba.__version__, sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def interpreted_module(source: str) -> ModuleType:
    """The generated module run as plain Python (no numba), for debugging and tests.

    Exactly the generated source, with ``njit`` replaced by a decorator that
    returns the function unchanged (as ``NUMBA_DISABLE_JIT=1`` would, for one
    module only). Slow per event, but it starts instantly.
    """
    line = "from numba import njit"
    assert line in source
    code = source.replace(line, "from tosengine.compiler.prims import no_jit as njit", 1)
    module = ModuleType("tos_kernels_interpreted")
    exec(compile(code, "<tosengine kernels (interpreted)>", "exec"), module.__dict__)  # noqa: S102
    return module


def load_module(source: str) -> tuple[ModuleType, Path]:
    """Write ``source`` to the cache (once) and import it as a module."""
    key = cache_key(source)
    folder = cache_dir() / key
    path = folder / f"tos_kernels_{key}.py"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # atomic: concurrent processes never import a half-written file
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    name = f"tos_kernels_{key}"
    if name in sys.modules:
        return sys.modules[name], path
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, path
