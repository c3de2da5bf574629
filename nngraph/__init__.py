"""nngraph: how modular is a trained neural network?

Turn a PyTorch network into a weighted graph of its units, partition it, and test the
partition. See ``README.md`` and ``docs/`` for a tour.

Examples
--------
>>> import torch, nngraph as ng
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
>>> g = ng.weight_graph(model, torch.zeros(1, 4))
>>> g.layer_names
['input', '0', '2']
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets, models
from ._activation_graph import activation_graph
from ._clusterability import ClusterabilityResult, ShuffleFailedError, clusterability
from ._compare import PartitionerComparison, compare_partitioners
from ._graph import NeuronGraph
from ._label_propagation import LabelPropagation
from ._leiden import Leiden
from ._louvain import Louvain
from ._metrics import cluster_sizes, compare_partitions, conductance, modularity, ncut
from ._partition import GraphMismatchWarning, Partition, Subcluster
from ._resolution import ResolutionResult, ResolutionWarning, resolution_for_k
from ._spectral import (
    DisconnectedGraphWarning,
    EigengapResult,
    SpectralClustering,
    SpectralConvergenceWarning,
    eigengap,
    spectral_embedding,
)
from ._tracing import UnsupportedModelError
from ._validation import NonSymmetricWarning
from ._weight_graph import weight_graph

try:
    __version__ = version("nngraph")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0"

__all__ = [
    "ClusterabilityResult",
    "DisconnectedGraphWarning",
    "EigengapResult",
    "GraphMismatchWarning",
    "LabelPropagation",
    "Leiden",
    "Louvain",
    "NeuronGraph",
    "NonSymmetricWarning",
    "Partition",
    "PartitionerComparison",
    "ResolutionResult",
    "ResolutionWarning",
    "ShuffleFailedError",
    "SpectralClustering",
    "SpectralConvergenceWarning",
    "Subcluster",
    "UnsupportedModelError",
    "activation_graph",
    "cluster_sizes",
    "clusterability",
    "compare_partitioners",
    "compare_partitions",
    "conductance",
    "datasets",
    "eigengap",
    "models",
    "modularity",
    "ncut",
    "resolution_for_k",
    "spectral_embedding",
    "weight_graph",
]
