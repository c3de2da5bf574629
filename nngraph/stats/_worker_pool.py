"""One pool of worker processes per process, kept for the shuffles of every call.

A fresh pool of spawned workers costs each worker the import of numpy, scipy,
scikit-learn and numba and the loading of nngraph's kernels (about 3 s of CPU each):
on two cores, more than parallel shuffles of a small network gain. So the pool is
made once and reused (:func:`worker_pool`), and its workers are forked from a fork
server that did that work once, in the background, as soon as the pool was asked for
(``multiprocessing``'s ``"forkserver"`` start method, preloading
:mod:`nngraph.stats._preload`; ``"spawn"`` where there is no fork server, each worker
then loading the same itself). The main script is imported too, as ``__mp_main__``:
by the fork server when Python hands it the script's path, else by each worker (as on
Python 3.11, seen once per worker), as every ``spawn`` worker does. A script that
starts the pool must keep its work under ``if __name__ == "__main__":``.

Each worker uses ``cpu_count() // n_jobs`` threads (BLAS, OpenMP and nngraph's own),
ignores Ctrl-C (the parent ends the workers, see ``clusterability``), keeps the memory
its shuffles free for the next one (:func:`keep_freed_memory`), and runs the parent's
``nngraph`` whatever the current directory holds (:func:`_server_import_path`); the
pool is shut down when the interpreter exits.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import ctypes
import importlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Iterator

from ..utils._threads import cpu_count, limit_cpus
from ..utils._validation import check_int

__all__ = ["is_worker_pool", "shutdown_worker_pool", "terminate_pool", "worker_pool"]

_PRELOAD = "nngraph.stats._preload"
_LOCK = threading.Lock()
_POOL: cf.ProcessPoolExecutor | None = None


def worker_pool(n_jobs: int) -> cf.ProcessPoolExecutor:
    """Return this process's pool of ``n_jobs`` worker processes, started once and kept.

    The first call starts the fork server that prepares the workers (in the background:
    it returns at once); later calls with the same ``n_jobs`` return the same pool, so
    the workers are ready for the next call of :func:`~nngraph.clusterability`. Asking
    for another size shuts the old pool down. Call it early (before loading a model) to
    hide the workers' start-up behind that work.

    Parameters
    ----------
    n_jobs : int
        Worker processes; ``-1`` for one per available core.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
        Pass it as ``executor=`` (or pass ``n_jobs=`` to ``clusterability``, which
        calls this). Do not shut it down yourself: :func:`shutdown_worker_pool` does, at
        the latest when the interpreter exits.

    Examples
    --------
    >>> from nngraph.stats import worker_pool
    >>> pool = worker_pool(2)   # doctest: +SKIP
    >>> worker_pool(2) is pool  # doctest: +SKIP
    True
    """
    global _POOL
    n = cpu_count() if n_jobs == -1 else check_int("n_jobs", n_jobs, 1)
    with _LOCK:
        if _POOL is not None and _POOL._max_workers == n and _usable(_POOL):
            return _POOL
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
        ctx = _context()
        _POOL = cf.ProcessPoolExecutor(
            n,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(max(1, cpu_count() // n), _package_dir()),
        )
        return _POOL


def start_workers_early(n_jobs: int, n_tasks: int) -> None:
    """Start the kept pool now if ``n_tasks`` shuffles will run on ``n_jobs > 1`` workers.

    What a command calls before it loads a network or builds a graph: the workers get
    ready meanwhile (:func:`worker_pool` returns at once).
    """
    if (n_jobs == -1 or n_jobs > 1) and n_tasks > 0:
        worker_pool(n_jobs)


def shutdown_worker_pool(*, terminate: bool = False) -> None:
    """Shut the kept pool down (a later :func:`worker_pool` starts a new one).

    Parameters
    ----------
    terminate : bool, default=False
        End the workers at once (after Ctrl-C) instead of letting them finish.
    """
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool is None:
        return
    if terminate:
        terminate_pool(pool)
    else:
        pool.shutdown(wait=True, cancel_futures=True)


def terminate_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Shut ``pool`` down now: cancel its queued work and end its workers (after Ctrl-C).

    Parameters
    ----------
    pool : concurrent.futures.ProcessPoolExecutor
        Any process pool.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def is_worker_pool(executor: object) -> bool:
    """Whether ``executor`` is the pool :func:`worker_pool` keeps."""
    return executor is not None and executor is _POOL


def _usable(pool: cf.ProcessPoolExecutor) -> bool:
    return not (getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False))


def _context() -> mp.context.BaseContext:
    """Return the fork server context, started now with the preload (spawn without one)."""
    if "forkserver" not in mp.get_all_start_methods():  # pragma: no cover - Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    # "__main__" first, as multiprocessing does by default: the workers can then unpickle
    # what the main script defines. No effect when the fork server already runs.
    ctx.set_forkserver_preload(["__main__", _PRELOAD])
    from multiprocessing import forkserver

    # The server preloads with Ctrl-C at its default until its loop starts: started
    # with it ignored (inherited through exec, and kept by Python's start-up), a Ctrl-C
    # meanwhile cannot make it print a traceback; its workers inherit that too.
    with _sigint_ignored(), _server_import_path():
        forkserver.ensure_running()  # returns at once; the server preloads meanwhile
    return ctx


#: The environment variables :func:`_server_import_path` sets for the fork server.
_PATH_VARIABLES = ("PYTHONPATH", "PYTHONSAFEPATH")


#: Where :func:`_server_import_path` leaves the fork server its environment to put back.
_SAVED_ENVIRONMENT = "_NNGRAPH_SERVER_ENVIRONMENT"


@contextlib.contextmanager
def _server_import_path() -> Iterator[None]:
    """Have the fork server start with this process's import path (``sys.path``).

    Python starts the server as ``python -c ...``, whose path begins with the current
    directory, and the server of Python 3.11 to 3.13 does not take this process's path
    before it preloads. Started from a directory that holds another ``nngraph`` (a
    checkout of another version), the server and its workers imported that one.
    Meanwhile, ``PYTHONPATH`` is this process's path, in its order, and
    ``PYTHONSAFEPATH`` keeps the current directory off; the server puts both back as
    soon as it preloads (:func:`restore_server_environment`), so that neither reaches
    the processes it forks, the pool's workers included. Python 3.10 has no
    ``PYTHONSAFEPATH``, and ``python -E`` ignores both: there a worker that still gets
    another ``nngraph`` refuses to start (:func:`_init_worker`). Other threads of this
    process see the variables for the moment the server takes to start.
    """
    saved = {name: os.environ.get(name) for name in _PATH_VARIABLES}
    try:
        cwd = os.getcwd()
    except OSError:  # the current directory was removed: no "" entry can find it
        cwd = None
    entries = [cwd if p == "" else str(p) for p in sys.path]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in entries if p and os.pathsep not in p)
    os.environ["PYTHONSAFEPATH"] = "1"
    os.environ[_SAVED_ENVIRONMENT] = json.dumps(saved)
    try:
        yield
    finally:
        _restore_environment({**saved, _SAVED_ENVIRONMENT: None})


def restore_server_environment() -> None:
    """In the fork server: put back the variables :func:`_server_import_path` set.

    Called by :mod:`nngraph.stats._preload` as the server imports it; nothing to do
    elsewhere.
    """
    saved = os.environ.pop(_SAVED_ENVIRONMENT, None)
    if saved is not None:
        _restore_environment(json.loads(saved))


def _restore_environment(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C in this process meanwhile (only from the main thread, which may)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _package_dir() -> str:
    """Return the directory of the ``nngraph`` package this process runs."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap (glibc's largest); larger ones are mapped.
