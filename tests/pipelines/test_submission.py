from __future__ import annotations

import json
import math

import pytest

from smp.files import write_exclusive
from smp.pipelines.submission import VERSION, make_submission, validate_submission, write_submission


def test_official_format_and_prefix(tmp_path):
    sub = make_submission(["1", "2"], [2.5, 3.25], prefix="post", external_data="none")
    assert sub["version"] == VERSION
    assert sub["result"] == [{"post_id": "post1", "popularity_score": 2.5}, {"post_id": "post2", "popularity_score": 3.25}]
    assert sub["external_data"] == {"used": "true", "details": "none"}
    validate_submission(sub, ["1", "2"], prefix="post")
    path = write_submission(sub, tmp_path / "s.json")
    assert json.loads(path.read_text()) == sub


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda s: s["result"].append({"post_id": "a", "popularity_score": 1.0}), "twice"),
        (lambda s: s["result"].pop(), "misses 1 test post"),
        (lambda s: s["result"][0].update(popularity_score=math.nan), "finite"),
        (lambda s: s["result"][0].update(post_id="zzz"), "not a test post"),
        (lambda s: s.update(version="2"), "version"),
        (lambda s: s.update(external_data={"used": True}), "external_data"),
    ],
)
def test_validation_errors(mutate, match):
    sub = make_submission(["a", "b"], [1.0, 2.0])
    mutate(sub)
    with pytest.raises(ValueError, match=match):
        validate_submission(sub, ["a", "b"])


def test_never_overwrites(tmp_path):
    p = write_exclusive(tmp_path / "x.json", "first")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_exclusive(p, "second")
    assert p.read_text() == "first"
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]
