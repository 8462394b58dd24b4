"""`captions` on a tiny random BLIP: real loading and generation, the per-row text cache, text generators reading
the captions, the image-text match score and the CPU warning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from smp.features import RowStore, get_generator
from smp.features.embedding.row_cache import RowCache
from tests._data import make_postframe, write_images
from tests._tiny_blip import tiny_blip_dir


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    f = make_postframe(n_posts=12, n_users=4, seed=5)
    f["image_path"] = write_images(f, tmp_path_factory.mktemp("images"), skip_every=4)  # rows 0, 4, 8: no file
    return f


def captions(**params):
    base = {"model": tiny_blip_dir(), "text": {"tfidf_svd": {"n_components": 3, "min_df": 1}},
            "max_new_tokens": 5, "device": "cpu", "batch_size": 4}
    return get_generator("captions", {**base, **params})


def test_captions_are_generated_cached_and_read_by_text_generators(frame, tmp_path):
    from smp.features.captions import caption_images, load_captioner

    gen = captions().use_rows(RowStore(tmp_path))
    with pytest.warns(RuntimeWarning, match="captions.*runs its model on 'cpu' for 9 rows"):
        out = gen.fit_transform(frame)
    assert gen.rows_computed_ >= 9
    missing = frame.index[[0, 4, 8]]
    assert out.loc[missing, "captions__words"].isna().all()
    assert out.drop(missing)["captions__words"].between(1, 5).all()
    tfidf = [c for c in out.columns if c.startswith("captions__tfidf_svd_description_")]
    assert len(tfidf) == 3 and np.isfinite(out[tfidf].to_numpy()).all()

    # The texts are what the model writes for those images.
    texts, _, payload = gen.texts(frame)
    _, processor = load_captioner(tiny_blip_dir(), "cpu")
    direct = caption_images(tiny_blip_dir(), gen._images(payload, [1, 2]), device="cpu", batch_size=2,
                            prompt=None, max_new_tokens=5, num_beams=1)
    assert list(texts[[1, 2]]) == direct and texts[0] is None

    # A second run on the same folder computes nothing and warns about nothing.
    again = captions().use_rows(RowStore(tmp_path))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*runs its model")
        out2 = again.fit_transform(frame)
    assert again.rows_computed_ == 0 and again.rows_cached_ > 0
    pd.testing.assert_frame_equal(out2, out)
    assert RowCache(gen._text_key(), RowStore(tmp_path)).dir.is_dir()


def test_match_score_is_the_decoders_likelihood_of_title_and_tags(frame):
    import torch

    from smp.features.captions import load_captioner, post_texts

    gen = captions(text={}).use_rows(RowStore())
    with pytest.warns(RuntimeWarning):
        out = gen.fit_transform(frame)
    score = out["captions__match"]
    words = post_texts(frame)
    i = next(k for k in range(1, len(frame)) if k % 4 and words[k])
    net, processor = load_captioner(tiny_blip_dir(), "cpu")
    _, _, payload = gen.texts(frame)
    enc = processor(images=gen._images(payload, [i]), text=[words[i]], return_tensors="pt")
    ids = enc["input_ids"].clone()
    ids[:, 0] = net.config.text_config.bos_token_id
    with torch.inference_mode():
        logits = net(pixel_values=enc["pixel_values"], input_ids=ids, attention_mask=enc["attention_mask"]).logits
    want = torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None]).mean().item()
    assert score.iloc[i] == pytest.approx(want, rel=1e-4)
    assert score.iloc[[0, 4, 8]].isna().all()
    assert (score.dropna() < 0).all()
    # Another title for the same image: another score (the text is part of the row's key).
    changed = frame.assign(title=frame["title"] + " zebra")
    with pytest.warns(RuntimeWarning):
        out2 = captions(text={}).use_rows(gen.rows).fit_transform(changed)
    assert out2["captions__match"].iloc[i] != score.iloc[i]


@pytest.mark.parametrize("params, match", [
    ({"text": {"word2vec": {}}}, "`text` generators must be among"),
    ({"text": ["sentence"]}, "must map text generator names"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
])
def test_bad_parameters(frame, params, match):
    with pytest.raises(ValueError, match=match):
        captions(**params).use_rows(RowStore()).fit(frame)


def test_a_model_that_is_not_blip_is_refused(frame):
    from tests._tiny_clip import tiny_clip_dir

    with pytest.raises(ValueError, match="need a BLIP"):
        captions(model=tiny_clip_dir()).use_rows(RowStore()).fit(frame)
