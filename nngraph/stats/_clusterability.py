"""Clusterability: the n-cut of a network's partition against shuffled copies of it.

The test of ``docs/method.md``, section 3.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graphs._canonical import as_neuron_graph
from ..graphs._neuron_graph import NeuronGraph
from ..utils._io import json_text, to_jsonable
from ..utils._progress import progress_bar
from ..utils._validation import check_int
from ._null_models import NULL_METHODS, NullModel
from ._shuffles import (
    ShippedGraph,
    ShuffleFailedError,
    int_seed,
    partition_ncut,
    run_chunk,
    run_shuffle,
)
from ._worker_pool import is_worker_pool, shutdown_worker_pool, terminate_pool, worker_pool

__all__ = ["ClusterabilityResult", "ShuffleFailedError", "clusterability"]


@dataclass
class ClusterabilityResult:
    """The true n-cut of a graph against the n-cuts of its shuffled copies.

    Attributes
    ----------
    ncut : float
        n-cut of the partition of the true graph.
    null : ndarray of shape (n_shuffles,)
        n-cuts of the shuffled graphs, in shuffle order (independent of the executor).
    method : str
        Null model (``"layer"``, ``"layer_nonzero"`` or ``"offdiagonal"``).
    random_state : int
        The seed the shuffles' seeds were spawned from (the entropy drawn when the call
        had ``random_state=None``: passing it back reproduces the run).
    partitioner : str
        The partitioner, as ``repr``.
    params : dict
        The partitioner's parameters (``get_params()``), where it has them.
    n_units : int
        Units clustered in the true graph (isolated units removed).
    seconds : float
        Wall time of the whole run.
    """

    ncut: float
    null: np.ndarray
    method: str
    random_state: int | None
    partitioner: str
    params: dict = field(default_factory=dict)
    n_units: int = 0
    seconds: float = 0.0

    @property
    def n_shuffles(self) -> int:
        return int(self.null.size)

    @property
    def mean(self) -> float:
        """Mean n-cut of the shuffles."""
        return float(np.mean(self.null))

    @property
    def std(self) -> float:
        """Standard deviation of the shuffles' n-cuts (``numpy.std``, ddof=0)."""
        return float(np.std(self.null))

    @property
    def z(self) -> float:
        """``(ncut - mean) / std``: negative when the network is more clusterable.

        NaN with fewer than two shuffles (one value has no spread to measure);
        ``±inf`` (or 0 when equal) when two or more shuffles all have the same n-cut.
        """
        if self.null.size < 2:
            return float("nan")
        diff = self.ncut - self.mean
        if self.std == 0:
            return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
        return diff / self.std

    @property
    def p_min(self) -> float:
        """The smallest p-value ``N`` shuffles can give: ``1 / (N + 1)``."""
        return 1.0 / (self.null.size + 1)

    @property
    def p(self) -> float:
        """One-sided p-value ``(#{null <= ncut} + 1) / (N + 1)``: small = more clusterable."""
        return float((np.count_nonzero(self.null <= self.ncut) + 1) / (self.null.size + 1))

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (``z`` is None when undefined or infinite)."""
        return {
            "ncut": self.ncut,
            "null": self.null.tolist(),
            "mean": self.mean,
            "std": self.std,
            "z": self.z if np.isfinite(self.z) else None,  # JSON has no infinity
            "p": self.p,
            "p_min": self.p_min,
            "n_shuffles": self.n_shuffles,
            "method": self.method,
            "random_state": self.random_state,
            "partitioner": self.partitioner,
            "params": to_jsonable(self.params, unknown="repr"),
            "n_units": self.n_units,
            "seconds": self.seconds,
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Return the result as JSON text; also write it to ``path`` when given."""
        return json_text(self.to_dict(), path)

    def plot(self, ax: Any = None, *, bins: int | str = "auto") -> Any:
        """Histogram of the null n-cuts with the true n-cut marked (needs matplotlib).

        Returns the matplotlib ``Axes``.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("plot() needs matplotlib: pip install matplotlib") from exc
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        ax.hist(self.null, bins=bins, color="0.7", edgecolor="0.3", label="shuffled")
        ax.axvline(self.ncut, color="C3", linewidth=2, label=f"true n-cut {self.ncut:.3f}")
        ax.set_xlabel("n-cut")
        ax.set_ylabel("shuffles")
        ax.set_title(f"{self.method} null, N={self.n_shuffles}: z={self.z:.2f}, p={self.p:.3g}")
        ax.legend(frameon=False)
        return ax

    def __str__(self) -> str:
        shuffles = f"{self.n_shuffles} shuffle" + ("" if self.n_shuffles == 1 else "s")
        if np.isnan(self.z):
            null, z = f"{self.mean:.4f}", "z undefined (fewer than 2 shuffles)"
        else:
            null = f"{self.mean:.4f} ± {self.std:.4f}"
            z = f"z = {self.z:.2f} (a negative z means fewer, weaker edges between clusters"
            z += " than chance)"
        floor = (
            f" (the smallest p {shuffles} can give)"
            if self.p <= self.p_min * (1 + 1e-9)
            else f" (smallest possible: {self.p_min:.3g})"
        )
        verdict = (
            "more clusterable than its shuffles"
            if self.ncut < self.mean and self.p <= 0.05
            else "not shown more clusterable than its shuffles at p <= 0.05"
        )
        return (
            f"clusterability ({self.method} null, {shuffles}): "
            f"n-cut {self.ncut:.4f} vs null {null}; {z}, p = {self.p:.3g}{floor}: {verdict}"
        )


# ---------------------------------------------------------------------------- workers


def _n_workers(executor: cf.Executor) -> int:
    """How many tasks the executor runs at once (best effort)."""
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    if client is not None:
        try:
            return max(1, len(client.scheduler_info()["workers"]))
        except Exception:  # pragma: no cover - scheduler unreachable
            pass
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers > 0:
        return workers
    return os.cpu_count() or 1


def _stop_workers(executor: cf.Executor, futures: list[cf.Future]) -> None:
    """After Ctrl-C: cancel what has not started; end a process pool's workers."""
    for f in futures:
        f.cancel()
    if is_worker_pool(executor):
        shutdown_worker_pool(terminate=True)  # the next call starts a fresh pool
    elif isinstance(executor, cf.ProcessPoolExecutor):
        terminate_pool(executor)


