"""The MLP's switchable parts: co-attention over embedding blocks, the emotion-interaction layer, the joint bins head
and the supervised contrastive losses; each switches on and off and fails clearly when its columns are missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from smp.ensembles import get_model
from smp.ensembles.models._mlp_net import supcon_loss
from smp.ensembles.models.mlp import EMOTION_COLUMNS

FAST = {"max_epochs": 6, "patience": 3, "hidden": [32, 16]}


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "c": pd.Categorical(rng.choice(["x", "y"], n))})
    for i in range(6):
        X[f"sentence__{i}"] = rng.normal(size=n)
        X[f"clip_image__{i}"] = rng.normal(size=n)
    for c in EMOTION_COLUMNS:
        X[c] = rng.normal(size=n)
    X["followers"] = rng.lognormal(5, 2, n)
    y = X["a"].to_numpy() + X[EMOTION_COLUMNS[2]].to_numpy() + rng.normal(0, 0.3, n)
    return X, y


def _fit(X, y, **params):
    return get_model("mlp", {**FAST, **params}).fit(X.iloc[:120], y[:120], X_val=X.iloc[120:], y_val=y[120:])


def test_auto_parts_follow_the_columns():
    X, y = _data()
    full = _fit(X, y)
    assert full.parts_["co_attention"] and full.parts_["emotion"] and full.parts_["classification"]
    assert full.roles_["text"] == [f"sentence__{i}" for i in range(6)]
    assert full.roles_["emotion"] == EMOTION_COLUMNS
    plain = _fit(X[["a", "c"]], y)
    assert not plain.parts_["co_attention"] and not plain.parts_["emotion"]
    assert plain.net_.co is None and plain.net_.emotion is None


@pytest.mark.parametrize("switch", ["co_attention", "emotion"])
def test_part_switched_off_changes_the_network(switch):
    X, y = _data()
    off = _fit(X, y, **{switch: False})
    assert not off.parts_[switch]
    assert not np.allclose(off.predict(X), _fit(X, y).predict(X))


def test_classification_bins_fitted_on_the_training_part():
    X, y = _data()
    m = _fit(X, y, n_bins=13)
    assert len(m.bin_edges_) == 12 and m.net_.classification.out_features == 13
    assert y[:120].min() <= m.bin_edges_.min() and m.bin_edges_.max() <= y[:120].max()
    assert _fit(X, y, n_bins=0).net_.classification is None


def test_contrastive_losses_train_with_columns():
    X, y = _data()
    m = _fit(X, y, contrastive_weight=0.2, contrastive_columns=["c"], contrastive_cluster_columns=["followers"])
    assert m.parts_["contrastive"] == 2 and m.net_.projection is not None
    assert np.isfinite(m.predict(X)).all()


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ({"co_attention": True, "text_prefixes": ["nope__"]}, ValueError, "co_attention=true needs"),
        ({"emotion": True, "emotion_columns": ["emotion_interactions__missing"]}, ValueError, "emotion=true needs"),
        ({"contrastive_weight": 0.1}, ValueError, "contrastive_columns"),
        ({"contrastive_weight": 0.1, "contrastive_columns": ["user"]}, KeyError, "contrastive column 'user'"),
        ({"loss": "l2"}, ValueError, "'loss' must be one of"),
        ({"emotion": "maybe"}, ValueError, "'auto', true or false"),
    ],
)
def test_bad_part_settings(params, exc, match):
    X, y = _data()
    with pytest.raises(exc, match=match):
        _fit(X, y, **params)


def test_non_numeric_column_named_in_error():
    X, y = _data()
    X["a"] = X["a"].astype(object)
    X.loc[3, "a"] = "abc"
    with pytest.raises(ValueError, match="column 'a' must be numeric.*'abc'"):
        _fit(X, y)


def test_supcon_loss_lower_when_labels_cluster():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    centers = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_good = torch.nn.functional.normalize(centers[labels] + 0.05 * torch.randn(8, 2), dim=1)
    z_bad = torch.nn.functional.normalize(centers[1 - labels[torch.randperm(8)]] + 0.05 * torch.randn(8, 2), dim=1)
    assert supcon_loss(z_good, labels, 0.2) < supcon_loss(z_bad, labels, 0.2)
    # missing labels (-1) are never positives: all missing gives no loss
    assert float(supcon_loss(z_good, torch.full((8,), -1), 0.2)) == 0.0
