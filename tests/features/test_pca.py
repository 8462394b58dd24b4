"""`CovariancePCA`: scikit-learn's covariance-eigh PCA, accumulated over row chunks, order-free, no float64 copy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from smp.features.embedding import pca
from smp.features.embedding.pca import CovariancePCA, finite_rows, fit_pca, pca_transform, row_order


@pytest.fixture
def R():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(3000, 24)) @ rng.normal(size=(24, 24)) + 5.0).astype(np.float32)


def test_equals_scikit_learn_covariance_eigh(R, monkeypatch):
    monkeypatch.setattr(pca, "CHUNK_ROWS", 700)  # several chunks, one partial
    ours = CovariancePCA(6).fit(R)
    ref = PCA(n_components=6, svd_solver="covariance_eigh").fit(R.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(np.abs(ours.components_ @ ref.components_.T), np.eye(6), atol=1e-8)
    np.testing.assert_allclose(np.abs(ours.transform(R)), np.abs(ref.transform(R.astype(np.float64))), atol=1e-8)
    # the sign rule: each component's largest-magnitude loading is positive
    top = ours.components_[np.arange(6), np.abs(ours.components_).argmax(axis=1)]
    assert (top > 0).all()


def test_row_order_and_dtype_do_not_change_the_basis(R):
    a = fit_pca(R, 5)
    b = fit_pca(R[np.random.default_rng(1).permutation(len(R))], 5)
    c = fit_pca(R.astype(np.float64), 5)
    assert isinstance(a, CovariancePCA)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.transform(R), b.transform(R))
    np.testing.assert_array_equal(a.components_, c.components_)


def test_wide_or_small_blocks_keep_scikit_learn(R):
    assert isinstance(fit_pca(R[:100], 5), PCA)  # fewer than 10 rows per column


def test_a_row_mask_equals_the_selected_rows(R):
    mask = np.random.default_rng(2).random(len(R)) < 0.7
    a, b = CovariancePCA(4).fit(R, rows=mask), CovariancePCA(4).fit(R[mask])
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.transform(R, rows=mask), b.transform(R[mask]))


def test_fit_pca_with_a_row_mask_equals_it_on_the_selected_rows(R):
    mask = np.random.default_rng(3).random(len(R)) < 0.5
    for rows in (R, R[:100]):  # the chunked PCA and scikit-learn's
        m = mask[: len(rows)]
        a, b = fit_pca(rows, 4, rows=m), fit_pca(rows[m], 4)
        np.testing.assert_array_equal(pca_transform(a, rows, m), pca_transform(b, rows[m]))


@pytest.mark.parametrize("seed", range(4))
def test_row_order_is_numpy_lexsort_of_the_rows(seed):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(4000, 40)).astype(np.float32)
    R[100:300] = R[7]  # identical rows: kept in their original order
    R[500:560, 0] = R[9, 0]  # ties in the first column broken by the others
    R[600:620, :3] = np.nan  # NaN sorts last, NaN rows tie with each other
    R[700:710, 0], R[710:720, 0] = 0.0, -0.0  # -0.0 ties 0.0
    want = np.lexsort(R.T[::-1])
    np.testing.assert_array_equal(row_order(R), want)
    np.testing.assert_array_equal(row_order(R.astype(np.float64)), want)
    few = rng.integers(0, 3, size=(500, 5))  # a column of few values: the full sort
    np.testing.assert_array_equal(row_order(few), np.lexsort(few.T[::-1]))
    np.testing.assert_array_equal(row_order(R[:1]), [0])
    np.testing.assert_array_equal(row_order(R[:, :1]), np.lexsort(R[:, :1].T[::-1]))


def test_finite_rows_is_row_wise_isfinite_all(monkeypatch):
    monkeypatch.setattr(pca, "CHUNK_ROWS", 7)
    R = np.random.default_rng(0).normal(size=(50, 4))
    R[3, 1], R[20, 0], R[49, 3] = np.nan, np.inf, -np.inf
    np.testing.assert_array_equal(finite_rows(R), np.isfinite(R).all(axis=1))
