"""nngraph measures how modular a trained neural network is.

Turn a PyTorch network into a weighted graph of its units, partition it, and test the
partition. The package is laid out as the pipeline, one subpackage per stage:

* :mod:`nngraph.graphs` -- graphs of units, from weights or from activations;
* :mod:`nngraph.partition` -- partitioners, partition quality and the partition file;
* :mod:`nngraph.stats` -- null models, clusterability, p-values and their combination;
* :mod:`nngraph.proxies` -- what the parts do: importance (and coherence);
* :mod:`nngraph.pipeline` -- the whole study as one function, :func:`nngraph.study`;
* :mod:`nngraph.models`, :mod:`nngraph.datasets` -- bundled networks and data;
* :mod:`nngraph.utils` -- what every stage shares.

Every public name is importable from here. They are loaded on first use, so that
``import nngraph`` (and ``nngraph --help``) does not pay for torch, numba and
scikit-learn until they are needed.

Examples
--------
>>> import torch, nngraph as ng
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
>>> g = ng.weight_graph(model, torch.zeros(1, 4))
>>> g.layer_names
['input', '0', '2']
"""

from __future__ import annotations

import os as _os
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

# OpenMP threads that wait for work by spinning (the default of torch's libgomp) turn
# the many small parallel regions of the proxies into time slices lost to whatever else
# runs on a busy machine: feature visualisation of the digits MLP took 69 s instead of
# 4.6 s on a loaded 2-core machine. Sleeping waiters cost microseconds on an idle one.
# Like scikit-learn's KMP_INIT_AT_FORK, a default only: the user's setting wins, and it
# acts only where torch is imported after nngraph (as in the command line).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .utils._lazy import lazy_exports as _lazy_exports
from .utils._lazy import type_checking_exports as _type_checking_exports

try:
    __version__ = _version("nngraph")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
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
    "ProxyResult",
    "ResolutionResult",
    "ResolutionWarning",
    "ShuffleFailedError",
    "SpectralClustering",
    "SpectralConvergenceWarning",
    "StudyConfig",
    "StudyResult",
    "Subcluster",
    "UnsupportedModelError",
    "activation_graph",
    "cluster_sizes",
    "clusterability",
    "coherence",
    "compare_partitioners",
    "compare_partitions",
    "conductance",
    "datasets",
    "eigengap",
    "importance",
    "judge_partitions",
    "load_config",
    "models",
    "modularity",
    "ncut",
    "resolution_for_k",
    "spectral_embedding",
    "study",
    "weight_graph",
]


# The imports below are what type checkers see, and (read by type_checking_exports)
# where each public name is loaded from on first use. The subpackages imported with a
# redundant alias load on first use too, but stay out of __all__.
__getattr__, __dir__ = _lazy_exports(__name__, _type_checking_exports(__file__), globals())

if TYPE_CHECKING:  # pragma: no cover - read by type checkers, and at run time as above
    from . import datasets, models
    from . import graphs as graphs
    from . import partition as partition
    from . import pipeline as pipeline
    from . import proxies as proxies
    from . import stats as stats
    from . import utils as utils
    from .graphs import (
        NeuronGraph,
        NonSymmetricWarning,
        UnsupportedModelError,
        activation_graph,
        weight_graph,
    )
    from .partition import (
        DisconnectedGraphWarning,
        EigengapResult,
        GraphMismatchWarning,
        LabelPropagation,
        Leiden,
        Louvain,
        Partition,
        PartitionerComparison,
        ResolutionResult,
        ResolutionWarning,
        SpectralClustering,
        SpectralConvergenceWarning,
        Subcluster,
        cluster_sizes,
        compare_partitioners,
        compare_partitions,
        conductance,
        eigengap,
        modularity,
        ncut,
        resolution_for_k,
        spectral_embedding,
    )
    from .pipeline import StudyConfig, StudyResult, load_config, study
    from .proxies import ProxyResult, coherence, importance, judge_partitions
    from .stats import ClusterabilityResult, ShuffleFailedError, clusterability

del annotations, TYPE_CHECKING  # kept out of the namespace users tab through