_HEAP_BLOCK_MAX = 32 << 20
#: Free memory at the top of the heap that a worker keeps instead of giving it back.
_KEEP_FREED = 64 << 20


def keep_freed_memory() -> bool:
    """Make this process keep the memory it frees for reuse (glibc's ``malloc``).

    What each pool worker calls at its start. By default glibc hands the free memory at
    the top of the heap back to the system once it exceeds a threshold that it adapts
    as it goes; every shuffle's arrays then had to be faulted in afresh, page by page.
    In a worker forked from the fork server, a shuffle of the trained digits MLP's
    weight graph (spectral clustering, k = 12) took about 2,500 page faults and 43 ms;
    with this setting, none and 39 ms (the kernel of this machine's VM charges several
    microseconds a fault). A worker keeps up to 64 MiB free at the top of its heap, and
    blocks up to 32 MiB come from the heap rather than from mappings of their own
    (both thresholds fixed: glibc no longer adapts them).

    Returns
    -------
    bool
        Whether both settings took: False where the C library has no ``mallopt`` (macOS,
        Windows: nothing changed) or refuses one (musl accepts neither).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not glibc
        return False  # (Windows: CDLL(None) is a TypeError)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_BLOCK_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)
    )


def _init_worker(threads: int, origin: str) -> None:
    """In each worker: check nngraph's origin, ignore Ctrl-C, use ``threads`` cores, etc.

    The worker must run the ``nngraph`` of the parent (``origin``, its package
    directory); it then ignores Ctrl-C, uses ``threads`` cores, keeps the memory it
    frees and has the preload imported (in a worker forked from the fork server, done
    already, the server's environment put back with it).
    """
    here = _package_dir()
    if here != origin:
        raise RuntimeError(
            f"a worker process imported nngraph from {here}, this process from {origin}: "
            "the pool's fork server found the other one first on its path (the current "
            "directory, with Python 3.10 or python -E); start Python from a directory "
            "without another nngraph in it"
        )
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_cpus(threads)
    keep_freed_memory()
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # BLAS and OpenMP, for the worker's lifetime
    importlib.import_module(_PRELOAD)  # done already when forked from the server


atexit.register(shutdown_worker_pool)
