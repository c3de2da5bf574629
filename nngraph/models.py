"""Small reference networks, a deterministic training loop and a checkpoint cache.

* :func:`mlp`, :func:`small_cnn`, :func:`two_digit_mlp` -- model builders made only of
  standard ``torch.nn`` modules, with readable module paths.
* :func:`train` -- seeded, deterministic (on CPU) training with Adam, leaving the
  caller's global torch RNG state untouched; :func:`accuracy` to evaluate.
* :func:`resnet18`, :func:`vgg` -- torchvision-style ResNet-18 and VGG built in code.
* :func:`pretrained` -- a model trained on the data set it pairs with
  (:func:`pretrained_data`), cached on disk under a key derived from the full
  configuration (:func:`default_cache_dir`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import numbers
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._architectures import ResNet, resnet18, vgg
from ._io import atomic_write
from ._validation import check_real
from .datasets import Dataset, load_digits, load_two_digits

__all__ = [
    "CacheWarning",
    "ResNet",
    "SmallCNN",
    "PRETRAINED_NAMES",
    "accuracy",
    "default_cache_dir",
    "mlp",
    "pretrained",
    "pretrained_data",
    "resnet18",
    "small_cnn",
    "train",
    "two_digit_mlp",
    "vgg",
]

_CACHE_ENV = "NNGRAPH_CACHE_DIR"
_CHECKPOINT_FORMAT = 1


class CacheWarning(UserWarning):
    """A cached checkpoint could not be used (e.g. it is corrupt) and was rebuilt."""


# --------------------------------------------------------------------------- validation


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_sizes(sizes: object, name: str) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"{name} must be a sequence of positive ints, got {sizes!r}")
    return tuple(_check_positive_int(s, f"each entry of {name}") for s in sizes)


def _check_dropout(dropout: object) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(f"dropout must be a float in [0, 1), got {dropout!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return float(dropout)


def _check_seed(random_state: object) -> int:
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be an int, got {random_state!r}")
    if int(random_state) < 0:
        raise ValueError(f"random_state must be non-negative, got {random_state}")
    return int(random_state)


# --------------------------------------------------------------------------- builders


def mlp(
    in_features: int = 64,
    hidden: Sequence[int] = (256, 256, 256, 256),
    n_classes: int = 10,
    *,
    dropout: float = 0.0,
) -> nn.Sequential:
    """A multilayer perceptron of ``Linear``, ``ReLU`` and optional ``Dropout`` modules.

    Each hidden layer is ``Linear -> ReLU [-> Dropout]``; a ``Linear`` head follows.

    Parameters
    ----------
    in_features : int, default=64
        Number of input features (64 for flattened :func:`~nngraph.datasets.load_digits`).
    hidden : sequence of int, default=(256, 256, 256, 256)
        Width of each hidden layer; empty for a linear model.
    n_classes : int, default=10
        Number of output logits.
    dropout : float, default=0.0
        If positive, an ``nn.Dropout(dropout)`` follows each hidden ``ReLU``.

    Returns
    -------
    torch.nn.Sequential
        Module paths are the Sequential indices: without dropout, ``"0"``, ``"2"``, ...
        are the ``Linear`` layers and ``"1"``, ``"3"``, ... the ``ReLU`` s.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import mlp
    >>> model = mlp()
    >>> tuple(model(torch.zeros(3, 64)).shape)
    (3, 10)
    >>> [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    ['0', '2', '4', '6', '8']
    """
    in_features = _check_positive_int(in_features, "in_features")
    hidden = _check_sizes(hidden, "hidden")
    n_classes = _check_positive_int(n_classes, "n_classes")
    dropout = _check_dropout(dropout)

    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A small CNN for 8x8 images; build it with :func:`small_cnn`.

    ``features`` (``nn.Sequential``) holds ``Conv2d(3x3, padding=1) -> BatchNorm2d ->
    ReLU`` blocks with one ``MaxPool2d(2)``; then ``pool`` (global average pooling),
    ``flatten``, ``dropout`` (``nn.Identity`` when the rate is 0) and the ``Linear``
    head ``classifier``.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    channels : sequence of int
        Output channels of each convolution block (at least one).
    n_classes : int
        Number of output logits.
    dropout : float
        Dropout rate before the head.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        n_classes: int,
        dropout: float,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        pool_after = (len(channels) - 1) // 2
        for i, c in enumerate(channels):
            blocks += [
                nn.Conv2d(width, c, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
            ]
            if i == pool_after:
                blocks.append(nn.MaxPool2d(2))
            width = c
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(n, n_classes)`` for images of shape ``(n, C, H, W)``."""
        x = self.features(x)
        x = self.flatten(self.pool(x))
        return self.classifier(self.dropout(x))


def small_cnn(
    in_channels: int = 1,
    channels: Sequence[int] = (16, 32, 32),
    n_classes: int = 10,
    *,
    dropout: float = 0.0,
) -> SmallCNN:
    """A small CNN for the 8x8 digits (``load_digits(flatten=False)``).

    One block per entry of ``channels``: ``Conv2d(kernel_size=3, padding=1, bias=False)
    -> BatchNorm2d -> ReLU``; a ``MaxPool2d(2)`` follows the middle block (the second of
    three), halving 8x8 to 4x4. Then global average pooling, ``Flatten`` and a
    ``Linear`` head.

    Parameters
    ----------
    in_channels : int, default=1
        Channels of the input images.
    channels : sequence of int, default=(16, 32, 32)
        Output channels of each convolution block (at least one).
    n_classes : int, default=10
        Number of output logits.
    dropout : float, default=0.0
        If positive, ``nn.Dropout(dropout)`` before the head (module ``"dropout"``).

    Returns
    -------
    SmallCNN
        Module paths: ``"features.0"`` (first conv), ``"features.1"`` (its batch norm),
        ..., ``"pool"``, ``"flatten"``, ``"dropout"``, ``"classifier"``.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import small_cnn
    >>> model = small_cnn().eval()
    >>> tuple(model(torch.zeros(2, 1, 8, 8)).shape)
    (2, 10)
    >>> [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    ['features.0', 'features.3', 'features.7']
    """
    in_channels = _check_positive_int(in_channels, "in_channels")
    channels = _check_sizes(channels, "channels")
    if not channels:
        raise ValueError("channels must hold at least one entry")
    n_classes = _check_positive_int(n_classes, "n_classes")
    dropout = _check_dropout(dropout)
    return SmallCNN(in_channels, channels, n_classes, dropout)


def two_digit_mlp(hidden: Sequence[int] = (64, 64), *, dropout: float = 0.0) -> nn.Sequential:
    """A fully connected MLP for :func:`~nngraph.datasets.load_two_digits`.

    128 inputs (the flattened 8x16 image) and 20 logits: ``[:, :10]`` for the left digit,
    ``[:, 10:]`` for the right one. Every layer is dense, so nothing forces a modular
    solution, but one (half of each hidden layer for each digit) is possible.

    Parameters
    ----------
    hidden : sequence of int, default=(64, 64)
        Width of each hidden layer.
    dropout : float, default=0.0
        If positive, an ``nn.Dropout(dropout)`` follows each hidden ``ReLU``.

    Returns
    -------
    torch.nn.Sequential
        Same structure as :func:`mlp` with ``in_features=128, n_classes=20``.

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import two_digit_mlp
    >>> tuple(two_digit_mlp()(torch.zeros(4, 128)).shape)
    (4, 20)
    """
    return mlp(128, hidden, 20, dropout=dropout)


# --------------------------------------------------------------------------- training


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _n_heads(y: torch.Tensor) -> int:
    return 1 if y.ndim == 1 else int(y.shape[1])


def _check_logits(logits: torch.Tensor, n_heads: int, n_classes: int | None) -> int:
    """Check the logits fit the targets and return the number of classes per head."""
    if logits.ndim != 2:
        raise ValueError(
            f"the model must return logits of shape (n, classes), got {tuple(logits.shape)}"
        )
    width = int(logits.shape[1])
    if n_classes is None:
        if width % n_heads:
            raise ValueError(
                f"the model returns {width} logits, not a multiple of the {n_heads} heads"
            )
        return width // n_heads
    if width != n_heads * n_classes:
        raise ValueError(
            f"the model returns {width} logits but the data need {n_heads} head(s) of "
            f"{n_classes} classes ({n_heads * n_classes} logits)"
        )
    return n_classes


def _loss(logits: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    if y.ndim == 1:
        return F.cross_entropy(logits, y)
    return sum(
        F.cross_entropy(logits[:, h * n_classes : (h + 1) * n_classes], y[:, h])
        for h in range(y.shape[1])
    )  # type: ignore[return-value]


def _predict(
    model: nn.Module, x: torch.Tensor, n_heads: int, n_classes: int | None, batch_size: int
) -> torch.Tensor:
    """Predicted class per head, shape (n, n_heads); leaves the model's mode unchanged."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    preds = []
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                logits = model(x[start : start + batch_size].to(device))
                k = _check_logits(logits, n_heads, n_classes)
                preds.append(logits.reshape(logits.shape[0], n_heads, k).argmax(-1).cpu())
    finally:
        model.train(was_training)
    if not preds:
        return torch.empty(0, n_heads, dtype=torch.int64)
    return torch.cat(preds)


def _head_accuracies(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int | None = None
) -> tuple[list[float], float]:
    """Accuracy of each head and the fraction of examples with every head correct."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError("cannot compute an accuracy on zero examples")
    heads = _n_heads(y)
    pred = _predict(model, x, heads, n_classes, batch_size=1024)
    correct = pred == y.reshape(y.shape[0], heads).cpu()
    per_head = correct.double().mean(0).tolist()
    both = float(correct.all(1).double().mean())
    return [float(a) for a in per_head], both


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of examples whose arg-max logit is the target class.

    Evaluated without gradients and in eval mode (the model's train/eval mode is restored
    afterwards), in batches of 1024.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits of shape ``(n, n_classes)``, or ``(n, n_heads * n_classes)`` for
        multi-head targets.
    x : torch.Tensor
        Inputs, shape ``(n, ...)``.
    y : torch.Tensor
        int64 targets of shape ``(n,)``, or ``(n, n_heads)`` (as from
        :func:`~nngraph.datasets.load_two_digits`). In the multi-head case the logits are
        split into ``n_heads`` consecutive equal blocks, one per head.

    Returns
    -------
    float
        The accuracy; for multi-head targets, the mean of the heads' accuracies (use
        :func:`train`'s history for each head and for "all heads correct").

    Examples
    --------
    >>> import torch
    >>> from nngraph.models import accuracy
    >>> model = torch.nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.eye(2))
    >>> accuracy(model, torch.tensor([[1., 0.], [0., 1.], [1., 0.]]), torch.tensor([0, 1, 1]))
    0.6666666666666666
    """
    per_head, _ = _head_accuracies(model, x, y)
    return float(np.mean(per_head))


def _reset_parameters(model: nn.Module) -> None:
    """Call ``reset_parameters`` on every submodule that has one (uses the global RNG)."""
    stuck = []
    for name, module in model.named_modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
        elif any(True for _ in module.parameters(recurse=False)):
            stuck.append(name or type(module).__name__)
    if stuck:
        warnings.warn(
            f"modules {stuck} hold parameters but no reset_parameters(); they keep their "
            "current values instead of being re-initialised from random_state",
            RuntimeWarning,
            stacklevel=3,
        )


def train(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    random_state: int = 0,
    reinitialize: bool = True,
    num_threads: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``model`` in place on ``data`` with Adam and cross-entropy, deterministically.

    Everything random (the parameter initialisation, dropout, the order of the
    mini-batches) derives from ``random_state``: with the same torch version, the same
    call gives the same weights bit for bit on CPU. The caller's global torch RNG state
    is left untouched (training runs inside :func:`torch.random.fork_rng`).

    For targets of shape ``(n, n_heads)`` (as from
    :func:`~nngraph.datasets.load_two_digits`) the logits are split into ``n_heads``
    blocks of ``data.n_classes`` and the loss is the sum of the heads' cross-entropies.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``data.x_train`` batches to logits. Trained in place, on the device of its
        parameters, and left in eval mode.
    data : Dataset
        From :mod:`nngraph.datasets`.
    epochs : int, default=30
        Passes over the training set.
    batch_size : int, default=128
        Mini-batch size; the last, smaller batch of an epoch is kept.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam's L2 penalty (``torch.optim.Adam(weight_decay=...)``).
    random_state : int, default=0
        Seed of the initialisation, dropout and shuffling.
    reinitialize : bool, default=True
        Re-initialise the parameters (every submodule's ``reset_parameters()``, which
        also resets batch-norm statistics) from ``random_state`` before training. If
        False, training starts from the current weights (still deterministic given them).
    num_threads : int or None, default=1
        Torch intra-op threads (:func:`torch.set_num_threads`) while training and
        evaluating; the previous setting is restored afterwards. One thread is the
        fastest for these small models, is robust to a busy machine, and makes the
        result independent of the number of cores (some CPU kernels, e.g. convolutions,
        round differently with more threads). None leaves the setting alone.
    progress : bool, default=True
        Show a tqdm progress bar over epochs with the current loss.

    Returns
    -------
    dict
        ``"train_loss"``: mean training loss of each epoch (list of float);
        ``"test_accuracy"`` and ``"train_accuracy"``: final accuracies as from
        :func:`accuracy`; for multi-head data also ``"test_accuracy_heads"`` (one per
        head) and ``"test_accuracy_all"`` (fraction of test examples with every head
        correct); ``"epochs"``; ``"train_seconds"`` (wall time).

    Raises
    ------
    ValueError
        For invalid arguments, or if the model's logits do not fit the targets.

    Examples
    --------
    >>> from nngraph.datasets import load_digits
    >>> from nngraph.models import mlp, train
    >>> model = mlp(hidden=(32,))
    >>> history = train(model, load_digits(), epochs=2, progress=False)
    >>> len(history["train_loss"]), model.training
    (2, False)
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be an nngraph.datasets.Dataset, got {type(data).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = _check_positive_int(epochs, "epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    lr = check_real("lr", lr, positive=True)
    weight_decay = check_real("weight_decay", weight_decay)
    random_state = _check_seed(random_state)
    if num_threads is not None:
        num_threads = _check_positive_int(num_threads, "num_threads")

    init_seed, shuffle_seed = (
        int(s) for s in np.random.SeedSequence(random_state).generate_state(2, dtype=np.uint64)
    )
    device = _model_device(model)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    heads = _n_heads(y_train)
    history: dict[str, Any] = {"train_loss": [], "epochs": epochs}
    start = time.perf_counter()

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        _fit(
            model,
            data,
            x_train,
            y_train,
            history,
            epochs,
            batch_size,
            lr,
            weight_decay,
            init_seed,
            shuffle_seed,
            reinitialize,
            progress,
        )
        history["train_seconds"] = time.perf_counter() - start
        test_heads, test_all = _head_accuracies(model, data.x_test, data.y_test, data.n_classes)
        train_heads, _ = _head_accuracies(model, data.x_train, data.y_train, data.n_classes)
    finally:
        torch.set_num_threads(previous_threads)
    history["test_accuracy"] = float(np.mean(test_heads))
    history["train_accuracy"] = float(np.mean(train_heads))
    if heads > 1:
        history["test_accuracy_heads"] = test_heads
        history["test_accuracy_all"] = test_all
    return history


def _fit(
    model: nn.Module,
    data: Dataset,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    history: dict[str, Any],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    init_seed: int,
    shuffle_seed: int,
    reinitialize: bool,
    progress: bool,
) -> None:
    """The training loop of :func:`train` (arguments already validated)."""
    device = x_train.device
    n = x_train.shape[0]
    heads = _n_heads(y_train)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(init_seed)
        if reinitialize:
            _reset_parameters(model)
        shuffle = torch.Generator().manual_seed(shuffle_seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        model.train()
        bar = tqdm(range(epochs), desc=f"train {data.name}", unit="epoch", disable=not progress)
        try:
            for _ in bar:
                order = torch.randperm(n, generator=shuffle).to(device)
                total = 0.0
                for b in range(0, n, batch_size):
                    idx = order[b : b + batch_size]
                    logits = model(x_train[idx])
                    _check_logits(logits, heads, data.n_classes)
                    loss = _loss(logits, y_train[idx], data.n_classes)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * idx.shape[0]
                history["train_loss"].append(total / n)
                bar.set_postfix(loss=f"{total / n:.4f}")
        finally:
            bar.close()
            model.eval()


# --------------------------------------------------------------------------- pretrained


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
    """The data set a :func:`pretrained` model is trained and tested on.

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


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    raise TypeError(
        f"pretrained() arguments must be JSON-like (numbers, strings, sequences) to key the "
        f"cache; got {type(value).__name__} {value!r}"
    )


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
        "builder": _jsonable(dict(bound.arguments)),
        "train": _jsonable(train_kwargs),
        "dataset": {"name": loader.__name__, "kwargs": _jsonable(data_kwargs)},
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
    epochs: int | None = None,
    random_state: int = 0,
    lr: float = 1e-3,
    batch_size: int = 128,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    return_history: bool = False,
    **builder_kwargs: Any,
) -> nn.Module | tuple[nn.Module, dict[str, Any]]:
    """A trained reference model, loaded from the checkpoint cache or trained and cached.

    Builds the model, and loads its weights from ``cache_dir`` if a checkpoint for exactly
    this configuration exists; otherwise trains it with :func:`train` on
    :func:`pretrained_data(name) <pretrained_data>` and saves the checkpoint. The cache
    key is the SHA-256 of a canonical JSON of: ``name``, the builder's arguments (with
    defaults filled in, so ``pretrained("mlp")`` and
    ``pretrained("mlp", hidden=(256, 256, 256, 256))`` share a checkpoint), the training
    arguments (``epochs``, ``weight_decay``, ``lr``, ``batch_size``, ``random_state``),
    the data set, the nngraph version and torch's major.minor version.

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
    """
    builder, _, _, default_epochs = _lookup(name)
    if epochs is None:
        epochs = default_epochs
    train_kwargs = {
        "epochs": _check_positive_int(epochs, "epochs"),
        "weight_decay": check_real("weight_decay", weight_decay),
        "lr": check_real("lr", lr, positive=True),
        "batch_size": _check_positive_int(batch_size, "batch_size"),
        "random_state": _check_seed(random_state),
    }
    dropout = _check_dropout(dropout)  # so that dropout=0 and dropout=0.0 share a key
    config, key = _config(name, {"dropout": dropout, **builder_kwargs}, train_kwargs)
    with torch.random.fork_rng(devices=[]):  # building initialises: not on the user's RNG
        model = builder(dropout=dropout, **builder_kwargs)

    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    checkpoint = directory / f"{name}-{key}.pt"
    sidecar = directory / f"{name}-{key}.json"

    if checkpoint.exists():
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            if not isinstance(saved, dict) or saved.get("config") != config:
                raise ValueError("its configuration does not match")
            model.load_state_dict(saved["state_dict"])
            history = saved.get("history", {})
        except Exception as exc:  # any unreadable checkpoint is rebuilt
            warnings.warn(
                f"ignoring unusable cached checkpoint {checkpoint} ({type(exc).__name__}: "
                f"{exc}); retraining it",
                CacheWarning,
                stacklevel=2,
            )
            model = builder(dropout=dropout, **builder_kwargs)
        else:
            model.eval()
            return (model, history) if return_history else model

    history = train(model, pretrained_data(name), progress=progress, **train_kwargs)
    model.cpu().eval()
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"config": config, "state_dict": model.state_dict(), "history": history}
    atomic_write(checkpoint, lambda fh: torch.save(payload, fh), binary=True)
    meta = {"key": key, "config": config, "history": history, "checkpoint": checkpoint.name}
    atomic_write(
        sidecar,
        lambda fh: fh.write(json.dumps(meta, indent=2, sort_keys=True) + "\n"),
        binary=False,
    )
    return (model, history) if return_history else model
