"""Atomic file writes: a file is either written whole or left as it was."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "write_json"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], Any], *, binary: bool) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then move it over ``path``.

    The temporary file gets the permissions a plain ``open`` would give (0666 less the
    umask), is flushed and synced before ``os.replace``; on any error (Ctrl-C included)
    it is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(
            fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, document: Any, *, indent: int | None = 2) -> Path:
    """Write strict JSON atomically (NaN and infinities are refused, not written)."""
    text = json.dumps(document, indent=indent, allow_nan=False) + "\n"
    return atomic_write(path, lambda fh: fh.write(text), binary=False)
