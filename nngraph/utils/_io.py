"""Files: atomic writes (a file is written whole or left as it was) and JSON values."""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "json_text", "to_jsonable", "umask", "write_json"]


def umask() -> int:
    """Return the process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` again, its message naming the user's ``path`` (not a temporary file)."""
    if exc.errno is None:
        return type(exc)(f"cannot write {str(path)!r}: {exc}")
    return type(exc)(exc.errno, f"cannot write {str(path)!r}: {exc.strerror}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], Any], *, binary: bool) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then move it over ``path``.

    The temporary file gets the permissions a plain ``open`` would give (0666 less the
    umask), is flushed and synced before ``os.replace``; on any error (Ctrl-C included)
    it is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # name the user's path, not the temporary file
        raise _naming(exc, path) from None
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~umask())
        with os.fdopen(
            fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _naming(exc, path) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def json_text(
    document: Any, path: str | os.PathLike | None = None, *, indent: int | None = 2
) -> str:
    """Return ``document`` as strict JSON text; also write it atomically to ``path`` if given.

    NaN and infinities are refused (``ValueError``), not written. The file ends with a
    newline; the returned text does not.

    Examples
    --------
    >>> json_text({"k": 3}, indent=None)
    '{"k": 3}'
    """
    text = json.dumps(document, indent=indent, allow_nan=False)
    if path is not None:
        atomic_write(path, lambda fh: fh.write(text + "\n"), binary=False)
    return text


def write_json(path: str | os.PathLike, document: Any, *, indent: int | None = 2) -> Path:
    """Write strict JSON atomically (NaN and infinities are refused, not written)."""
    json_text(document, path, indent=indent)
    return Path(path)


def to_jsonable(
    value: Any, *, what: str = "value", nonfinite: str = "null", unknown: str = "error"
) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, tuples and mappings included.

    Parameters
    ----------
    value : Any
        Numbers (Python or numpy), strings, bools, None, sequences, arrays, mappings
        (keys become strings).
    what : str, default="value"
        What to call the value in error messages.
    nonfinite : {"null", "error"}, default="null"
        NaN and infinities become ``None``, or raise ``ValueError`` (a file that must
        keep every number, such as a partition's metrics).
    unknown : {"error", "repr"}, default="error"
        Any other object raises ``TypeError``, or is recorded by its ``repr``.

    Returns
    -------
    Any
        Built from dict, list, str, int, float, bool and None only.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"k": np.int64(3), "z": float("nan"), "v": np.array([1.5, 2.0])})
    {'k': 3, 'z': None, 'v': [1.5, 2.0]}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "dtype") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars and 0-d arrays (np.bool_ included)
        if isinstance(value, bool):
            return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isfinite(value):
            return value
        if nonfinite == "null":
            return None
        raise _non_finite(what, value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        if getattr(value.dtype, "kind", "") in _NUMERIC_KINDS and hasattr(value, "ndim"):
            return _numeric_array(value, what, nonfinite)
        value = value.tolist()
    if isinstance(value, Mapping):
        return {
            str(k): to_jsonable(v, what=what, nonfinite=nonfinite, unknown=unknown)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, what=what, nonfinite=nonfinite, unknown=unknown) for v in value]
    if unknown == "repr":
        return repr(value)
    raise TypeError(f"{what} holds a {type(value).__name__}, which is not JSON-serialisable")


#: numpy dtype kinds whose ``tolist()`` is already plain JSON numbers (and bools).
_NUMERIC_KINDS = frozenset("biuf")


def _numeric_array(value: Any, what: str, nonfinite: str) -> list[Any]:
    """Convert a numeric array to nested lists without walking its elements in Python.

    What :func:`to_jsonable` gives element by element (non-finite values as ``None``,
    or an error), at the speed of ``tolist()``: the proxies' random controls hold
    hundreds of thousands of numbers.
    """
    import numpy as np

    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            if nonfinite != "null":
                raise _non_finite(what, float(arr[bad].flat[0]))
            obj = arr.astype(object)
            obj[bad] = None
            return obj.tolist()
    return arr.tolist()


def _non_finite(what: str, value: float) -> ValueError:
    """Return the error for a non-finite number where JSON must keep every number."""
    return ValueError(f"{what} holds a non-finite number ({value}); JSON cannot store it")
