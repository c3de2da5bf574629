"""Clusterability: the n-cut of a network's partition against shuffled copies of it.

The test of ``docs/method.md``, section 3.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graphs._canonical import as_neuron_graph
from ..graphs._neuron_graph import NeuronGraph
from ..partition._metrics import ncut as _ncut
from ..utils._io import json_text, to_jsonable
from ..utils._progress import progress_bar
from ._null_models import NULL_METHODS, NullModel

__all__ = ["ClusterabilityResult", "ShuffleFailedError", "clusterability"]


class ShuffleFailedError(RuntimeError):
    """The partitioner failed on one shuffled graph; ``.shuffle`` says which."""

    def __init__(self, message: str, shuffle: int) -> None:
        super().__init__(message)
        self.shuffle = shuffle


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
        """``(ncut - mean) / std``; ``±inf`` (or 0 when equal) if the null has no spread."""
        diff = self.ncut - self.mean
        if self.std == 0:
            return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
        return diff / self.std

    @property
    def p(self) -> float:
        """One-sided p-value ``(#{null <= ncut} + 1) / (N + 1)``: small = more clusterable."""
        return float((np.count_nonzero(self.null <= self.ncut) + 1) / (self.null.size + 1))

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (``z`` is None when the null has no spread)."""
        return {
            "ncut": self.ncut,
            "null": self.null.tolist(),
            "mean": self.mean,
            "std": self.std,
            "z": self.z if np.isfinite(self.z) else None,  # JSON has no infinity
            "p": self.p,
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
        return (
            f"clusterability ({self.method} null, {self.n_shuffles} shuffles): "
            f"n-cut {self.ncut:.4f} vs null {self.mean:.4f} ± {self.std:.4f}; "
            f"z = {self.z:.2f}, p = {self.p:.3g}"
        )


# ---------------------------------------------------------------------------- workers


def _clone(partitioner: Any, seed: int) -> Any:
    """Clone ``partitioner`` with its parameters; a ``random_state`` of None becomes ``seed``."""
    try:
        from sklearn.base import clone

        est = clone(partitioner)
    except TypeError:  # not a scikit-learn estimator: copy it whole
        est = copy.deepcopy(partitioner)
    params = est.get_params() if hasattr(est, "get_params") else {}
    if "random_state" in params and params["random_state"] is None:
        est.set_params(random_state=seed)
    return est


def _partition_ncut(graph: NeuronGraph, partitioner: Any, seed: int) -> tuple[float, int]:
    """Remove isolated units, partition, and score: (n-cut, units clustered)."""
    keep = np.flatnonzero(graph.degree > 0)
    sub = graph if keep.size == graph.n_nodes else graph.subgraph(keep)
    labels = _clone(partitioner, seed).fit(sub).labels_
    return _ncut(sub, labels), int(keep.size)


def _run_chunk(
    payload: tuple[NeuronGraph, Any, str],
    tasks: Sequence[tuple[int, np.random.SeedSequence]],
    null: NullModel | None = None,
    done: Callable[[int], Any] | None = None,
) -> list[tuple[int, float]]:
    """Run shuffles ``tasks`` (index, seed sequence) of one graph.

    Module-level, so that it pickles to worker processes. The graph arrives once per
    chunk, and its blocks are extracted once (``null``, when the caller already has
    them). ``done(1)`` is called after each shuffle.
    """
    graph, partitioner, method = payload
    null = null if null is not None else NullModel(graph, method)
    out = []
    for index, seq in tasks:
        shuffle_seq, partition_seq = seq.spawn(2)
        shuffled = graph.with_adjacency(null.sample(np.random.default_rng(shuffle_seq)))
        try:
            value, _ = _partition_ncut(shuffled, partitioner, _int_seed(partition_seq))
        except Exception as exc:
            raise ShuffleFailedError(
                f"{partitioner!r} failed on shuffle {index} (of the {method!r} null): "
                f"{type(exc).__name__}: {exc}",
                index,
            ) from exc
        out.append((index, value))
        if done is not None:
            done(1)
    return out


def _int_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint32)[0] >> 1)


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
    if isinstance(executor, cf.ProcessPoolExecutor):
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.join(timeout=5)


def clusterability(
    graph: Any,
    partitioner: Any,
    *,
    n_shuffles: int = 50,
    method: str = "layer",
    random_state: int | None = None,
    executor: cf.Executor | None = None,
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
        through ``distributed.Client(...).get_executor()``. The shuffles are split into
        one chunk per worker, so each worker receives the graph once. On Ctrl-C, work
        not yet started is cancelled and a process pool's workers are ended.
    progress : bool, default=False
        Show a progress bar (per finished chunk with an executor).

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
    (0.515, 1.975, -44)
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
    root = np.random.SeedSequence(random_state)
    true_seq, *shuffle_seqs = root.spawn(n_shuffles + 1)
    true_ncut, n_units = _partition_ncut(graph, partitioner, _int_seed(true_seq))
    tasks = list(enumerate(shuffle_seqs))
    payload = (graph, partitioner, method)

    null = np.empty(n_shuffles)
    if executor is None:
        bar = _bar(progress, n_shuffles)
        for index, value in _run_chunk(payload, tasks, null_model, done=bar.update):
            null[index] = value
        bar.close()
    else:
        n_chunks = min(n_shuffles, _n_workers(executor))
        chunks = [tasks[i::n_chunks] for i in range(n_chunks)]
        futures = [executor.submit(_run_chunk, payload, chunk) for chunk in chunks]
        bar = _bar(progress, n_shuffles)
        try:
            for fut in cf.as_completed(futures):
                results = fut.result()
                for index, value in results:
                    null[index] = value
                bar.update(len(results))
        except KeyboardInterrupt:
            _stop_workers(executor, futures)
            raise
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        finally:
            bar.close()
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
