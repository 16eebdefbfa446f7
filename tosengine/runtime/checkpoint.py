"""Checkpoints: an evaluator's whole state as bytes, and back.

A checkpoint holds everything an :class:`~tosengine.runtime.evaluator.Evaluator`
keeps between batches (string dictionaries, lookup tables, key slots, window
accumulators, distinct sets, cooldowns, the watermark, counters) plus an opaque,
JSON-able ``position`` the caller supplies (how far its input had been read).
Restoring it into a fresh evaluator of the same rule set continues the stream
exactly as if it had never stopped.

The state is walked *generically*: every attribute of the evaluator and of the
runtime objects it holds is saved, whatever the compiler's array layout is
today. Rule-derived attributes (plan, program, kernels, functions, numba typed
lists, attributes a class names in ``checkpoint_skip``) are rebuilt by the
constructor or by the object's ``after_restore()`` hook and skipped; an attribute of any other
unknown type is an error, never silently dropped. Arrays the kernels overwrite
in every batch (see :data:`tosengine.runtime.state.SCRATCH_LISTS`) are saved
as their shape only.

Format (all integers little-endian)::

    magic    8 bytes  b"TOSCKPT\\x00"
    version  u32      FORMAT_VERSION
    meta     u32      length of the metadata
    payload  u64      length of the array payload
    digest   32 bytes blake2b-256 of metadata + payload
    metadata          orjson: rules fingerprint, engine hash, position, state tree
    payload           zstd of the raw C-order bytes of each numeric array, one after another
                      (slot tables are mostly empty capacity: they compress to little)

Nothing in a checkpoint is ever executed: arrays are numeric only (no object
dtype, no pickle) and the tree names classes from a fixed allow-list.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import types
from collections import Counter
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

if TYPE_CHECKING:
    from tosengine.runtime.evaluator import Evaluator

MAGIC = b"TOSCKPT\x00"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIIQ32s")
_NUMERIC_KINDS = frozenset("biuf")
_CODEC = pa.Codec("zstd", compression_level=1)
#: test hook: seconds to sleep halfway through writing a checkpoint file
SLOW_WRITE_ENV = "TOSENGINE_TEST_CHECKPOINT_SLEEP"


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored here: corrupt, other rules, other engine layout."""


@dataclass(frozen=True)
class Checkpoint:
    """A parsed, checksum-verified checkpoint (state not yet restored)."""

    format_version: int
    rules_fingerprint: str
    engine: str
    allowed_lateness_ms: int
    position: Any
    data: bytes

    def restore(self, ruleset: Any) -> Evaluator:
        """Same as ``ruleset.restore(self)``."""
        return ruleset.restore(self)


# -- engine identity ------------------------------------------------------------


@lru_cache(maxsize=None)
def _module_digest() -> str:
    """Hash of the sources that define the state layout (a new layout refuses old state).

    ``prims`` is among them because it defines the string hash that the
    dictionaries' saved hash arrays were made with.
    """
    from tosengine.compiler import layout, plan, prims, windows
    from tosengine.runtime import evaluator, state, strings

    h = hashlib.blake2b(digest_size=16)
    for mod in (layout, plan, prims, windows, state, strings, evaluator):
        h.update(Path(mod.__file__).read_bytes())  # type: ignore[arg-type]
    return h.hexdigest()


def engine_hash(ev: Evaluator) -> str:
    """Identity of the compiled state layout: generated kernels plus layout-defining modules."""
    h = hashlib.blake2b(digest_size=16)
    h.update(ev.kernels.source.encode())
    h.update(_module_digest().encode())
    return h.hexdigest()


# -- walking the state ------------------------------------------------------------


def _derived_types() -> tuple[type, ...]:
    from numba.typed import List as TypedList

    from tosengine import ir
    from tosengine.compiler import Kernels
    from tosengine.compiler.plan import Plan, RulePlan

    return (Plan, RulePlan, ir.Program, Kernels, types.ModuleType, types.FunctionType,
            types.BuiltinFunctionType, types.MethodType, TypedList)


