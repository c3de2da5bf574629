"""Small, bundled data sets to train networks whose modularity nngraph then measures.

Everything here is built from scikit-learn's copy of the UCI handwritten digits
(:func:`sklearn.datasets.load_digits`, 1797 images of 8x8 pixels shipped with
scikit-learn): nothing is downloaded.

* :func:`load_digits` -- the digits, split into a stratified train and test set.
* :func:`load_two_digits` -- a task with *planted* modularity: two digits side by side,
  and the network must name both. A network that dedicates one group of units to each
  half of the image solves it; nngraph can test whether a trained network found such a
  solution.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..utils._validation import check_bool, check_int, check_seed

__all__ = ["Dataset", "load_digits", "load_two_digits"]

_N_DIGIT_CLASSES = 10
_IMAGE_SIDE = 8


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held as torch tensors.

    Parameters
    ----------
    x_train : torch.Tensor, float32, shape (n_train, ...)
        Training inputs.
    y_train : torch.Tensor, int64, shape (n_train,) or (n_train, n_heads)
        Training targets: one class index per example, or one per head (for
        :func:`load_two_digits`, ``n_heads=2``: the left and the right digit).
    x_test : torch.Tensor, float32, shape (n_test, ...)
        Test inputs, same trailing shape as ``x_train``.
    y_test : torch.Tensor, int64, shape (n_test,) or (n_test, n_heads)
        Test targets.
    n_classes : int
        Number of classes (per head).
    name : str
        Short name of the data set, e.g. ``"digits"``.
    image_shape : tuple of int, optional
        How one input is drawn as an image when it is not stored as one: ``(8, 8)``
        for the flattened digits (pictures of coherence use it).

    Examples
    --------
    >>> from nngraph.datasets import load_digits
    >>> data = load_digits()
    >>> data
    Dataset(name='digits', x_train=(1347, 64), y_train=(1347,), x_test=(450, 64), y_test=(450,), n_classes=10)
    >>> data.input_shape, data.n_heads
    ((64,), 1)
    """  # noqa: E501

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"x_{split} and y_{split} must be torch tensors")
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{split} has {x.shape[0]} examples but y_{split} has {y.shape[0]}"
                )
            if y.ndim not in (1, 2):
                raise ValueError(f"y_{split} must have 1 or 2 dimensions, got {y.ndim}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"x_train examples have shape {tuple(self.x_train.shape[1:])} but x_test "
                f"examples have shape {tuple(self.x_test.shape[1:])}"
            )
        if self.y_train.shape[1:] != self.y_test.shape[1:]:
            raise ValueError("y_train and y_test have different numbers of heads")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, e.g. ``(64,)`` or ``(1, 8, 8)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_heads(self) -> int:
        """Number of labels per example: 1, or ``y_train.shape[1]`` for 2-D targets."""
        return 1 if self.y_train.ndim == 1 else int(self.y_train.shape[1])

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{k}={tuple(getattr(self, k).shape)}"
            for k in ("x_train", "y_train", "x_test", "y_test")
        )
        return f"Dataset(name={self.name!r}, {shapes}, n_classes={self.n_classes})"


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """Read the digits as read-only arrays: images (1797, 8, 8) float32 in [0, 1], labels int64."""
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0)).copy()
    labels = np.asarray(bunch.target, dtype=np.int64).copy()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _split_indices(test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the stratified train and test split of the raw digits."""
    from sklearn.model_selection import train_test_split

    _, labels = _raw_digits()
    idx = np.arange(labels.shape[0])
    n_test = int(np.ceil(test_size * labels.shape[0]))
    n_train = labels.shape[0] - n_test
    if min(n_test, n_train) < _N_DIGIT_CLASSES:
        raise ValueError(
            f"test_size={test_size} leaves {n_train} train and {n_test} test examples; a "
            f"stratified split needs at least {_N_DIGIT_CLASSES} in each"
        )
    train_idx, test_idx = train_test_split(
        idx, test_size=test_size, random_state=random_state, stratify=labels, shuffle=True
    )
    return np.asarray(train_idx), np.asarray(test_idx)


# --------------------------------------------------------------------------- public API


def load_digits(*, test_size: float = 0.25, random_state: int = 0, flatten: bool = True) -> Dataset:
    """Load the 8x8 handwritten digits, split into a stratified train and test set.

    Uses :func:`sklearn.datasets.load_digits` (bundled with scikit-learn, nothing is
    downloaded): 1797 grey-level images with pixel values 0..16, here divided by 16 so
    that inputs lie in ``[0, 1]``. The split is
    :func:`sklearn.model_selection.train_test_split` with ``stratify`` on the labels, so
    the same arguments always give the same split.

    Parameters
    ----------
    test_size : float, default=0.25
        Fraction of the 1797 images put in the test set, in ``(0, 1)``.
    random_state : int, default=0
        Seed of the split.
    flatten : bool, default=True
        If True, inputs have shape ``(n, 64)`` (row-major pixels, for MLPs); if False,
        ``(n, 1, 8, 8)`` (for CNNs).

    Returns
    -------
    Dataset
        ``x_*`` float32 in ``[0, 1]``, ``y_*`` int64 class indices in ``0..9``,
        ``n_classes=10``, ``name="digits"``.

    Raises
    ------
    ValueError
        If ``test_size`` is not in ``(0, 1)`` or leaves fewer than 10 examples on either
        side, or ``random_state`` is negative or too large.
    TypeError
        If an argument has the wrong type.

    Examples
    --------
    >>> from nngraph.datasets import load_digits
    >>> data = load_digits()
    >>> tuple(data.x_train.shape), tuple(data.x_test.shape), data.x_train.dtype
    ((1347, 64), (450, 64), torch.float32)
    >>> float(data.x_train.min()), float(data.x_train.max())
    (0.0, 1.0)
    >>> tuple(load_digits(flatten=False).x_train.shape)
    (1347, 1, 8, 8)
    """
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1), got {test_size!r}")
    test_size = float(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in the open interval (0, 1), got {test_size}")
    random_state = check_seed("random_state", random_state)
    flatten = check_bool("flatten", flatten)

    images, labels = _raw_digits()
    train_idx, test_idx = _split_indices(test_size, random_state)

    def _x(idx: np.ndarray) -> torch.Tensor:
        x = images[idx]
        x = x.reshape(len(idx), -1) if flatten else x[:, None, :, :]
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def _y(idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(labels[idx], dtype=np.int64))

    return Dataset(
        x_train=_x(train_idx),
        y_train=_y(train_idx),
        x_test=_x(test_idx),
        y_test=_y(test_idx),
        n_classes=_N_DIGIT_CLASSES,
        name="digits",
        image_shape=(_IMAGE_SIDE, _IMAGE_SIDE) if flatten else None,
    )


def load_two_digits(
    *,
    n_train: int = 6000,
    n_test: int = 1500,
    random_state: int = 0,
    flatten: bool = True,
) -> Dataset:
    """Pairs of digits side by side; the target is both labels (a task with planted modules).

    Each example is an 8x16 image: a digit in columns 0..7 (left) and another, drawn
    independently, in columns 8..15 (right). The target ``y[i] = (left label, right
    label)``. Since the two labels are independent and each depends on one half of the
    image only, a network can solve the task with two separate modules -- the natural
    ground truth for a modularity measure.

    Train pairs are drawn only from the train split of :func:`load_digits` (default
    ``test_size=0.25``, same ``random_state``) and test pairs only from its test split,
    so no test image is ever seen in training. The pairs are drawn uniformly with
    replacement using ``numpy.random.default_rng(random_state)``.

    Parameters
    ----------
    n_train : int, default=6000
        Number of training pairs.
    n_test : int, default=1500
        Number of test pairs.
    random_state : int, default=0
        Seed of the underlying digits split and of the pairing.
    flatten : bool, default=True
        If True, inputs have shape ``(n, 128)``: the 8x16 image flattened row by row, so
        feature ``16 * r + c`` is pixel ``(r, c)`` and features with ``c < 8`` belong to the
        left digit. If False, ``(n, 1, 8, 16)``.

    Returns
    -------
    Dataset
        ``x_*`` float32 in ``[0, 1]``; ``y_*`` int64 of shape ``(n, 2)`` with columns
        (left label, right label); ``n_classes=10`` (per head); ``name="two_digits"``.

    Raises
    ------
    ValueError
        If ``n_train`` or ``n_test`` is not positive, or ``random_state`` is out of range.
    TypeError
        If an argument has the wrong type.

    Examples
    --------
    >>> from nngraph.datasets import load_two_digits
    >>> data = load_two_digits(n_train=100, n_test=20)
    >>> tuple(data.x_train.shape), tuple(data.y_train.shape), data.y_train.dtype
    ((100, 128), (100, 2), torch.int64)
    >>> tuple(load_two_digits(n_train=100, n_test=20, flatten=False).x_test.shape)
    (20, 1, 8, 16)
    """
    n_train = check_int("n_train", n_train, 1)
    n_test = check_int("n_test", n_test, 1)
    random_state = check_seed("random_state", random_state)
    flatten = check_bool("flatten", flatten)

    images, labels = _raw_digits()
    train_pool, test_pool = _split_indices(0.25, random_state)
    rng = np.random.default_rng(random_state)

    def _pairs(pool: np.ndarray, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        left = pool[rng.integers(0, len(pool), size=n)]
        right = pool[rng.integers(0, len(pool), size=n)]
        x = np.concatenate([images[left], images[right]], axis=2)  # (n, 8, 16)
        x = x.reshape(n, -1) if flatten else x[:, None, :, :]
        y = np.stack([labels[left], labels[right]], axis=1)
        return (
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
        )

    x_train, y_train = _pairs(train_pool, n_train)
    x_test, y_test = _pairs(test_pool, n_test)
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=_N_DIGIT_CLASSES,
        name="two_digits",
        image_shape=(_IMAGE_SIDE, 2 * _IMAGE_SIDE) if flatten else None,
    )