def _submit(
    executor: cf.Executor,
    payload: tuple[NeuronGraph, Any, str],
    tasks: list[tuple[int, np.random.SeedSequence]],
    ship: ShippedGraph | None,
) -> list[cf.Future]:
    """Hand the shuffles out: one by one to a process pool, in one chunk per worker else."""
    if ship is not None:
        return [executor.submit(run_shuffle, ship.ref, index, seq) for index, seq in tasks]
    n_chunks = min(len(tasks), _n_workers(executor))
    chunks = [tasks[i::n_chunks] for i in range(n_chunks)]
    return [executor.submit(run_chunk, payload, chunk) for chunk in chunks]


@contextlib.contextmanager
def _stopping(executor: cf.Executor, futures: list[cf.Future]) -> Iterator[None]:
    """On Ctrl-C, end the workers; on any other error, cancel what has not started."""
    try:
        yield
    except KeyboardInterrupt:
        _stop_workers(executor, futures)
        raise
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _collect(futures: list[cf.Future], null: np.ndarray, progress: bool) -> None:
    """Write each finished shuffle's n-cut into ``null``, as the futures finish."""
    bar = _bar(progress, null.size)
    try:
        for fut in cf.as_completed(futures):
            results = fut.result()
            results = [results] if isinstance(results, tuple) else results
            for index, value in results:
                null[index] = value
            bar.update(len(results))
    finally:
        bar.close()


