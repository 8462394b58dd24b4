"""Forward windows: train on the earlier labelled posts, score the later ones, the way a challenge scores a team.

The labelled posts are ordered by `post_time` (ties by `post_id`, a stable order). The latest `span` of them is cut
into `count` consecutive blocks of (nearly) equal size; window k scores block k and trains on every labelled post
before it (expanding), or on the `train_size` posts right before it (sliding; by default as many as the first
window has). Unlabelled (test) posts stay in every fit frame, so the unsupervised features see them as in `smp run`.
No window ever trains on a post of its own block or on a later one.

    windows = forward_windows(frame, count=4, span=0.4)     # the last 40% in four blocks of 10%
    for w in windows: fit on w.fit, score w.held
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MIN_HELD = 20  # posts a window must score: SRC over fewer has a standard error above ~0.2
MIN_TRAIN = 20  # labelled posts a window must train on


@dataclass(frozen=True)
class Window:
    """One forward window: `fit` (earlier labelled posts plus every unlabelled post) and `held` (the block)."""

    index: int  # 1-based, in time order
    fit: pd.DataFrame
    held: pd.DataFrame

    def describe(self) -> dict:
        """Sizes and time ranges, as the reports show them."""
        train = self.fit[self.fit["split"].eq("train")]
        return {"window": self.index, "train": len(train), "unlabelled": int(self.fit["split"].eq("test").sum()),
                "held_back": len(self.held), "train_from": str(train["post_time"].min()),
                "train_until": str(train["post_time"].max()), "held_from": str(self.held["post_time"].min()),
                "held_until": str(self.held["post_time"].max())}


def time_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The labelled posts of `frame` in forward order: by post_time, ties by post_id (a deterministic order)."""
    labelled = frame[frame["label"].notna() & (frame["split"].eq("train") if "split" in frame.columns else True)]
    return labelled.sort_values(["post_time", "post_id"], kind="mergesort")


def forward_windows(frame: pd.DataFrame, count: int = 4, span: float = 0.4, *, sliding: bool = False,
                    train_size: int | None = None) -> list[Window]:
    """`count` forward windows over the latest `span` of the labelled posts (see the module docstring)."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"the number of windows must be an integer >= 1, but got {count!r}")
    if not 0.0 < span < 1.0:
        raise ValueError(f"`0 < span < 1` must hold for the share of posts the windows score, but got span={span!r}")
    order = time_order(frame)
    n = len(order)
    start = n - int(round(span * n))
    bounds = [start + (n - start) * k // count for k in range(count + 1)]
    size = min(b - a for a, b in zip(bounds, bounds[1:]))
    if size < MIN_HELD:
        raise ValueError(f"{count} window(s) over the latest {span:.0%} of {n} labelled posts score {size} posts "
                         f"each, too few to score (at least {MIN_HELD}): use fewer windows or a larger span")
    if sliding and train_size is None:
        train_size = start
    if start < MIN_TRAIN or (sliding and train_size < MIN_TRAIN):
        raise ValueError(f"the first window trains on {min(start, train_size or start)} labelled posts, too few "
                         f"(at least {MIN_TRAIN}): use a smaller span")
    unlabelled = frame[~frame["split"].eq("train")]
    out = []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:]), start=1):
        train = order.iloc[max(0, a - train_size) if sliding else 0:a]
        fit = pd.concat([train, unlabelled]).sort_index().reset_index(drop=True)
        out.append(Window(k, fit, order.iloc[a:b].reset_index(drop=True)))
    return out


def forward_split(frame: pd.DataFrame, holdout_frac: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit frame, held-back posts): one window, the latest `holdout_frac` of the labelled posts."""
    if not 0.0 < holdout_frac < 1.0:
        raise ValueError(f"`0 < holdout_frac < 1` must hold, but got holdout_frac={holdout_frac!r}")
    try:
        (w,) = forward_windows(frame, 1, holdout_frac)
    except ValueError as e:
        raise ValueError(f"holdout_frac={holdout_frac}: {e}") from e
    return w.fit, w.held


def latest_labelled(posts: pd.DataFrame, frac: float) -> pd.DataFrame:
    """The most recent `frac` of the labelled posts (at least 2) in forward order: the validation window of
    `smp retrain`."""
    order = time_order(posts)
    n = max(2, int(round(frac * len(order))))
    if len(order) < n:
        raise ValueError(f"the validation window needs at least 2 labelled posts, got {len(order)}")
    return order.iloc[-n:].reset_index(drop=True)
