"""The checkpoint cache of the bundled networks.

:func:`pretrained` trains a bundled network once per configuration and keeps it on disk,
keyed by a hash of the whole configuration.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, overload

import torch
import torch.nn as nn

from ..datasets import Dataset, load_digits, load_two_digits
from ..utils._io import atomic_write, to_jsonable
from ..utils._validation import check_int, check_real, check_seed
from ._builders import mlp, small_cnn, two_digit_mlp
from ._training import Regimen, train

__all__ = [
    "CacheWarning",
    "PRETRAINED_NAMES",
    "default_cache_dir",
    "pretrained",
    "pretrained_data",
]

_CACHE_ENV = "NNGRAPH_CACHE_DIR"
_CHECKPOINT_FORMAT = 1


class CacheWarning(UserWarning):
    """A cached checkpoint could not be used (e.g. it is corrupt) and was rebuilt."""


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nngraph")
    except PackageNotFoundError:
        return "0.1.0"


def default_cache_dir() -> Path:
    """Where :func:`pretrained` keeps checkpoints when no ``cache_dir`` is given.

    Returns
    -------
    pathlib.Path
        ``$NNGRAPH_CACHE_DIR`` if that environment variable is set and not empty, else
        ``~/.cache/nngraph``. The directory is not created.

    Examples
    --------
    >>> from nngraph.models import default_cache_dir
    >>> default_cache_dir().name != ""
    True
    """
    env = os.environ.get(_CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/nngraph").expanduser()


# name -> (builder, dataset loader, dataset kwargs, default epochs)
_PRETRAINED: dict[str, tuple[Callable[..., nn.Module], Callable[..., Dataset], dict, int]] = {
    "mlp": (mlp, load_digits, {"flatten": True}, 30),
    "small_cnn": (small_cnn, load_digits, {"flatten": False}, 30),
    "two_digit_mlp": (two_digit_mlp, load_two_digits, {"flatten": True}, 30),
}
PRETRAINED_NAMES: tuple[str, ...] = tuple(_PRETRAINED)
"""The names :func:`pretrained` accepts."""


def _lookup(name: object) -> tuple[Callable[..., nn.Module], Callable[..., Dataset], dict, int]:
    if not isinstance(name, str) or name not in _PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of {PRETRAINED_NAMES}")
    return _PRETRAINED[name]


def pretrained_data(name: str = "mlp") -> Dataset:
    """Load the data set a :func:`pretrained` model is trained and tested on.

    Parameters
    ----------
    name : {"mlp", "small_cnn", "two_digit_mlp"}, default="mlp"
        ``"mlp"``: ``load_digits()`` (flattened, 64 features); ``"small_cnn"``:
        ``load_digits(flatten=False)`` (``(n, 1, 8, 8)``); ``"two_digit_mlp"``:
        ``load_two_digits()`` (128 features, 2 heads).

    Returns
    -------
    Dataset

    Examples
    --------
    >>> from nngraph.models import pretrained_data
    >>> pretrained_data("small_cnn").input_shape
    (1, 8, 8)
    """
    _, loader, kwargs, _ = _lookup(name)
    return loader(**kwargs)


def _key_value(value: Any) -> Any:
    """Convert a configuration value to JSON for the cache key (refusing what JSON cannot hold)."""
    try:
        return to_jsonable(value, what="pretrained() arguments", nonfinite="error")
    except TypeError as exc:
        raise TypeError(
            f"pretrained() arguments must be JSON-like (numbers, strings, sequences) to key "
            f"the cache; {exc}"
        ) from None


def _torch_minor() -> str:
    return ".".join(torch.__version__.split("+")[0].split(".")[:2])


def _config(
    name: str,
    builder_kwargs: dict[str, Any],
    train_kwargs: dict[str, Any],
) -> tuple[dict[str, Any], str]:
    builder, loader, data_kwargs, _ = _lookup(name)
    try:
        bound = inspect.signature(builder).bind(**builder_kwargs)
    except TypeError as exc:
        raise TypeError(f"invalid keyword arguments for the {name!r} builder: {exc}") from None
    bound.apply_defaults()
    config = {
        "format": _CHECKPOINT_FORMAT,
        "name": name,
        "builder": _key_value(dict(bound.arguments)),
        "train": _key_value(train_kwargs),
        "dataset": {"name": loader.__name__, "kwargs": _key_value(data_kwargs)},
        "nngraph": _package_version(),
        "torch": _torch_minor(),
    }
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return config, hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@overload
def pretrained(
    name: str = ...,
    *,
    dropout: float = ...,
    weight_decay: float = ...,
    prune: float = ...,
    l1: float = ...,
    l2: float = ...,
    cluster_lambda: float = ...,
    cluster_k: int = ...,
    prune_epochs: int = ...,
    epochs: int | None = ...,
    random_state: int = ...,
    lr: float = ...,
    batch_size: int = ...,
    cache_dir: str | os.PathLike[str] | None = ...,
    progress: bool = ...,
    return_history: Literal[False] = ...,
    **builder_kwargs: Any,
) -> nn.Module: ...


@overload
def pretrained(
    name: str = ...,
    *,
    dropout: float = ...,
    weight_decay: float = ...,
    prune: float = ...,
    l1: float = ...,
    l2: float = ...,
    cluster_lambda: float = ...,
    cluster_k: int = ...,
    prune_epochs: int = ...,
    epochs: int | None = ...,
    random_state: int = ...,
    lr: float = ...,
    batch_size: int = ...,
    cache_dir: str | os.PathLike[str] | None = ...,
    progress: bool = ...,
    return_history: Literal[True],
    **builder_kwargs: Any,
) -> tuple[nn.Module, dict[str, Any]]: ...


def pretrained(
    name: str = "mlp",
    *,
    dropout: float = 0.0,
    weight_decay: float = 0.0,
    prune: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    cluster_lambda: float = 0.0,
    cluster_k: int = 4,
    prune_epochs: int = 20,
    epochs: int | None = None,
    random_state: int = 0,
    lr: float = 1e-3,
    batch_size: int = 128,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    return_history: bool = False,
    **builder_kwargs: Any,
) -> nn.Module | tuple[nn.Module, dict[str, Any]]:
    """Return a trained reference model, loaded from the checkpoint cache or trained and cached.

    Builds the model, and loads its weights from ``cache_dir`` if a checkpoint for exactly
    this configuration exists; otherwise trains it with :func:`train` on
    :func:`pretrained_data(name) <pretrained_data>` and saves the checkpoint. The cache
    key is the SHA-256 of a canonical JSON of: ``name``, the builder's arguments (with
    defaults filled in, so ``pretrained("mlp")`` and
    ``pretrained("mlp", hidden=(256, 256, 256, 256))`` share a checkpoint), the training
    arguments (``epochs``, ``weight_decay``, ``lr``, ``batch_size``, ``random_state``,
    and those of pruning, L1, L2 and the regulariser when they are used: plain training
    keeps the key it always had), the data set, the nngraph version and torch's
    major.minor version.

    Each checkpoint ``<name>-<sha256>.pt`` (state dict and configuration) comes with a
    ``<name>-<sha256>.json`` sidecar holding the configuration and the training history.
    Both are written atomically (temporary file in the same directory, then
    :func:`os.replace`), so concurrent callers never see a partial file. A checkpoint
    that cannot be read or does not match the model is retrained and overwritten, with a
    :class:`CacheWarning`.

    Parameters
    ----------
    name : {"mlp", "small_cnn", "two_digit_mlp"}, default="mlp"
        Which builder (:func:`mlp`, :func:`small_cnn`, :func:`two_digit_mlp`).
    dropout : float, default=0.0
        Passed to the builder.
    weight_decay : float, default=0.0
        Passed to :func:`train`.
    prune : float, default=0.0
        Final sparsity of magnitude pruning as the papers did it (:func:`train`: a cubic
        schedule from 50% over ``prune_epochs`` more epochs, masks updated every 10
        steps, pruned weights kept at zero); e.g. ``0.9``. 0: not pruned.
    l1, l2 : float, default=0.0
        L1 and L2 penalties on the weights (the papers: ``5e-5``), passed to
        :func:`train`.
    cluster_lambda : float, default=0.0
        Strength of the clusterability regulariser (:func:`train`); MLPs only.
    cluster_k : int, default=4
        Clusters the regulariser favours (it lowers ``lambda_2 + ... + lambda_k``).
    prune_epochs : int, default=20
        Fine-tuning epochs of pruning (the papers' MLPs: 20).
    epochs : int, optional
        Passed to :func:`train`; default 30 for every model.
    random_state : int, default=0
        Seed of training (initialisation and batch order); the data split is always the
        default one of :func:`pretrained_data`.
    lr : float, default=1e-3
        Passed to :func:`train`.
    batch_size : int, default=128
        Passed to :func:`train`.
    cache_dir : str or path-like, optional
        Checkpoint directory (created if needed); default :func:`default_cache_dir`.
    progress : bool, default=False
        Show a progress bar while training.
    return_history : bool, default=False
        Also return the training history (as saved in the sidecar).
    **builder_kwargs
        Other arguments of the builder, e.g. ``hidden=(64, 64)`` for ``"mlp"``.

    Returns
    -------
    torch.nn.Module or (torch.nn.Module, dict)
        The model on CPU, in eval mode; with ``return_history=True`` also the history
        dict returned by :func:`train`.

    Examples
    --------
    >>> import tempfile
    >>> from nngraph.models import pretrained
    >>> with tempfile.TemporaryDirectory() as d:
    ...     model = pretrained("mlp", hidden=(16,), epochs=1, cache_dir=d)
    ...     again = pretrained("mlp", hidden=(16,), epochs=1, cache_dir=d)  # from the cache
    >>> model
    Sequential(
      (0): Linear(in_features=64, out_features=16, bias=True)
      (1): ReLU()
      (2): Linear(in_features=16, out_features=10, bias=True)
    )
    >>> with tempfile.TemporaryDirectory() as d:
    ...     pruned = pretrained(
    ...         "mlp", hidden=(16,), epochs=1, prune=0.9, prune_epochs=1, cache_dir=d
    ...     )
    >>> round(float((pruned[0].weight == 0).double().mean()), 3)  # 90% of each layer is 0
    0.9
    """
    builder, _, _, default_epochs = _lookup(name)
    if epochs is None:
        epochs = default_epochs
    train_kwargs = {
        "epochs": check_int("epochs", epochs, 1),
        "weight_decay": check_real("weight_decay", weight_decay),
        "lr": check_real("lr", lr, positive=True),
        "batch_size": check_int("batch_size", batch_size, 1),
        "random_state": check_seed("random_state", random_state),
    }
    regimen = Regimen.checked(
        prune=prune,
        l1=l1,
        l2=l2,
        cluster_lambda=cluster_lambda,
        cluster_k=cluster_k,
        prune_epochs=prune_epochs,
    )
    train_kwargs.update(regimen.active())  # only what is used: plain keys stay as they were
    dropout = check_real(
        "dropout", dropout, maximum=1.0, below_maximum=True
    )  # so that dropout=0 and dropout=0.0 share a key
    config, key = _config(name, {"dropout": dropout, **builder_kwargs}, train_kwargs)

    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):  # building initialises: not on the user's RNG
            return builder(dropout=dropout, **builder_kwargs)

    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    checkpoint = directory / f"{name}-{key}.pt"
    cached = _load_checkpoint(checkpoint, config, build)
    if cached is not None:
        model, history = cached
    else:
        model = build()
        history = train(model, pretrained_data(name), progress=progress, **train_kwargs)
        model.cpu().eval()
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"config": config, "state_dict": model.state_dict(), "history": history}
        atomic_write(checkpoint, lambda fh: torch.save(payload, fh), binary=True)
        meta = {"key": key, "config": config, "history": history, "checkpoint": checkpoint.name}
        atomic_write(
            directory / f"{name}-{key}.json",
            lambda fh: fh.write(json.dumps(meta, indent=2, sort_keys=True) + "\n"),
            binary=False,
        )
    return (model, history) if return_history else model


def _load_checkpoint(
    checkpoint: Path, config: dict[str, Any], build: Callable[[], nn.Module]
) -> tuple[nn.Module, dict[str, Any]] | None:
    """Load a cached model and its history; None if there is none or it is unusable.

    An unusable checkpoint (unreadable, another configuration, weights that do not fit
    the model) gives a :class:`CacheWarning`; the caller retrains and overwrites it.
    """
    if not checkpoint.exists():
        return None
    model = build()
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or saved.get("config") != config:
            raise ValueError("its configuration does not match")
        model.load_state_dict(saved["state_dict"])
    except Exception as exc:  # any unreadable checkpoint is rebuilt
        warnings.warn(
            f"ignoring unusable cached checkpoint {checkpoint} ({type(exc).__name__}: "
            f"{exc}); retraining it",
            CacheWarning,
            stacklevel=3,
        )
        return None
    return model.eval(), saved.get("history", {})