def clusterability(
    graph: Any,
    partitioner: Any,
    *,
    n_shuffles: int = 50,
    method: str = "layer",
    random_state: int | None = None,
    executor: cf.Executor | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> ClusterabilityResult:
    """Test whether a network is more clusterable than shuffled copies of itself.

    The graph is partitioned and its n-cut compared with the n-cuts of ``n_shuffles``
    shuffled copies, each partitioned the same way (the partitioner is cloned for every
    shuffle: same k and parameters). Isolated units are removed before shuffling and
    again from each shuffled graph before it is partitioned, as in Filan et al. [1]_.

    Parameters
    ----------
    graph : NeuronGraph, sparse matrix or array
        The graph (a weight graph for the ``"layer"`` methods).
    partitioner : estimator
        Anything with ``fit(graph)`` setting ``labels_``, e.g.
        ``ng.SpectralClustering(12)`` or ``ng.Louvain()``. It is cloned (scikit-learn's
        ``clone``, or a deep copy); a clone whose ``random_state`` is None gets a seed
        drawn from the shuffle's own seed, so results stay reproducible.
    n_shuffles : int, default=50
        Number of shuffled graphs (the paper: 50; 100 for ImageNet networks).
    method : {"layer", "layer_nonzero", "offdiagonal"}, default="layer"
        The null model: permute every block of weights between two layers, zeros
        included (``"layer"``), only its non-zero entries (``"layer_nonzero"``), or all
        off-diagonal entries (``"offdiagonal"``, for activation graphs).
    random_state : int, optional
        Seed. Shuffle ``i`` draws from child ``i`` of ``numpy.random.SeedSequence(
        random_state)``, so the null is the same whatever the executor, the number of
        workers or the order in which results arrive.
    executor : concurrent.futures.Executor, optional
        Where the shuffles run: None runs them here, one after the other; a
        ``ProcessPoolExecutor`` runs them in parallel on this machine; a Dask cluster
        through ``distributed.Client(...).get_executor()``. Each worker receives the
        graph once: a process pool reads it from a file and takes the shuffles one at a
        time; other executors get one chunk of shuffles per worker. On Ctrl-C, work not
        yet started is cancelled and a process pool's workers are ended.
    n_jobs : int, optional
        Run the shuffles on the kept pool of ``n_jobs`` worker processes
        (:func:`~nngraph.stats.worker_pool`; ``-1``: one per core), started by the first
        call that asks for it and reused by the next ones. None or 1: here, unless
        ``executor`` is given. Not with ``executor``.
    progress : bool, default=False
        Show a progress bar (per finished chunk with a Dask or thread executor).

    Returns
    -------
    ClusterabilityResult
        ``.ncut``, ``.null``, ``.mean``, ``.std``, ``.z``, ``.p``, ``to_dict()``,
        ``to_json()``, ``plot()``.

    Raises
    ------
    ValueError
        ``n_shuffles < 1``, an unknown method, a graph without layer blocks for the
        ``"layer"`` methods.
    ShuffleFailedError
        The partitioner failed on a shuffled graph (the message says which; the original
        error is chained).

    References
    ----------
    .. [1] D. Filan, S. Casper, S. Hod, C. Wild, A. Critch and S. Russell, "Clusterability
       in neural networks", arXiv:2103.03386, 2021.

    Examples
    --------
    >>> import nngraph as ng
    >>> from nngraph.datasets import layered_graph
    >>> graph, _ = layered_graph()           # 4 planted modules across 4 layers
    >>> partitioner = ng.SpectralClustering(4, random_state=0)
    >>> res = ng.clusterability(graph, partitioner, n_shuffles=5, random_state=0)
    >>> round(res.ncut, 3), round(res.mean, 3), round(res.z)    # far below the shuffles
    (0.515, 1.988, -49)
    >>> round(res.p, 4)                      # the smallest p-value 5 shuffles give: 1 / 6
    0.1667
    """
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, (int, np.integer)):
        raise TypeError(f"n_shuffles must be an int, got {type(n_shuffles).__name__}")
    if n_shuffles < 1:
        raise ValueError(f"n_shuffles must be at least 1, got {n_shuffles}")
    if method not in NULL_METHODS:
        raise ValueError(f"method must be one of {NULL_METHODS}, got {method!r}")
    if not hasattr(partitioner, "fit"):
        raise TypeError(f"partitioner must have a fit(graph) method, got {partitioner!r}")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}"
        )
    if n_jobs is not None and n_jobs != -1:
        n_jobs = check_int("n_jobs", n_jobs, 1)
    if n_jobs is not None and n_jobs != 1 and executor is not None:
        raise ValueError("pass executor or n_jobs, not both")
    t0 = time.perf_counter()
    graph = as_neuron_graph(graph)
    keep = np.flatnonzero(graph.degree > 0)
    if keep.size < 2:
        raise ValueError("the graph has fewer than 2 connected units; nothing to cluster")
    if keep.size < graph.n_nodes:
        graph = graph.subgraph(keep)
    null_model = NullModel(graph, method)  # checks the method fits, before any work

    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))
    ):
        raise TypeError(f"random_state must be None or an int, got {type(random_state).__name__}")
    if n_jobs is not None and n_jobs != 1:
        executor = worker_pool(n_jobs)
    root = np.random.SeedSequence(random_state)
    true_seq, *shuffle_seqs = root.spawn(n_shuffles + 1)
    tasks = list(enumerate(shuffle_seqs))
    payload = (graph, partitioner, method)

    null = np.empty(n_shuffles)
    if executor is None:
        true_ncut, n_units = partition_ncut(graph, partitioner, int_seed(true_seq))
        bar = _bar(progress, n_shuffles)
        for index, value in run_chunk(payload, tasks, null_model, done=bar.update):
            null[index] = value
        bar.close()
    else:
        # A process pool gets the graph through a file, once per worker; the shuffles
        # start before the true graph is partitioned here.
        ship = ShippedGraph(payload) if isinstance(executor, cf.ProcessPoolExecutor) else None
        try:
            futures = _submit(executor, payload, tasks, ship)
            with _stopping(executor, futures):
                true_ncut, n_units = partition_ncut(graph, partitioner, int_seed(true_seq))
                _collect(futures, null, progress)
        finally:
            if ship is not None:
                ship.close()
    try:
        params = partitioner.get_params()
    except Exception:
        params = {}
    return ClusterabilityResult(
        ncut=float(true_ncut),
        null=null,
        method=method,
        random_state=int(root.entropy),  # with random_state=None: the entropy drawn
        partitioner=repr(partitioner),
        params=params,
        n_units=n_units,
        seconds=time.perf_counter() - t0,
    )


def _bar(progress: bool, total: int):
    return progress_bar(total, "shuffles", enabled=progress, unit="shuffle")
