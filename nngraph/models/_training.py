"""Seeded, deterministic training (Adam, cross-entropy) and accuracy, single or multi-head.

:func:`train` leaves the caller's global torch RNG state untouched; on the CPU the same
seed gives bit-identical weights.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..datasets import Dataset
from ..utils._progress import progress_bar
from ..utils._validation import check_int, check_real, check_seed

__all__ = ["accuracy", "train"]


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
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_real("lr", lr, positive=True)
    weight_decay = check_real("weight_decay", weight_decay)
    random_state = check_seed("random_state", random_state)
    if num_threads is not None:
        num_threads = check_int("num_threads", num_threads, 1)

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
    """Run the training loop of :func:`train` (arguments already validated)."""
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
        bar = progress_bar(epochs, f"train {data.name}", enabled=progress, unit="epoch")
        try:
            for _ in range(epochs):
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
                bar.update(1)
        finally:
            bar.close()
            model.eval()
