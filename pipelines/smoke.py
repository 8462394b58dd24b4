"""A small synthetic stand-in for a recipe: the same feature generators on a few hundred synthetic posts with one
fast LightGBM, for trying an ablation, an explanation or a notebook end to end in seconds (the notebooks' test
mode) before spending hours on real data."""

from __future__ import annotations

import logging

from smp.features import get_generator

from .ablation import no_stack
from .config import RunConfig

log = logging.getLogger("smp")


def smoke_config(cfg: RunConfig, *, n_posts: int = 300, n_users: int = 40, n_estimators: int = 20,
                 text_model: str | None = None) -> RunConfig:
    """The same feature recipe on a small synthetic SMPD-Image set with one fast LightGBM and 3 folds.

    For trying an ablation end to end in seconds (the notebooks' test mode) before spending hours on real data;
    generators that need columns the synthetic set lacks are dropped, with a log line naming them. `text_model`
    (a local sentence-transformers folder) replaces the model of every text embedding of the recipe (`sentence`,
    `static_embedding`, crossmodal's text side, cluster blocks of those): the shipped MiniLM costs ~40 s of CPU
    to distil into the static model on first use, more than the rest of a smoke run; None keeps the config's. A
    model2vec folder serves recipes whose text embeddings are all static (loaded as it is, no distillation); a
    sentence model given one names it in its error.
    """
    v = cfg.evolve(
        name=f"{cfg.name}-smoke",
        data={"format": "synthetic", "path": None, "options": {}, "table": {},
              "synthetic": {"n_posts": n_posts, "n_users": n_users, "seed": cfg.seed, "image_size": 0}},
        models=[{"key": "lgbm", "params": {"n_estimators": n_estimators, "num_leaves": 7}}],
        stack=no_stack(), cv={"n_splits": 3}, output={"submission": False},
        importance={"permutation": False},  # a smoke test of the flow; gain importance is still written
        tuning={"enabled": False, "models": []},
    )
    specs = _specs_for(v)
    return v.evolve(features=specs if text_model is None else [_with_text_model(s, text_model) for s in specs])


# The parameter naming the text model, per generator that embeds text with a sentence model (`clusters` embeds its
# blocks through these generators). CLIP's text tower (`clip_text`) needs a CLIP folder, so it keeps its own.
TEXT_MODEL_PARAMS = {"sentence": "model", "static_embedding": "model", "crossmodal": "text_model"}


def _with_text_model(spec, model: str):
    """`spec` with its text model (and its cluster blocks' text models) set to `model`."""
    params = dict(spec.params)
    if spec.name in TEXT_MODEL_PARAMS:
        params[TEXT_MODEL_PARAMS[spec.name]] = model
    elif spec.name == "clusters":
        blocks = get_generator("clusters", params).blocks
        given = dict(params.get("block_params") or {})
        params["block_params"] = {**given, **{b: {**dict(given.get(b) or {}), TEXT_MODEL_PARAMS[b]: model}
                                              for b in blocks if b in TEXT_MODEL_PARAMS}}
    return type(spec)(spec.name, params)


def _specs_for(cfg: RunConfig) -> list:
    """The config's feature specs whose generators find their columns in the config's data; the others (say the
    SMPD-Video media-table generators on synthetic SMPD-Image data) are dropped with a log line naming them."""
    from .data import data_root, load_frame

    columns = set(load_frame(cfg.data, cfg.output, root=data_root(cfg.data, cfg.output, False), progress=False).columns)
    kept = []
    for spec in cfg.features:
        missing = [c for c in get_generator(spec.name, spec.params).requires if c not in columns and "__" not in c]
        if missing:
            log.info("smoke config: dropping %s (the %s data lacks %s)", spec.name, cfg.data.format, missing)
        else:
            kept.append(spec)
    return kept
