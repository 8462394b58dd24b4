"""Pseudo-label selection (HyperFusion eq. 10), pseudo rows in `cross_fit`, and the round loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import CVResult, FoldFeatures, PseudoRows, cross_fit, make_folds
from smp.ensembles.models import Model
from smp.ensembles.pseudo import (
    disagreement_confidence, member_predictions, pseudo_rounds, pseudo_rows, select_confident,
)


def test_threshold_is_mu_plus_alpha_sigma_and_selects_agreeing_rows():
    members = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.5, 5.0, 4.1], [1.0, 1.5, 1.0, 3.9]])
    conf = disagreement_confidence(members)
    assert conf[0] == 0.0 and conf[2] < conf[1] < conf[3] < 0  # row 0: perfect agreement
    mask, tau = select_confident(conf, alpha=0.5)
    assert tau == pytest.approx(conf.mean() + 0.5 * conf.std())
    np.testing.assert_array_equal(mask, conf >= tau)
    assert mask[0] and not mask[2]
    # larger alpha is stricter
    assert select_confident(conf, 1.5)[0].sum() <= select_confident(conf, 0.0)[0].sum() <= select_confident(conf, -2)[0].sum()


def _result(fold_preds):
    return CVResult(oof=np.zeros(3), test_pred=np.mean(fold_preds, axis=0), fold_scores=[], scores={}, models=[],
                    importances=pd.DataFrame(), fold_test_preds=[np.asarray(p, float) for p in fold_preds])


def test_pseudo_rows_from_fold_and_model_disagreement():
    res = {"a": _result([[1, 2, 3], [1, 2.2, 5]]), "b": _result([[1, 1.8, 1], [1, 2, 2]])}
    assert member_predictions(res, "folds").shape == (4, 3)
    assert member_predictions(res, "models").shape == (2, 3)
    rows, info = pseudo_rows(res, np.array([1.0, 2.0, 3.0]), alpha=0.0, weight=0.3)
    assert list(rows.index) == [0, 1] and list(rows.y) == [1.0, 2.0] and info["n_selected"] == 2
    np.testing.assert_array_equal(rows.weights(), [0.3, 0.3])
    with pytest.raises(ValueError, match="at least 2 members"):
        member_predictions({"a": _result([[1, 2, 3]])}, "folds")
    with pytest.raises(ValueError, match="source must be one of"):
        member_predictions(res, "votes")
    with pytest.raises(ValueError, match="weight must be > 0"):
        pseudo_rows(res, np.ones(3), alpha=0.0, weight=0.0)


class Recorder(Model):
    """Mean predictor that records what each fold trained on."""

    key = "recorder_test"
    defaults = {}
    early_stops = True  # gets stopping rows (X_val): pseudo rows must never be among them

    def fit(self, X, y, *, X_val=None, y_val=None, sample_weight=None):
        self.train_ids_ = X["row_id"].to_numpy()
        self.val_ids_ = X_val["row_id"].to_numpy()
        self.y_, self.w_ = np.asarray(y), None if sample_weight is None else np.asarray(sample_weight)
        self.mean_ = float(np.average(y, weights=sample_weight))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_pseudo_rows_join_training_parts_only_with_weight():
    n, n_test = 60, 10
    X = pd.DataFrame({"row_id": np.arange(n)})
    X_test = pd.DataFrame({"row_id": 1000 + np.arange(n_test)})
    y = np.arange(1, n + 1, dtype=float)
    folds = make_folds(X, scheme="kfold", n_splits=3)
    rows = PseudoRows(np.array([2, 5, 7]), np.array([100.0, 101.0, 102.0]), 0.25)
    res = cross_fit(Recorder(), X, y, folds=folds, X_test=X_test, pseudo=rows, progress=False)
    for (tr, va), m in zip(folds, res.models):
        # Inner stopping rows come from the fold's labelled training part only; pseudo rows only ever train.
        assert set(m.train_ids_) | set(m.val_ids_) == set(tr) | {1002, 1005, 1007}
        assert len(m.val_ids_) > 0 and set(m.val_ids_) <= set(tr)
        np.testing.assert_array_equal(m.y_[-3:], [100.0, 101.0, 102.0])
        np.testing.assert_array_equal(m.w_, np.r_[np.ones(len(m.train_ids_) - 3), [0.25] * 3])
    assert res.scores["n"] == n  # OOF only on labelled rows
    with pytest.raises(ValueError, match="out of range"):
        cross_fit(Recorder(), X, y, folds=folds, X_test=X_test, pseudo=PseudoRows([10], [1.0]), progress=False)
    with pytest.raises(ValueError, match="no X_test"):
        cross_fit(Recorder(), X, y, folds=folds, pseudo=rows, progress=False)


class MeanEncoder:
    """A label-using generator that records which labels it was fitted on."""

    name = "mean_enc"
    seen: list = []

    def clone(self):
        return MeanEncoder()

    def fit_transform(self, frame, y, *, folds=None):
        MeanEncoder.seen.append(np.asarray(y).copy())
        self.mean_ = float(np.mean(y))
        return pd.DataFrame({"mean_enc__mean": np.full(len(frame), self.mean_)})

    def transform(self, frame):
        return pd.DataFrame({"mean_enc__mean": np.full(len(frame), self.mean_)})


def test_label_features_never_see_pseudo_labels():
    n = 40
    frame = pd.DataFrame({"g": np.arange(n)})
    y = np.arange(1, n + 1, dtype=float)
    X = pd.DataFrame({"row_id": np.arange(n)})
    X_test = pd.DataFrame({"row_id": 1000 + np.arange(5)})
    folds = make_folds(X, scheme="kfold", n_splits=4)
    MeanEncoder.seen = []
    ff = FoldFeatures([MeanEncoder()], frame, y, pd.DataFrame({"g": np.arange(5)}))
    rows = PseudoRows(np.arange(5), np.full(5, 1e6))  # absurd pseudo-labels would show in any encoder that saw them
    cross_fit(Recorder(), X, y, folds=folds, X_test=X_test, fold_features=ff, pseudo=rows, progress=False)
    assert len(MeanEncoder.seen) == 4 and all(s.max() <= n for s in MeanEncoder.seen)


def test_rounds_stop_when_cv_stops_improving():
    scores = iter([0.50, 0.55, 0.54, 0.99])
    calls = []

    def fit(rows):
        calls.append(None if rows is None else len(rows.index))
        s = next(scores)
        return s, s

    def select(payload):
        return PseudoRows(np.arange(3), np.ones(3)), {"tau": 0.0}

    best, history = pseudo_rounds(fit, select, rounds=5)
    assert best == 0.55 and calls == [None, 3, 3]  # round 2 did not improve: stop, keep round 1
    assert [h.accepted for h in history] == [True, True, False]
    best, history = pseudo_rounds(lambda r: (1.0, "only"), select, rounds=0)
    assert best == "only" and len(history) == 1
    # MAE: lower is better
    maes = iter([1.0, 0.9, 0.8])
    best, history = pseudo_rounds(lambda r: (s := next(maes), s), select, rounds=2, greater_is_better=False)
    assert best == 0.8 and all(h.accepted for h in history)
