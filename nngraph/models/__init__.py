"""Small reference networks, a deterministic training loop and a checkpoint cache.

* :func:`mlp`, :func:`small_cnn`, :func:`two_digit_mlp` -- model builders made only of
  standard ``torch.nn`` modules, with readable module paths.
* :func:`train` -- seeded, deterministic (on CPU) training with Adam, leaving the
  caller's global torch RNG state untouched; :func:`accuracy` to evaluate.
* :func:`resnet18`, :func:`vgg` -- torchvision-style ResNet-18 and VGG built in code.
* :func:`resnet50`, :func:`inverted_residual_net`, :func:`densenet`, :func:`fire_net`,
  :func:`channel_shuffle_net`, :func:`se_net`, :func:`unet` -- small networks of the
  common architecture families, for testing and benchmarking graph builders.
* :func:`pretrained` -- a model trained on the data set it pairs with
  (:func:`pretrained_data`), cached on disk under a key derived from the full
  configuration (:func:`default_cache_dir`).
* :class:`MagnitudePruner`, :class:`ClusterabilityPenalty`,
  :func:`spectral_clusterability` -- the papers' magnitude pruning and clusterability
  regulariser, which :func:`train` uses (``prune=``, ``cluster_lambda=``).
"""

from ._architectures import ResNet, resnet18, vgg
from ._builders import SmallCNN, mlp, small_cnn, two_digit_mlp
from ._cache import (
    PRETRAINED_NAMES,
    CacheWarning,
    default_cache_dir,
    pretrained,
    pretrained_data,
)
from ._families import (
    channel_shuffle_net,
    densenet,
    fire_net,
    inverted_residual_net,
    resnet50,
    se_net,
    unet,
)
from ._pruning import MagnitudePruner
from ._regularizers import ClusterabilityPenalty, spectral_clusterability
from ._training import accuracy, train

__all__ = [
    "CacheWarning",
    "ClusterabilityPenalty",
    "MagnitudePruner",
    "PRETRAINED_NAMES",
    "ResNet",
    "SmallCNN",
    "accuracy",
    "channel_shuffle_net",
    "densenet",
    "fire_net",
    "inverted_residual_net",
    "resnet50",
    "se_net",
    "unet",
    "default_cache_dir",
    "mlp",
    "pretrained",
    "pretrained_data",
    "resnet18",
    "small_cnn",
    "spectral_clusterability",
    "train",
    "two_digit_mlp",
    "vgg",
]
