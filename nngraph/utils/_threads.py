"""How many threads BLAS, OpenMP, numba and nngraph's own worker pools may use.

One policy per fit (:func:`thread_policy`), and the process-wide objects it relies on:
the threadpoolctl controller and the pools of worker threads, each created once and
forgotten in a forked child (which inherits the objects but none of their threads).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "ThreadPolicy",
    "blas_single_thread",
    "cpu_count",
    "executor",
    "limit_cpus",
    "parallel_map",
    "thread_policy",
]

#: With ``n_threads=None``, graphs up to this many clusterable units run BLAS and OpenMP
#: on one thread (see :func:`thread_policy`).
SINGLE_THREAD_MAX_UNITS = 20_000

T = TypeVar("T")
R = TypeVar("R")

_CONTROLLER: Any = None
_EXECUTORS: dict[int, ThreadPoolExecutor] = {}
_EXECUTOR_LOCK = threading.Lock()
_CPU_LIMIT: int | None = None  # set in a worker process that shares the machine


def _reset_after_fork() -> None:
    """In a forked child: forget the thread pools and the threadpoolctl controller.

    A child inherits the pool objects but none of their threads (and a lock another
    thread may have held at the fork), so a task submitted to an inherited pool would
    never run; the child builds its own on first use.
    """
    global _CONTROLLER, _EXECUTORS, _EXECUTOR_LOCK
    _CONTROLLER = None
    _EXECUTORS = {}
    _EXECUTOR_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_reset_after_fork)


def _controller() -> Any:
    """Return the process's threadpoolctl controller (created on first use)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def blas_single_thread() -> Any:
    """Limit BLAS to one thread, as a context (inside nngraph's own worker threads)."""
    return _controller().limit(limits=1, user_api="blas")


def executor(workers: int) -> ThreadPoolExecutor:
    """Return a shared pool of ``workers`` threads (created once per process and size)."""
    with _EXECUTOR_LOCK:
        if workers not in _EXECUTORS:
            _EXECUTORS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="nngraph")
        return _EXECUTORS[workers]


def parallel_map(fn: Callable[[T], R], jobs: Sequence[T], workers: int) -> list[R]:
    """``[fn(job) for job in jobs]`` on ``workers`` threads: the caller and a shared pool.

    The caller works too: it and ``workers - 1`` threads of :func:`executor` take the
    jobs in order from a shared counter until none is left. Handing every job to the
    pool and waiting instead was measured slower and erratic after the pool had sat
    idle: 25 restarts of k-means on the digits embedding (8 jobs, 2 workers) took
    6.7-12.5 ms right after a ``gc.collect()``, against 6.6-7.3 ms this way (6.1-6.7
    and 5.9-6.6 ms when called back to back). ``fn`` runs the same jobs whichever
    thread takes them, so the result does not depend on the scheduling. The first
    exception raised by a job is raised here, once every thread has stopped taking
    jobs. A job may itself call ``parallel_map``.

    Parameters
    ----------
    fn : callable
        Called once per job; should release the GIL (numba or BLAS) to gain anything.
    jobs : sequence
        The jobs.
    workers : int
        Threads in all, the caller included.

    Returns
    -------
    list
        ``fn(job)`` for every job, in the order of ``jobs``.

    Examples
    --------
    >>> parallel_map(lambda j: j * j, range(5), workers=2)
    [0, 1, 4, 9, 16]
    """
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    counter = itertools.count()  # next() on it is atomic under the GIL

    def take() -> None:
        while not errors:
            i = next(counter)
            if i >= len(jobs):
                return
            try:
                results[i] = fn(jobs[i])
            except BaseException as exc:  # re-raised in the caller below
                errors.append(exc)

    helpers = [executor(workers - 1).submit(take) for _ in range(min(workers, len(jobs)) - 1)]
    try:
        take()
    except BaseException as exc:  # interrupted between two jobs: the helpers stop too
        errors.append(exc)
        raise
    for future in helpers:
        # A helper that has not started has no job left to take: cancelled, it is not
        # waited for (which also lets a job call parallel_map from a pool thread).
        if not future.cancel():
            future.result()
    if errors:
        raise errors[0]
    return results


def cpu_count() -> int:
    """Cores this process may use: its affinity mask, capped by :func:`limit_cpus`."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return n if _CPU_LIMIT is None else max(1, min(n, _CPU_LIMIT))


def limit_cpus(n: int | None) -> None:
    """Cap :func:`cpu_count` for the rest of this process (None lifts the cap).

    A worker of a process pool shares the machine with the other workers: with
    ``limit_cpus(1)``, the thread policies of its fits (:func:`thread_policy`) use one
    core, so that ``n`` workers keep ``n`` cores busy instead of oversubscribing them.

    Parameters
    ----------
    n : int or None
        The most cores :func:`cpu_count` reports from now on.

    Examples
    --------
    >>> limit_cpus(1); cpu_count()
    1
    >>> limit_cpus(None)
    """
    global _CPU_LIMIT
    _CPU_LIMIT = None if n is None else max(1, int(n))


@dataclass
class ThreadPolicy:
    """The thread policy of one fit (see :func:`thread_policy`)."""

    context: Any  # limits BLAS and OpenMP for the whole fit (or does nothing)
    blas_single: bool  # BLAS runs on one thread inside ``context``
    numba_parallel: bool  # the numba kernels may use their parallel twins
    workers: int  # worker threads of nngraph's own pools

    def workers_blas(self) -> Any:
        """Return a context for worker threads calling BLAS side by side: one thread each.

        It does nothing where the policy already runs BLAS on one thread.
        """
        return contextlib.nullcontext() if self.blas_single else blas_single_thread()


def thread_policy(n_threads: int | None, n_units: int) -> ThreadPolicy:
    """How many threads each part of a fit may use.

    ``n_threads=None``: BLAS and OpenMP (scikit-learn's k-means) on one thread for
    graphs of at most 20,000 clusterable units, the libraries' defaults above; the numba
    kernels always serial; nngraph's own pools (the dense-block operator of spectral
    clustering) use one worker per available core. On problems of this size BLAS and
    OpenMP threads gain little (``eigh`` of a few hundred unknowns, k-means on
    ``n x k`` points) and their spinning workers, on a busy or oversubscribed machine,
    were measured to make ``eigh``, k-means and BLAS products 5-50x slower than one
    thread. nngraph's workers are Python threads that block while they wait, so they
    keep their gain on an idle machine (1.6x on 2 cores) without that failure mode.
    ``n_threads=t``: every part uses ``t`` threads; the numba kernels' ``parallel=True``
    twins only run then (``t > 1``), as with numba's OpenMP threading layer a process
    that ran them can no longer safely fork (a forked child that uses them aborts).

    Parameters
    ----------
    n_threads : int or None
        The user's setting (checked: None or >= 1).
    n_units : int
        Size of the problem (clusterable units).

    Returns
    -------
    ThreadPolicy

    Examples
    --------
    >>> policy = thread_policy(None, 100)
    >>> policy.blas_single, policy.numba_parallel
    (True, False)
    >>> thread_policy(2, 100).numba_parallel
    True
    """
    if n_threads is None:
        workers = cpu_count()
        if n_units > SINGLE_THREAD_MAX_UNITS:
            return ThreadPolicy(contextlib.nullcontext(), False, False, workers)
        n_threads_blas = 1
    else:
        workers = n_threads_blas = n_threads
    context = _controller().limit(limits=n_threads_blas)
    return ThreadPolicy(context, n_threads_blas == 1, n_threads_blas > 1, workers)
