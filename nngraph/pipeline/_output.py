"""Output folders that are never mixed and never half-written.

:func:`check_output` runs before any work (a bad path fails in a second, not after an
hour of shuffles); :func:`write_folder` writes everything into a hidden sibling
folder and renames it into place, replacing an old folder whole only when asked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..utils._io import umask

__all__ = ["check_output", "write_folder"]


def check_output(folder: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Check that ``folder`` can receive a run's results; raise before any work if not.

    Parameters
    ----------
    folder : path-like
        The output folder. It may not exist yet (its parents are created); if it
        exists it must be a folder, empty unless ``force``, and not the current folder.
        A symbolic link stands for the folder it points to.
    force : bool, default=False
        Accept an existing, non-empty folder (it will be replaced whole).

    Returns
    -------
    Path

    Raises
    ------
    FileExistsError
        The folder exists and holds files, and ``force`` is False.
    NotADirectoryError
        The path, or one of its parents, is a file.
    ValueError
        The folder is the current folder or holds it (it is replaced whole when written).
    PermissionError
        The nearest existing parent cannot be written.
    """
    path = Path(folder)
    shown = os.fspath(folder)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"output {shown!r} exists and is not a folder")
    if path.is_symlink():  # the folder it points to is the one written (and replaced)
        path = path.resolve()
    here, real = Path.cwd().resolve(), path.resolve()
    if path.is_dir() and (real == here or real in here.parents):
        raise ValueError(
            f"output {shown!r} is the current folder (or holds it): a run's results go "
            "into a folder of their own, written whole at the end; name a new folder"
        )
    if path.is_dir() and any(path.iterdir()) and not force:
        raise FileExistsError(
            f"output folder {shown!r} already exists and is not empty; choose another "
            f"folder, or replace it whole with --force (force=True)"
        )
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"output {shown!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output {shown!r}: cannot write in {str(parent)!r}")
    return path


def write_folder(
    folder: str | os.PathLike[str], write: Callable[[Path], None], *, force: bool = False
) -> Path:
    """Fill a new folder with ``write(tmp)`` and move it to ``folder`` in one rename.

    Nothing appears at ``folder`` until everything is written; on any error (Ctrl-C
    included) the partial folder is removed and an old ``folder`` is left as it was.
    With ``force`` an old folder is replaced whole: no file of an earlier run remains.

    Parameters
    ----------
    folder : path-like
        Where the results go.
    write : callable
        Called with the temporary folder (a hidden sibling of ``folder``).
    force : bool, default=False
        Replace an existing non-empty folder.

    Returns
    -------
    Path
        ``folder``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> out = write_folder(root / "run", lambda d: (d / "a.txt").write_text("1"))
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    >>> out = write_folder(root / "run", lambda d: (d / "b.txt").write_text("2"), force=True)
    >>> sorted(p.name for p in out.iterdir())
    ['b.txt']
    """
    path = check_output(folder, force=force)
    path.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~umask())
        write(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.rmdir(old)
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return path