def _is_derived(v: object, derived: tuple[type, ...]) -> bool:
    """Built from the rules by the constructor (plan, kernels, functions): not saved."""
    if isinstance(v, derived) or (callable(v) and not _is_walkable(v)):
        return True
    return isinstance(v, (list, tuple)) and bool(v) and all(_is_derived(x, derived) for x in v)


def _is_walkable(obj: object) -> bool:
    """A runtime object whose attributes are state (saved and restored in place)."""
    return (hasattr(obj, "__dict__") and not isinstance(obj, type) and not is_dataclass(obj)
            and type(obj).__module__.startswith("tosengine.runtime."))


def _record_types() -> dict[str, type]:
    """Frozen dataclasses a checkpoint may rebuild (by field values only)."""
    from tosengine.runtime.evaluator import DeadLetter

    return {"DeadLetter": DeadLetter}


class _Writer:
    def __init__(self) -> None:
        self.derived = _derived_types()
        self.arrays: list[dict[str, object]] = []
        self.chunks: list[bytes] = []
        self.offset = 0
        self.seen: dict[int, int] = {}
        self.scratch: set[int] = set()

    def array(self, a: np.ndarray) -> dict[str, int]:
        if id(a) in self.seen:
            return {"@a": self.seen[id(a)]}
        if a.dtype.kind not in _NUMERIC_KINDS:
            raise CheckpointError(f"cannot checkpoint an array of dtype {a.dtype}")
        desc: dict[str, object] = {"dtype": a.dtype.str, "shape": list(a.shape)}
        if id(a) in self.scratch:
            desc["zeros"] = True
        else:
            data = np.ascontiguousarray(a).tobytes()
            desc["offset"], desc["nbytes"] = self.offset, len(data)
            self.chunks.append(data)
            self.offset += len(data)
        self.seen[id(a)] = len(self.arrays)
        self.arrays.append(desc)
        return {"@a": self.seen[id(a)]}

    def value(self, v: object, path: str) -> object:
        if v is None or isinstance(v, (bool, str, float)):
            return v
        if isinstance(v, int) and not isinstance(v, np.integer):
            return v if -(2**63) <= v < 2**63 else {"@int": str(v)}
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, np.generic):
            if v.dtype.kind not in _NUMERIC_KINDS:
                raise CheckpointError(f"{path}: cannot checkpoint a {v.dtype} scalar")
            return {"@np": v.dtype.str, "v": v.item()}
        if isinstance(v, Counter):
            return {"@counter": [[self.value(k, path), self.value(x, path)] for k, x in v.items()]}
        if isinstance(v, dict):
            return {"@dict": [[self.value(k, path), self.value(x, f"{path}[{k!r}]")]
                              for k, x in v.items()]}
        if isinstance(v, tuple):
            return {"@tuple": [self.value(x, f"{path}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{path}[{i}]") for i, x in enumerate(v)]
        if is_dataclass(v) and type(v).__name__ in _record_types():
            return {"@record": type(v).__name__,
                    "fields": {f.name: self.value(getattr(v, f.name), path) for f in fields(v)}}
        if _is_walkable(v):
            return self.obj(v, path)
        raise CheckpointError(f"{path}: cannot checkpoint a value of type {type(v).__qualname__}")

    def obj(self, o: object, path: str) -> dict[str, object]:
        state: dict[str, object] = {}
        skip = getattr(o, "checkpoint_skip", ())
        for name, v in vars(o).items():
            if name in skip or _is_derived(v, self.derived):
                continue
            state[name] = self.value(v, f"{path}.{name}")
        return {"@obj": type(o).__qualname__, "state": state}



def checkpoint_bytes(ev: Evaluator, position: object = None) -> bytes:
    """Serialise ``ev``'s state and ``position`` (see the module docstring for the format)."""
    ev.feed_waiting_rows()  # then the waiting rows' buffers hold nothing to save
    w = _Writer()
    w.scratch = {id(a) for a in ev.state.scratch_arrays() + ev.deferred.scratch_arrays()}
    tree = w.obj(ev, "evaluator")
    try:
        meta = orjson.dumps({
            "rules": ev.program.fingerprint(),
            "engine": engine_hash(ev),
            "allowed_lateness_ms": ev.allowed_lateness_ms,
            "position": position,
            "arrays": w.arrays,
            "tree": tree,
        })
    except TypeError as e:
        raise CheckpointError(f"position must be JSON-serialisable: {e}") from e
    raw = b"".join(w.chunks)
    meta = meta[:-1] + b',"payload_raw_bytes":' + str(len(raw)).encode() + b"}"
    payload = _CODEC.compress(raw, asbytes=True) if raw else b""
    digest = hashlib.blake2b(meta + payload, digest_size=32).digest()
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(meta), len(payload), digest) + meta + payload


