"""Text statistics and TF-IDF + SVD vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import FeatureSpec, build_features, get_generator
from tests._data import make_postframe


def test_text_stats_hand_values():
    X = pd.DataFrame(
        {
            "title": ["Hello World 42", "Café", "", "ÉTÉ ٣"],
            "tags": [["ab", "cde"], [], ["x"], ["été"]],
            "description": ["one two  three", "", "", "x"],
        }
    )
    out = get_generator("text_stats").fit_transform(X)
    p = "text_stats__"
    assert out[f"{p}title_chars"].tolist() == [14, 4, 0, 5]
    assert out[f"{p}title_words"].tolist() == [3, 1, 0, 2]
    assert out[f"{p}has_title"].tolist() == [1, 1, 0, 1]
    np.testing.assert_allclose(out[f"{p}title_upper_ratio"], [2 / 14, 1 / 4, np.nan, 3 / 5])  # Unicode uppercase
    np.testing.assert_allclose(out[f"{p}title_digit_ratio"], [2 / 14, 0, np.nan, 1 / 5])  # Arabic-Indic three
    np.testing.assert_allclose(out[f"{p}title_nonascii_ratio"], [0, 1 / 4, np.nan, 3 / 5])
    assert out[f"{p}tag_count"].tolist() == [2, 0, 1, 1]
    np.testing.assert_allclose(out[f"{p}tag_len_mean"], [2.5, np.nan, 1, 3])
    assert out[f"{p}description_chars"].tolist() == [14, 0, 0, 1]
    assert out[f"{p}description_words"].tolist() == [3, 0, 0, 1]


def test_tfidf_svd_instances_on_different_columns_do_not_collide():
    frame = make_postframe()
    specs = [
        FeatureSpec("tfidf_svd", {"column": "title", "n_components": 3}),
        FeatureSpec("tfidf_svd", {"column": "tags", "n_components": 5}),
    ]
    fs = build_features(frame, specs, progress=False)
    assert list(fs.static.columns) == [f"tfidf_svd__title_{i}" for i in range(3)] + [
        f"tfidf_svd__tags_{i}" for i in range(5)
    ]
    assert fs.static.dtypes.eq(np.float32).all()
    assert fs.static.abs().sum().gt(0).all()


def test_tfidf_svd_projects_new_text_on_the_fitted_vocabulary():
    X = pd.DataFrame({"title": ["red apple", "green apple", "red car", "blue car", "red red sky"]})
    gen = get_generator("tfidf_svd", {"n_components": 2, "min_df": 1}).fit(X)
    assert sorted(gen.vectorizer_.vocabulary_) == ["apple", "blue", "car", "green", "red", "sky"]
    out = gen.transform(pd.DataFrame({"title": ["red apple", "unknown words only", ""]}, index=[7, 8, 9]))
    pd.testing.assert_series_equal(out.loc[7], gen.transform(X).iloc[0].rename(7))
    assert (out.loc[[8, 9]] == 0).all().all()


def test_tfidf_svd_small_or_empty_vocabulary_pads_with_zeros():
    X = pd.DataFrame({"title": ["a b", "a b", "b a"], "description": ["", "", ""]})
    out = get_generator("tfidf_svd", {"n_components": 4}).fit_transform(X)
    assert out.shape == (3, 4) and (out.iloc[:, 2:] == 0).all().all()
    empty = get_generator("tfidf_svd", {"column": "description"}).fit_transform(X)
    assert empty.shape == (3, 16) and (empty == 0).all().all()


def test_tfidf_svd_tags_are_whole_tokens():
    X = pd.DataFrame({"tags": [["new-york", "c++"], ["new-york"], ["c++", "x"]]})
    gen = get_generator("tfidf_svd", {"column": "tags", "min_df": 1, "n_components": 2}).fit(X)
    assert sorted(gen.vectorizer_.vocabulary_) == ["c++", "new-york", "x"]


def test_tfidf_svd_rejects_unknown_column():
    with pytest.raises(ValueError, match=r"`column` must be one of \['title', 'tags', 'description'\]"):
        get_generator("tfidf_svd", {"column": "body"}).fit(pd.DataFrame({"body": ["x"]}))


def test_words_marks_the_frequent_words_and_pairs_of_a_column():
    frame = pd.DataFrame({"post_id": list("abcde"), "title": ["Python for beginners", "Excel for beginners",
                                                             "python bootcamp", "", None]})
    gen = get_generator("words", {"n_words": 4, "min_df": 2})
    out = gen.fit_transform(frame)
    assert gen.vocabulary_ == ["beginners", "for", "for beginners", "python"]
    assert list(out.columns) == [f"words__title_{i}" for i in range(4)]
    np.testing.assert_array_equal(out.to_numpy()[:, 3], [1, 0, 1, 0, 0])  # "python", any case
    np.testing.assert_array_equal(out.to_numpy()[:, 2], [1, 1, 0, 0, 0])
    wide = get_generator("words", {"n_words": 10, "min_df": 2}).fit_transform(frame)
    assert wide.shape == (5, 10) and (wide.iloc[:, 4:] == 0).all().all()  # fewer terms than columns: zeros
    empty = get_generator("words", {"n_words": 3, "min_df": 9}).fit_transform(frame)
    assert (empty.to_numpy() == 0).all()
