"""Study options: checked at once, read from TOML, unknown keys refused with a suggestion."""

from __future__ import annotations

import pytest

from nngraph.pipeline import StudyConfig, load_config
from nngraph.pipeline._config import load_config_text


def test_defaults_are_the_papers_settings():
    c = StudyConfig()
    assert (c.model, c.k, c.graphs, c.partitioners) == (
        "mlp",
        12,
        ("weight", "activation"),
        ("spectral", "louvain"),
    )
    assert c.coherence == ("dataset", "visualization") and c.importance
    assert c.limits() == []  # the defaults can reach p < alpha


def test_toml_round_trip_keeps_every_option(tmp_path):
    config = StudyConfig(
        model="small_cnn",
        epochs=3,
        graphs="activation",
        partitioners=("spectral", "louvain:resolution=2"),
        coherence=(),
        importance=False,
        n_random=99,
        min_size=3,
        alpha=0.1,
        prune=0.9,
        l1=5e-5,
        cluster_lambda=0.1,
        cluster_k=3,
    )
    path = tmp_path / "study.toml"
    path.write_text(config.to_toml())
    assert load_config(path) == config
    assert load_config(path, k=5) == config.replace(k=5)  # flags win over the file


def test_a_study_table_is_accepted():
    assert load_config_text("[study]\nk = 7\n").k == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "n_shufles = 3",
            r"unknown option 'n_shufles' in .*t.toml \(did you mean 'n_shuffles'\?\)",
        ),
        ("graph = 'weight'", r"did you mean 'graphs'"),
        ("zzz = 1", r"unknown option 'zzz' in .*t.toml$"),
        ("k = ", "t.toml is not valid TOML"),
        ("[other]\nk = 3", r"unexpected table \[other\]"),
        ("k = 1", "k must be an integer >= 2"),
        ("graphs = ['weights']", "graphs must be one of"),
        ("coherence = ['data']", "coherence must be one of"),
        ("alpha = 0", "alpha must be"),
        ("jobs = 0", "jobs must be an integer >= 1"),
        ("partitioners = [1]", "partitioners must hold strings"),
        ("prune = 1.0", "prune must be"),
        ("l1 = -0.1", "l1 must be"),
        ("cluster_k = 1", "cluster_k must be an integer >= 2"),
    ],
)
def test_bad_files_are_refused_with_what_and_where(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_a_missing_file_is_named():
    with pytest.raises(FileNotFoundError, match="'nope.toml' does not exist"):
        load_config("nope.toml")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"n_shuffles": 1}, "z is undefined with one shuffle"),
        ({"n_shuffles": 10}, "1/11 = 0.0909, above alpha = 0.05"),
        ({"n_random": 9}, "with 9 random sets per sub-cluster"),
    ],
)
def test_limits_say_when_no_test_can_be_significant(options, fragment):
    (message,) = StudyConfig(**options).limits()
    assert fragment in message


def test_limits_follow_alpha():
    assert StudyConfig(n_shuffles=10, alpha=0.1).limits() == []


def test_training_options_are_refused_for_a_network_of_yours():
    # A "module:function" network, or one passed in, is used as built: training options
    # would be written into config.toml and the report without having been applied.
    import torch.nn as nn

    import nngraph as ng

    with pytest.raises(ValueError, match="dropout, prune train a bundled network"):
        StudyConfig(model="mymod:make", dropout=0.5, prune=0.5)
    assert StudyConfig(model="mymod:make").training_options() == []
    assert StudyConfig(prune=0.5).training_options() == ["prune"]
    with pytest.raises(ValueError, match="prune trains a bundled network; a network passed"):
        ng.study(model=nn.Linear(2, 2), data=None, prune=0.5)


def test_normalize_needs_a_weight_graph():
    with pytest.raises(ValueError, match="normalize applies to weight graphs"):
        StudyConfig(graphs="activation", normalize=True)
    assert StudyConfig(graphs=("weight", "activation"), normalize=True).normalize


def test_a_layer_null_needs_no_activation_graph():
    with pytest.raises(ValueError, match=r"null 'layer' \(--null\) permutes the weights between"):
        StudyConfig(null="layer")  # both graphs by default
    assert StudyConfig(null="layer_nonzero", graphs="weight").null == "layer_nonzero"
    assert StudyConfig(null="layer", n_shuffles=0).n_shuffles == 0  # no shuffles: no null


def test_a_file_and_its_overrides_are_checked_together(tmp_path):
    from nngraph.pipeline import load_config

    path = tmp_path / "layer.toml"
    path.write_text('null = "layer"\n')
    assert load_config(path, graphs=("weight",)).null == "layer"  # valid once merged
    with pytest.raises(ValueError, match="permutes the weights between layers"):
        load_config(path)