# -- reading ----------------------------------------------------------------------


def read_checkpoint(data: bytes) -> Checkpoint:
    """Parse and verify ``data``; raises :class:`CheckpointError` if it is not a valid checkpoint."""
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise CheckpointError("not a tosengine checkpoint: too short")
    magic, version, meta_len, payload_len, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CheckpointError("not a tosengine checkpoint: bad magic bytes")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format version {version} is not supported "
                              f"(this engine reads version {FORMAT_VERSION})")
    if len(data) != _HEADER.size + meta_len + payload_len:
        raise CheckpointError("corrupt checkpoint: truncated or has trailing bytes")
    body = memoryview(data)[_HEADER.size:]
    if hashlib.blake2b(body, digest_size=32).digest() != digest:
        raise CheckpointError("corrupt checkpoint: checksum mismatch")
    try:
        meta = orjson.loads(body[:meta_len])
    except orjson.JSONDecodeError as e:  # pragma: no cover - the checksum guards this
        raise CheckpointError(f"corrupt checkpoint metadata: {e}") from e
    try:
        return Checkpoint(version, str(meta["rules"]), str(meta["engine"]),
                          int(meta["allowed_lateness_ms"]), meta["position"], data)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"corrupt checkpoint metadata: {e}") from e


def saved_lateness(ck: Checkpoint) -> int:
    """The allowed lateness (ms) of the evaluator that wrote ``ck``."""
    return ck.allowed_lateness_ms


class _Reader:
    def __init__(self, meta: dict[str, Any], payload: memoryview) -> None:
        self.descs = meta["arrays"]
        self.payload = payload
        self.cache: dict[int, np.ndarray] = {}
        self.records = _record_types()
        self.derived = _derived_types()
        self.after: list[object] = []

    def array(self, i: int, live: object, path: str) -> np.ndarray:
        if i in self.cache:
            return self.cache[i]
        d = self.descs[i]
        dtype = np.dtype(d["dtype"])
        if dtype.kind not in _NUMERIC_KINDS:
            raise CheckpointError(f"{path}: array of dtype {dtype} refused")
        shape = tuple(int(x) for x in d["shape"])
        if isinstance(live, np.ndarray) and (live.dtype != dtype or live.ndim != len(shape)):
            raise CheckpointError(f"{path}: saved {dtype}{list(shape)} does not fit this "
                                  f"engine's {live.dtype} array of {live.ndim} dimensions")
        if d.get("zeros"):
            a = np.zeros(shape, dtype=dtype)
        else:
            off, n = int(d["offset"]), int(d["nbytes"])
            if n != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
                raise CheckpointError(f"{path}: array size does not match its shape")
            a = np.frombuffer(self.payload[off:off + n], dtype=dtype).reshape(shape).copy()
        self.cache[i] = a
        return a

    def value(self, t: object, live: object, path: str) -> object:
        if not isinstance(t, dict):
            if isinstance(t, list):
                if isinstance(live, list) and len(live) == len(t) and all(
                        _is_walkable(x) for x in live):
                    for i, (x, y) in enumerate(zip(t, live)):
                        self.apply(x, y, f"{path}[{i}]")
                    return live
                return [self.value(x, None, f"{path}[{i}]") for i, x in enumerate(t)]
            return t
        if "@a" in t:
            return self.array(int(t["@a"]), live, path)
        if "@np" in t:
            dtype = np.dtype(t["@np"])
            if dtype.kind not in _NUMERIC_KINDS:
                raise CheckpointError(f"{path}: scalar of dtype {dtype} refused")
            return dtype.type(t["v"])
        if "@int" in t:
            return int(t["@int"])
        if "@tuple" in t:
            return tuple(self.value(x, None, path) for x in t["@tuple"])
        if "@counter" in t:
            return Counter({self.value(k, None, path): self.value(x, None, path)
                            for k, x in t["@counter"]})
        if "@dict" in t:
            out = {}
            for k, x in t["@dict"]:
                key = self.value(k, None, path)
                cur = live.get(key) if isinstance(live, dict) else None
                out[key] = self.value(x, cur, f"{path}[{key!r}]")
            return out
        if "@record" in t:
            cls = self.records.get(t["@record"])
            if cls is None:
                raise CheckpointError(f"{path}: unknown record type {t['@record']!r}")
            return cls(**{k: self.value(x, None, path) for k, x in t["fields"].items()})
        if "@obj" in t:
            if live is None or not _is_walkable(live):
                raise CheckpointError(f"{path}: saved {t['@obj']} has no counterpart here")
            self.apply(t, live, path)
            return live
        raise CheckpointError(f"{path}: unknown value in checkpoint")

    def apply(self, t: dict[str, Any], live: object, path: str) -> None:
        """Restore the saved attributes ``t`` onto the freshly built object ``live``, in place."""
        if not isinstance(t, dict) or t.get("@obj") != type(live).__qualname__:
            raise CheckpointError(f"{path}: saved state is not a {type(live).__qualname__}")
        saved = t["state"]
        skip = getattr(live, "checkpoint_skip", ())
        here = {k for k, v in vars(live).items()
                if k not in skip and not _is_derived(v, self.derived)}
        if set(saved) != here:
            raise CheckpointError(f"{path}: state fields differ (checkpoint only: "
                                  f"{sorted(set(saved) - here)}, engine only: "
                                  f"{sorted(here - set(saved))})")
        for name, x in saved.items():
            setattr(live, name, self.value(x, getattr(live, name), f"{path}.{name}"))
        self.after.append(live)


