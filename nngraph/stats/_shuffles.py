"""The work of one shuffle of clusterability, where it runs: here or in a worker process.

A shuffle draws a shuffled copy of the graph from its own seed, partitions it and
scores the partition by its n-cut. The functions here are what the executors run, so
they sit in a module that imports no torch (a worker process loads only this, the null
models and the partitioners). A process pool's workers receive the graph once: the
parent writes it to a file (:class:`ShippedGraph`), each worker reads it on its first
shuffle of the call and keeps it, with its null model, for the following ones.
"""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..graphs._neuron_graph import NeuronGraph
from ..partition._metrics import ncut as _ncut
from ._null_models import NullModel

__all__ = ["ShippedGraph", "ShuffleFailedError", "partition_ncut", "run_chunk", "run_shuffle"]

#: ``(graph, partitioner, method)``: what every shuffle of one call needs.
Payload = tuple[NeuronGraph, Any, str]


class ShuffleFailedError(RuntimeError):
    """The partitioner failed on one shuffled graph; ``.shuffle`` says which."""

    def __init__(self, message: str, shuffle: int) -> None:
        super().__init__(message)
        self.shuffle = shuffle

    def __reduce__(self) -> tuple[type, tuple[str, int]]:
        # Rebuilt from both arguments when it crosses from a worker process.
        return type(self), (str(self), self.shuffle)


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


def int_seed(seq: np.random.SeedSequence) -> int:
    """Return a non-negative 31-bit integer seed drawn from ``seq``."""
    return int(seq.generate_state(1, dtype=np.uint32)[0] >> 1)


def partition_ncut(graph: NeuronGraph, partitioner: Any, seed: int) -> tuple[float, int]:
    """Remove isolated units, partition, and score: (n-cut, units clustered)."""
    keep = np.flatnonzero(graph.degree > 0)
    sub = graph if keep.size == graph.n_nodes else graph.subgraph(keep)
    labels = _clone(partitioner, seed).fit(sub).labels_
    return _ncut(sub, labels), int(keep.size)


def run_chunk(
    payload: Payload,
    tasks: Sequence[tuple[int, np.random.SeedSequence]],
    null: NullModel | None = None,
    done: Callable[[int], Any] | None = None,
) -> list[tuple[int, float]]:
    """Run shuffles ``tasks`` (index, seed sequence) of one graph.

    Module-level, so that it pickles to worker processes. The graph arrives once per
    chunk, and its blocks are extracted once (``null``, when the caller already has
    them). ``done(1)`` is called after each shuffle.

    Parameters
    ----------
    payload : tuple
        ``(graph, partitioner, method)``.
    tasks : sequence of (int, numpy.random.SeedSequence)
        The shuffles: each one's index and seed sequence.
    null : NullModel, optional
        The null model of ``graph`` and ``method``, when the caller has it.
    done : callable, optional
        Called with 1 after each shuffle (a progress bar's ``update``).

    Returns
    -------
    list of (int, float)
        Each shuffle's index and n-cut.

    Raises
    ------
    ShuffleFailedError
        The partitioner failed on a shuffled graph.
    """
    graph, partitioner, method = payload
    null = null if null is not None else NullModel(graph, method)
    out = []
    for index, seq in tasks:
        shuffle_seq, partition_seq = seq.spawn(2)
        shuffled = graph.with_adjacency(null.sample(np.random.default_rng(shuffle_seq)))
        try:
            value, _ = partition_ncut(shuffled, partitioner, int_seed(partition_seq))
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


# ------------------------------------------------------------ the graph, once per worker
class ShippedGraph:
    """The payload of one call, written once to a file that the workers read.

    Tasks then carry only ``ref`` (a token and the path), so the graph crosses to each
    worker once however many shuffles it runs, and the shuffles can be handed out one
    at a time (a worker that is slowed down, on a shared machine, takes fewer).

    Parameters
    ----------
    payload : tuple
        ``(graph, partitioner, method)``.

    Examples
    --------
    >>> from nngraph.datasets import layered_graph
    >>> from nngraph.partition import SpectralClustering
    >>> graph, _ = layered_graph()
    >>> with ShippedGraph((graph, SpectralClustering(4, random_state=0), "layer")) as ship:
    ...     seq = np.random.SeedSequence(0).spawn(1)[0]
    ...     index, value = run_shuffle(ship.ref, 0, seq)
    >>> index, bool(value > 0), os.path.exists(ship.ref[1])
    (0, True, False)
    """

    def __init__(self, payload: Payload) -> None:
        fd, path = tempfile.mkstemp(prefix="nngraph-shuffles-", suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            os.unlink(path)
            raise
        self.ref = (uuid.uuid4().hex, path)

    def close(self) -> None:
        """Remove the file (the workers that need it have read it)."""
        try:
            os.unlink(self.ref[1])
        except FileNotFoundError:
            pass

    def __enter__(self) -> ShippedGraph:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# The graph of the current call in this process: (token, payload, null model). One
# entry, so an idle worker holds no more than the last call's graph.
_CURRENT: tuple[str, Payload, NullModel] | None = None


def run_shuffle(ref: tuple[str, str], index: int, seq: np.random.SeedSequence) -> tuple[int, float]:
    """Run one shuffle of the shipped graph ``ref`` (read on this process's first use).

    Parameters
    ----------
    ref : (str, str)
        :attr:`ShippedGraph.ref`: the call's token and the file's path.
    index : int
        The shuffle's index.
    seq : numpy.random.SeedSequence
        Its seed sequence.

    Returns
    -------
    (int, float)
        The index and the shuffled graph's n-cut.
    """
    global _CURRENT
    token, path = ref
    if _CURRENT is None or _CURRENT[0] != token:
        _CURRENT = None  # free the last call's graph before reading the next one
        with open(path, "rb") as f:
            payload = pickle.load(f)
        _CURRENT = (token, payload, NullModel(payload[0], payload[2]))
    _, payload, null = _CURRENT
    return run_chunk(payload, [(index, seq)], null)[0]
