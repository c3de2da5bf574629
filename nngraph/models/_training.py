"""Seeded, deterministic training (Adam, cross-entropy) and accuracy, single or multi-head.

:func:`train` leaves the caller's global torch RNG state untouched; on the CPU the same
seed gives bit-identical weights.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..datasets import Dataset
from ..utils._progress import progress_bar
from ..utils._validation import check_int, check_real, check_seed
from ._pruning import MagnitudePruner, polynomial_sparsity
from ._regularizers import ClusterabilityPenalty, weight_penalty

__all__ = ["Regimen", "accuracy", "train"]


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
    l1: float = 0.0,
    l2: float = 0.0,
    prune: float = 0.0,
    prune_epochs: int = 20,
    prune_start: float = 0.5,
    prune_every: int = 10,
    cluster_lambda: float = 0.0,
    cluster_k: int = 4,
    cluster_every: int = 10,
) -> dict[str, Any]:
    """Train ``model`` in place on ``data`` with Adam and cross-entropy, deterministically.

    Everything random (the parameter initialisation, dropout, the order of the
    mini-batches) derives from ``random_state``: with the same torch version, the same
    call gives the same weights bit for bit on CPU. The caller's global torch RNG state
    is left untouched (training runs inside :func:`torch.random.fork_rng`).

    For targets of shape ``(n, n_heads)`` (as from
    :func:`~nngraph.datasets.load_two_digits`) the logits are split into ``n_heads``
    blocks of ``data.n_classes`` and the loss is the sum of the heads' cross-entropies.

    The papers' training options (Filan et al., arXiv:2103.03386; their code's
    settings for MLPs in brackets): L1 and L2 penalties on the weights (``5e-5``),
    dropout (a builder option, ``0.5``), magnitude pruning after training
    (:mod:`~nngraph.models._pruning`: ``prune_epochs`` more epochs with a fresh Adam,
    the sparsity of every ``Linear`` and ``Conv`` weight rising from ``prune_start``
    to ``prune`` along a cubic schedule, masks updated every ``prune_every`` steps,
    pruned weights held at zero; ``0.5 -> 0.9`` over 20 epochs, every 10 steps), and
    the clusterability regulariser (:class:`~nngraph.models._regularizers.
    ClusterabilityPenalty`: ``cluster_lambda / (cluster_k - 1)`` times the sum of the
    ``cluster_k - 1`` smallest non-trivial eigenvalues of the weight graph's
    normalised Laplacian, in both phases; ``0.1`` and ``k = 4``).

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
    l1 : float, default=0.0
        Adds ``l1 * sum |w|`` over the ``Linear`` and ``Conv`` weights to the loss.
    l2 : float, default=0.0
        Adds ``l2 * sum w**2`` over the same weights (biases excluded, unlike
        ``weight_decay``).
    prune : float, default=0.0
        Final sparsity of magnitude pruning, in ``[0, 1)``; 0: no pruning.
    prune_epochs : int, default=20
        Fine-tuning epochs during which the network is pruned (after ``epochs``).
    prune_start : float, default=0.5
        Sparsity at the first pruning step (at most ``prune``).
    prune_every : int, default=10
        Optimiser steps between two updates of the masks.
    cluster_lambda : float, default=0.0
        Strength of the clusterability regulariser; 0: none. MLPs only.
    cluster_k : int, default=4
        The regulariser lowers ``lambda_2 + ... + lambda_k``, the relaxed n-cut of
        ``k`` clusters.
    cluster_every : int, default=10
        Steps between two eigen-decompositions of the regulariser.

    Returns
    -------
    dict
        ``"train_loss"``: mean training cross-entropy of each epoch, the pruning epochs
        included (list of float); with a penalty, ``"penalty"``: its mean per epoch;
        with pruning, ``"sparsity"`` (of all prunable weights) and
        ``"sparsity_layers"``; with the regulariser, ``"cluster_eigenvalues"`` (the
        ``k`` smallest eigenvalues at the end);
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
    regimen = Regimen.checked(
        l1=l1,
        l2=l2,
        prune=prune,
        prune_epochs=prune_epochs,
        prune_start=prune_start,
        prune_every=prune_every,
        cluster_lambda=cluster_lambda,
        cluster_k=cluster_k,
        cluster_every=cluster_every,
    )

    init_seed, shuffle_seed = (
        int(s) for s in np.random.SeedSequence(random_state).generate_state(2, dtype=np.uint64)
    )
    device = _model_device(model)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    heads = _n_heads(y_train)
    history: dict[str, Any] = {"train_loss": [], "epochs": epochs}
    if regimen.prune:
        history["prune_epochs"] = regimen.prune_epochs
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
            regimen,
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