def restore_into(ev: Evaluator, data: bytes | Checkpoint) -> Evaluator:
    """Overwrite a freshly built evaluator's state with a checkpoint's; return it."""
    ck = data if isinstance(data, Checkpoint) else read_checkpoint(data)
    if ck.rules_fingerprint != ev.program.fingerprint():
        raise CheckpointError("checkpoint was written for different rules (fingerprint "
                              f"{ck.rules_fingerprint[:12]}, these rules "
                              f"{ev.program.fingerprint()[:12]})")
    if ck.engine != engine_hash(ev):
        raise CheckpointError("checkpoint was written by an engine build with a different "
                              "state layout; restart from the beginning of the input")
    _, _, meta_len, _, _ = _HEADER.unpack_from(ck.data)
    body = memoryview(ck.data)[_HEADER.size:]
    meta = orjson.loads(body[:meta_len])
    try:
        raw_len = int(meta["payload_raw_bytes"])
        payload = (_CODEC.decompress(body[meta_len:], decompressed_size=raw_len, asbytes=True)
                   if raw_len else b"")
    except (KeyError, TypeError, ValueError, OSError, pa.ArrowException) as e:
        raise CheckpointError(f"corrupt checkpoint payload: {e}") from e
    r = _Reader(meta, memoryview(payload))
    try:
        r.apply(meta["tree"], ev, "evaluator")
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint state does not fit this evaluator: {e}") from e
    for obj in reversed(r.after):  # innermost first
        hook = getattr(obj, "after_restore", None)
        if hook is not None:
            hook()
    ev.position = ck.position
    return ev


# -- files --------------------------------------------------------------------------


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old file or the new one.

    Temporary file in the same folder, fsync, rename over ``path``, fsync the folder.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            pause = os.environ.get(SLOW_WRITE_ENV)
            if pause:
                f.flush()
                import time

                time.sleep(float(pause))
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save_checkpoint(evaluator: Evaluator, path: str | os.PathLike[str], *,
                    position: object = None) -> None:
    """Write ``evaluator``'s checkpoint with ``position`` to ``path`` atomically."""
    write_atomic(path, checkpoint_bytes(evaluator, position))


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint file; restore it with ``ruleset.restore(ck)``."""
    return read_checkpoint(Path(path).read_bytes())
