"""Every option of a study in one frozen dataclass, readable from and writable to TOML.

:class:`StudyConfig` is what :func:`nngraph.study` takes as keywords and what
``nngraph run --config study.toml`` reads. Unknown keys are refused with the closest
valid name suggested, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ..utils._validation import (
    check_alpha,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
)

__all__ = [
    "COHERENCE_METHODS",
    "GRAPH_KINDS",
    "StudyConfig",
    "load_config",
    "load_config_text",
    "suggest",
]

GRAPH_KINDS = ("weight", "activation")
COHERENCE_METHODS = ("dataset", "visualization")
_NULLS = ("auto", "layer", "layer_nonzero", "offdiagonal")


def suggest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``.

    Examples
    --------
    >>> suggest("n_shufles", ["n_shuffles", "seed"])
    " (did you mean 'n_shuffles'?)"
    >>> suggest("zzz", ["n_shuffles", "seed"])
    ''
    """
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _strings(name: str, value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    try:
        items = tuple(items)
    except TypeError:
        raise ValueError(f"{name} must be a string or a list of strings, got {value!r}") from None
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{name} must hold strings, got {item!r} in {value!r}")
    return tuple(dict.fromkeys(items))


def is_source_spec(model: str) -> bool:
    """Tell a ``"package.module:function"`` spec from a bundled network's name."""
    return ":" in model


def _enough(alpha: float) -> int:
    """Return the fewest random draws ``n`` whose smallest p-value ``1/(n+1)`` is ``<= alpha``.

    Examples
    --------
    >>> _enough(0.05), _enough(0.01), _enough(0.3)
    (19, 99, 3)
    """
    return max(1, math.ceil(1 / alpha - 1 - 1e-9))


@dataclass(frozen=True)
class StudyConfig:
    """Every option of a study (what :func:`nngraph.study` takes as keywords).

    Attributes
    ----------
    model : str
        A bundled network (``"mlp"``, ``"small_cnn"``, ``"two_digit_mlp"``; trained once
        and cached) or ``"package.module:function"``, a function of yours returning the
        network and its data (:func:`load_source`).
    dropout, weight_decay : float
        Training options of a bundled network.
    prune, l1, l2, cluster_lambda : float
        More training options of a bundled network (the papers'): magnitude pruning to
        this sparsity after training, L1 and L2 penalties, and the weight of the
        clusterability regulariser (:func:`nngraph.models.pretrained`).
    cluster_k : int
        Clusters the regulariser promotes.
    epochs : int, optional
        Training epochs of a bundled network (default: the network's own).
    seed : int
        One seed for everything: training, every partitioner, the shuffles, the random
        controls.
    graphs : tuple of {"weight", "activation"}
        The graphs of the network to study.
    normalize : bool
        Remove the ReLU rescaling symmetry from weight graphs.
    k : int
        Clusters of spectral clustering, the study's partition (the papers: 12).
    partitioners : tuple of str
        Partitioners compared on each graph (specs of
        :func:`nngraph.partition.make_partitioner`, e.g. ``"louvain:resolution=2"``).
    n_shuffles : int
        Shuffled networks in the clusterability test (0 skips it).
    null : {"auto", "layer", "layer_nonzero", "offdiagonal"}
        The shuffle of the clusterability test; ``"auto"``: within layer blocks for
        weight graphs, all pairs for activation graphs.
    importance : bool
        Lesion every sub-cluster (:func:`nngraph.importance`).
    coherence : tuple of {"dataset", "visualization"}
        Coherence statistics to compute (:func:`nngraph.coherence`); empty skips it.
    n_random : int
        Random same-size sets per sub-cluster (controls); the smallest p-value is
        ``1 / (n_random + 1)``.
    n_null_partitions : int
        Random partitions measured for the dependent combination of p-values.
    min_size : int, optional
        Smallest sub-cluster tested (default: each proxy's own, as in the papers:
        2 for importance, 5 for data-set coherence, 3 for feature visualisation).
    alpha : float
        False discovery rate of Benjamini-Hochberg.
    steps : int
        Optimisation steps of feature visualisation.
    jobs : int
        Worker processes for the shuffles.
    """

    model: str = "mlp"
    dropout: float = 0.0
    weight_decay: float = 0.0
    prune: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    cluster_lambda: float = 0.0
    cluster_k: int = 4
    epochs: int | None = None
    seed: int = 0
    graphs: tuple[str, ...] = GRAPH_KINDS
    normalize: bool = False
    k: int = 12
    partitioners: tuple[str, ...] = ("spectral", "louvain")
    n_shuffles: int = 20
    null: str = "auto"
    importance: bool = True
    coherence: tuple[str, ...] = COHERENCE_METHODS
    n_random: int = 499
    n_null_partitions: int = 19
    min_size: int | None = None
    alpha: float = 0.05
    steps: int = 64
    jobs: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(
                f"model must name a bundled network or 'package.module:function', "
                f"got {self.model!r}"
            )
        check_real("dropout", self.dropout, maximum=1.0, below_maximum=True)
        check_real("weight_decay", self.weight_decay)
        check_real("prune", self.prune, maximum=1.0, below_maximum=True)
        for name in ("l1", "l2", "cluster_lambda"):
            check_real(name, getattr(self, name))
        check_int("cluster_k", self.cluster_k, 2)
        if self.epochs is not None:
            check_int("epochs", self.epochs, 1)
        check_seed("seed", self.seed)
        graphs = _strings("graphs", self.graphs)
        if not graphs:
            raise ValueError("graphs must name at least one of 'weight', 'activation'")
        for kind in graphs:
            check_choice("graphs", kind, GRAPH_KINDS)
        object.__setattr__(self, "graphs", graphs)
        check_bool("normalize", self.normalize)
        if self.normalize and "weight" not in graphs:
            raise ValueError("normalize applies to weight graphs, but graphs has no 'weight'")
        check_int("k", self.k, 2)
        object.__setattr__(self, "partitioners", _strings("partitioners", self.partitioners))
        check_int("n_shuffles", self.n_shuffles, 0)
        check_choice("null", self.null, _NULLS)
        if self.null.startswith("layer") and "activation" in graphs and self.n_shuffles:
            raise ValueError(
                f"null {self.null!r} (--null) permutes the weights between layers, which an "
                "activation graph has not: use 'offdiagonal', or 'auto' ('layer' for the "
                "weight graph, 'offdiagonal' for the activation graph)"
            )
        check_bool("importance", self.importance)
        methods = _strings("coherence", self.coherence)
        for method in methods:
            check_choice("coherence", method, COHERENCE_METHODS)
        object.__setattr__(self, "coherence", methods)
        check_int("n_random", self.n_random, 1)
        check_int("n_null_partitions", self.n_null_partitions, 0)
        check_int("min_size", self.min_size, 1, allow_none=True)
        check_alpha(self.alpha)
        check_int("steps", self.steps, 1)
        check_int("jobs", self.jobs, 1)
        if is_source_spec(self.model) and self.training_options():
            raise ValueError(self._no_training(f"model {self.model!r}"))

    #: The options that train a bundled network.
    TRAINING = (
        "dropout",
        "weight_decay",
        "prune",
        "l1",
        "l2",
        "cluster_lambda",
        "cluster_k",
        "epochs",
    )

    def subcluster_floor(self) -> int:
        """Return the fewest units of the sub-clusters a report counts and lists.

        Two (the paper's), or ``min_size`` when it is smaller: every tested sub-cluster
        is then listed.
        """
        return min(2, self.min_size or 2)

    def training_options(self) -> list[str]:
        """Return the training options set away from their defaults."""
        defaults = {f.name: f.default for f in fields(self)}
        return [name for name in self.TRAINING if getattr(self, name) != defaults[name]]

    def _no_training(self, what: str) -> str:
        names = self.training_options()
        many = len(names) > 1
        return (
            f"{', '.join(names)} {'train' if many else 'trains'} a bundled network; {what} is "
            f"used as it is built: train it yourself, or leave {'these' if many else 'it'} out"
        )

    @classmethod
    def option_names(cls) -> list[str]:
        """Return the names of every option, in order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "options") -> StudyConfig:
        """Build a configuration, refusing unknown keys with the closest valid one.

        Parameters
        ----------
        options : mapping
            Option names to values (lists become tuples).
        where : str, default="options"
            What the options came from, for error messages (e.g. a file name).

        Returns
        -------
        StudyConfig

        Examples
        --------
        >>> StudyConfig.from_options({"k": 4}).k
        4
        >>> StudyConfig.from_options({"shuffles": 4})
        Traceback (most recent call last):
        ...
        ValueError: unknown option 'shuffles' in options (did you mean 'n_shuffles'?)
        """
        names = cls.option_names()
        for key in options:
            if key not in names:
                raise ValueError(f"unknown option {key!r} in {where}{suggest(key, names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})

    def limits(self) -> list[str]:
        """Say where the shuffles or random sets are too few for a p-value below ``alpha``.

        Examples
        --------
        >>> StudyConfig(n_shuffles=4).limits()[0][:60]
        'with 4 shuffles the smallest possible p-value is 1/5 = 0.2, '
        """
        out = []
        for n, what, option in (
            (self.n_shuffles, "shuffles", "n_shuffles (--shuffles)"),
            (self.n_random, "random sets per sub-cluster", "n_random (--n-random)"),
        ):
            if n > 0 and 1 / (n + 1) > self.alpha:
                out.append(
                    f"with {n} {what} the smallest possible p-value is 1/{n + 1} = "
                    f"{1 / (n + 1):.3g}, above alpha = {self.alpha:g}: no test can be "
                    f"significant"
                    + ("; z is undefined with one shuffle" if n == 1 and what == "shuffles" else "")
                    + f". Use at least {_enough(self.alpha)} ({option})."
                )
        return out

    def replace(self, **changes: Any) -> StudyConfig:
        """Return a copy with ``changes`` (checked like any option)."""
        return self.from_options({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Return the options as a plain dict (tuples stay tuples)."""
        return asdict(self)

    def to_toml(self) -> str:
        """Write the options as TOML that :func:`load_config` reads back.

        Examples
        --------
        >>> text = StudyConfig(k=4).to_toml()
        >>> "k = 4" in text.splitlines()
        True
        >>> load_config_text(text) == StudyConfig(k=4)
        True
        """
        lines = ["# nngraph study configuration (nngraph run --config this-file)"]
        for key, value in self.to_dict().items():
            if value is None:
                lines.append(f"# {key} = (default)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def load_config_text(text: str, *, where: str = "the configuration") -> StudyConfig:
    """Read a configuration from TOML text (see :func:`load_config`)."""
    return StudyConfig.from_options(_read_options(text, where), where=where)


def _read_options(text: str, where: str) -> dict[str, Any]:
    """Return the options of a TOML configuration, unchecked."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where} is not valid TOML: {exc}") from None
    # Options may sit at the top level or in a [study] table.
    if set(document) == {"study"} and isinstance(document["study"], dict):
        document = document["study"]
    for key, value in document.items():
        if isinstance(value, dict):
            raise ValueError(
                f"unexpected table [{key}] in {where}: options are top-level keys "
                f"(or in one [study] table)"
            )
    return document


def load_config(path: str | os.PathLike[str], **overrides: Any) -> StudyConfig:
    """Read a study configuration from a TOML file; ``overrides`` win over the file.

    Parameters
    ----------
    path : path-like
        A TOML file of option names and values (top level, or in one ``[study]``
        table), as :meth:`StudyConfig.to_toml` writes.
    **overrides
        Options that replace the file's (e.g. flags given on the command line).

    Returns
    -------
    StudyConfig

    Raises
    ------
    ValueError
        Unknown option (with the closest valid one), bad value, or not TOML.
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {str(path)!r} does not exist")
    # One configuration from the file's options and the overrides together: the file
    # alone may not be valid (null = "layer" with the activation graph it then leaves).
    options = _read_options(path.read_text(encoding="utf-8"), str(path))
    return StudyConfig.from_options({**options, **overrides}, where=str(path))