@dataclass(frozen=True)
class Regimen:
    """What :func:`train` does beyond plain Adam: penalties, pruning, the regulariser.

    Build it with :meth:`checked`; the fields are :func:`train`'s arguments of the same
    names.
    """

    l1: float = 0.0
    l2: float = 0.0
    prune: float = 0.0
    prune_epochs: int = 20
    prune_start: float = 0.5
    prune_every: int = 10
    cluster_lambda: float = 0.0
    cluster_k: int = 4
    cluster_every: int = 10

    @classmethod
    def checked(cls, **options: Any) -> Regimen:
        """Validate the options (as :func:`train` documents them) and build the regimen."""
        o = {**cls().__dict__, **options}
        prune = check_real("prune", o["prune"], maximum=1.0, below_maximum=True)
        return cls(
            l1=check_real("l1", o["l1"]),
            l2=check_real("l2", o["l2"]),
            prune=prune,
            prune_epochs=check_int("prune_epochs", o["prune_epochs"], 1),
            prune_start=min(prune, check_real("prune_start", o["prune_start"], maximum=1.0)),
            prune_every=check_int("prune_every", o["prune_every"], 1),
            cluster_lambda=check_real("cluster_lambda", o["cluster_lambda"]),
            cluster_k=check_int("cluster_k", o["cluster_k"], 2),
            cluster_every=check_int("cluster_every", o["cluster_every"], 1),
        )

    def active(self) -> dict[str, Any]:
        """Return the options that change training (for the cache key): none for plain Adam."""
        out: dict[str, Any] = {}
        if self.l1:
            out["l1"] = self.l1
        if self.l2:
            out["l2"] = self.l2
        if self.prune:
            out.update(
                prune=self.prune,
                prune_epochs=self.prune_epochs,
                prune_start=self.prune_start,
                prune_every=self.prune_every,
            )
        if self.cluster_lambda:
            out.update(
                cluster_lambda=self.cluster_lambda,
                cluster_k=self.cluster_k,
                cluster_every=self.cluster_every,
            )
        return out


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
    regimen: Regimen | None = None,
) -> None:
    """Run the training loop of :func:`train` (arguments already validated).

    Two phases: ``epochs`` of training, then (with pruning) ``prune_epochs`` of
    fine-tuning with a fresh Adam while the masks tighten.
    """
    regimen = regimen or Regimen()
    device = x_train.device
    n = x_train.shape[0]
    heads = _n_heads(y_train)
    devices = [device.index or 0] if device.type == "cuda" else []
    phases = [(epochs, False)] + ([(regimen.prune_epochs, True)] if regimen.prune else [])
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(init_seed)
        if reinitialize:
            _reset_parameters(model)
        shuffle = torch.Generator().manual_seed(shuffle_seed)
        pruner = MagnitudePruner(model) if regimen.prune else None
        cluster = (
            ClusterabilityPenalty(model, regimen.cluster_k, regimen.cluster_every)
            if regimen.cluster_lambda
            else None
        )
        scale = regimen.cluster_lambda / max(1, regimen.cluster_k - 1)
        model.train()
        total_epochs = sum(e for e, _ in phases)
        bar = progress_bar(total_epochs, f"train {data.name}", enabled=progress, unit="epoch")
        try:
            for phase_epochs, pruning in phases:
                optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
                steps = phase_epochs * math.ceil(n / batch_size)
                step = 0
                for _ in range(phase_epochs):
                    order = torch.randperm(n, generator=shuffle).to(device)
                    total, extra = 0.0, 0.0
                    for b in range(0, n, batch_size):
                        if pruning and step % regimen.prune_every == 0:
                            pruner.update(  # type: ignore[union-attr]
                                polynomial_sparsity(
                                    step, steps, start=regimen.prune_start, final=regimen.prune
                                )
                            )
                        idx = order[b : b + batch_size]
                        logits = model(x_train[idx])
                        _check_logits(logits, heads, data.n_classes)
                        loss = _loss(logits, y_train[idx], data.n_classes)
                        objective = loss
                        if regimen.l1 or regimen.l2:
                            objective = objective + weight_penalty(model, regimen.l1, regimen.l2)
                        if cluster is not None:
                            penalty = scale * cluster.step_penalty()
                            objective = objective + penalty.to(loss.dtype)
                        optimizer.zero_grad(set_to_none=True)
                        objective.backward()
                        optimizer.step()
                        if pruning:
                            pruner.apply()  # type: ignore[union-attr]
                        if cluster is not None:
                            cluster.balance()
                        total += float(loss.detach()) * idx.shape[0]
                        extra += float((objective - loss).detach()) * idx.shape[0]
                        step += 1
                    history["train_loss"].append(total / n)
                    if regimen.l1 or regimen.l2 or cluster is not None:
                        history.setdefault("penalty", []).append(extra / n)
                    bar.set_postfix(loss=f"{total / n:.4f}")
                    bar.update(1)
                if pruning:
                    pruner.update(regimen.prune)  # type: ignore[union-attr]
        finally:
            bar.close()
            model.eval()
        if pruner is not None:
            history["sparsity"] = pruner.overall_sparsity()
            history["sparsity_layers"] = pruner.sparsity()
        if cluster is not None:
            cluster.refresh()
            history["cluster_eigenvalues"] = cluster.eigenvalues.tolist()
