"""The generator registry: duplicate keys and unknown keys."""

from __future__ import annotations

import pytest

from smp import features
from smp.features import GENERATORS, FeatureGenerator, get_generator, register

EXPECTED = {
    "category",
    "category_target",
    "geo",
    "hot_tags",
    "location_svd",
    "post_meta",
    "text_stats",
    "tfidf_svd",
    "time",
    "user_post_interval",
    "user_posts",
    "user_profile",
    "user_svd",
    "user_target",
}


def test_every_family_is_registered_with_a_group():
    assert EXPECTED <= set(GENERATORS)
    for name in EXPECTED:
        cls = GENERATORS.get(name)
        assert cls.group and cls.name == name
        assert isinstance(cls.requires, tuple)  # also for parameter-dependent requirements


def test_duplicate_key_is_rejected_naming_both_classes():
    class Impostor(FeatureGenerator):
        name = "time"
        group = "temporal"

    with pytest.raises(KeyError, match=r"features\.time_geo\.Time.*test_registry.*Impostor"):
        register(Impostor)
    assert GENERATORS.get("time") is features.time_geo.Time


def test_unknown_key_lists_valid_keys():
    with pytest.raises(KeyError, match=r"unknown feature generator 'nope'; valid keys: \[.*'hot_tags'.*\]"):
        get_generator("nope")


def test_bad_parameters_name_the_generator():
    with pytest.raises(TypeError, match="bad parameters for feature generator 'geo'"):
        get_generator("geo", {"cell_size": 2})
