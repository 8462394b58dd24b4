"""The feature-generator contract (see DESIGN.md and STYLE.md section 2).

A generator is a small scikit-learn-like object:

- class attributes declare its contract: ``name`` (registry key and output prefix), ``group`` (ablation group),
  ``requires`` (canonical PostFrame columns it reads), ``requires_prefix`` (it also reads every column that starts
  with one of these, e.g. ``user_``), ``uses_target`` and ``version`` (bump when the output changes; the cache key
  also hashes the generator's source files, so an edit never loads a state pickled by the earlier source);
- ``__init__`` only stores keyword parameters (they are part of the cache key);
- ``fit(frame, y)`` learns whatever state the transform needs (vocabularies, SVD bases, category codes, label
  statistics); ``transform(frame)`` computes the features for any frame with the required columns.

Static generators (``uses_target=False``) are fitted once on the whole PostFrame (train and test rows) and
``transform`` recomputes unsupervised aggregates over the frame it is given, which is how `smp predict` folds new
posts in; counts over the frame are put back on the fitted frame's scale (``at_fitted_size``). Label-using
generators (``uses_target=True``) are fitted by the engine inside each fold; their ``fit_transform`` returns
out-of-fold values so that a training row never sees its own label.

The base class does the shared work once: it selects only the declared columns (a `KeyError` lists missing and
available columns), never mutates its input, keeps the row index and checks the output names ``{name}__{stat}``.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from smp.registry import Registry

from .embedding.row_cache import RowStore


class FeatureGenerator:
    """Base class of every registered feature generator."""

    name: ClassVar[str] = ""
    group: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    requires_prefix: ClassVar[tuple[str, ...]] = ()
    uses_target: ClassVar[bool] = False
    version: ClassVar[int] = 1

    # ----------------------------------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, read back from the attributes `__init__` stored them in."""
        return {k: _plain(getattr(self, k)) for k in self._param_names()}

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {
            p.name: _plain(p.default)
            for p in sig.parameters.values()
            if p.name != "self" and p.default is not inspect.Parameter.empty
        }

    def clone(self) -> "FeatureGenerator":
        """A fresh, unfitted generator with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def cache_identity(self) -> str | None:
        """What the output depends on beyond the parameters and the input (None: nothing), for the feature cache
        key: embedding generators return their encoder's row-cache key, which names the backend an `auto`
        parameter resolves to on this machine."""
        return None

    # ------------------------------------------------------------------------------------ run context
    def use_rows(self, store: RowStore | None) -> "FeatureGenerator":
        """Hand the run's per-row embedding store to this generator (generators that embed nothing ignore it).
        Not a parameter and not pickled: where vectors are cached never changes what a generator computes."""
        self._rows = store
        return self

    @property
    def rows(self) -> RowStore:
        """The run's row store, else a private in-memory one (kept for this generator's lifetime)."""
        if getattr(self, "_rows", None) is None:
            self._rows = RowStore()
        return self._rows

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_rows", None)
        return state

    # -------------------------------------------------------------------------------------------- columns
    def input_columns(self, frame: pd.DataFrame) -> list[str]:
        """The columns this generator reads from `frame`; raises `KeyError` naming missing and available ones."""
        missing = [c for c in self.requires if c not in frame.columns]
        if missing:
            raise KeyError(
                f"feature generator {self.name!r} requires columns {missing} that the frame lacks; "
                f"available columns: {sorted(map(str, frame.columns))}"
            )
        cols = list(self.requires)
        if self.requires_prefix:
            cols += sorted(
                c for c in frame.columns if isinstance(c, str) and c.startswith(self.requires_prefix) and c not in cols
            )
        return cols

    def _select(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"feature generator {self.name!r} expects a pandas DataFrame, got {type(frame).__name__}")
        # A copy, so that subclasses can never mutate the caller's frame.
        return frame.loc[:, self.input_columns(frame)].copy()

    # ------------------------------------------------------------------------------------------- fit API
    def fit(self, frame: pd.DataFrame, y: pd.Series | None = None) -> "FeatureGenerator":
        X = self._select(frame)
        y = self._check_y(X, y)
        self._fit(X, y)
        self.fit_rows_ = len(X)
        self.fitted_ = True
        return self

    def at_fitted_size(self, counts: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        """Counts taken over the frame `transform` gets, on the scale of the frame the generator was fitted on.

        A count over the whole frame (posts in the category, the user's posts, posts with the tag) grows with the
        frame: predicting new posts recounts over training plus new posts, so without this every count would sit
        above what the models were trained on (a 10% batch of new posts lifted every category count by ~10%, and
        trees read that as another category). `counts * fitted rows / rows now` is the count itself when the
        frame is the fitted one (`smp run`, where test posts are in the fitted frame).
        """
        rows = getattr(self, "fit_rows_", len(X))
        return np.asarray(counts, dtype=float) * (rows / max(len(X), 1))

    def remember_counts(self, key: str, values, counts) -> None:
        """At fit: the count of each distinct value (e.g. of a category column) over the fitted frame, for
        `counts_as_fitted`."""
        kept = pd.Series(np.asarray(counts, dtype=float), index=pd.Index(values, dtype=object))
        self.fitted_counts_ = {**getattr(self, "fitted_counts_", {}), key: kept}

    def counts_as_fitted(self, key: str, values, counts, X: pd.DataFrame) -> np.ndarray:
        """Counts over the frame `X` (`counts`, one per entry of `values`), except that a value the fitted frame
        held keeps its count there (`remember_counts`); a value it never held is counted on the fitted frame's
        scale (`at_fitted_size`).

        Trees split on counts, and a value's count is what they learned about it: a recount with new posts in moves
        it, and with a scale for the whole frame every value the batch lacks sinks. On udemy two subjects within 3%
        of each other swapped order, and the new posts of one went down the other's branches."""
        scaled = self.at_fitted_size(counts, X)
        fitted = getattr(self, "fitted_counts_", {}).get(key)  # absent in a state pickled by an earlier version
        if fitted is None:
            return scaled
        known = fitted.reindex(pd.Index(values, dtype=object)).to_numpy(dtype=float)
        return np.where(np.isfinite(known), known, scaled)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"feature generator {self.name!r} must be fitted before transform")
        X = self._select(frame)
        return self._check_output(X, self._transform(X))

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        return self.fit(frame, y).transform(frame)

    # ------------------------------------------------------------------------------------------- subclass
    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        """Learn state from `X` (selected columns). Stateless generators keep this no-op."""

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------- checks
    def _check_y(self, X: pd.DataFrame, y: pd.Series | None) -> pd.Series | None:
        if not self.uses_target:
            return None
        if y is None:
            raise ValueError(f"feature generator {self.name!r} uses the target: fit needs y")
        y = pd.Series(np.asarray(y, dtype=float), index=X.index, name="label")
        if not np.isfinite(y.to_numpy()).all():
            bad = y[~np.isfinite(y.to_numpy())]
            raise ValueError(
                f"feature generator {self.name!r}: y must be finite on every fitted row, got {bad.iloc[0]!r} "
                f"at index {bad.index[0]!r}"
            )
        return y

    def _check_output(self, X: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
        if not out.index.equals(X.index):
            raise RuntimeError(f"feature generator {self.name!r} changed the row index")
        prefix = f"{self.name}__"
        bad = [c for c in out.columns if not str(c).startswith(prefix)]
        if bad:
            raise RuntimeError(f"feature generator {self.name!r} produced columns not named {prefix}<stat>: {bad}")
        if out.columns.duplicated().any():
            raise RuntimeError(f"feature generator {self.name!r} produced duplicate columns")
        return out


class TargetGenerator(FeatureGenerator):
    """A label-using generator: `fit_transform` returns out-of-fold values from `inner_folds` inner folds.

    `transform` (validation rows, test rows, new posts) uses statistics of every row the generator was fitted
    on. Subclasses implement `_fit` and `_transform` as for a static generator; the out-of-fold logic is here.
    """

    uses_target: ClassVar[bool] = True
    inner_folds: int = 5
    seed: int = 0

    def fit_transform(
        self, frame: pd.DataFrame, y: pd.Series | None = None, *, folds: list | None = None
    ) -> pd.DataFrame:
        """Out-of-fold values for the rows of `frame`, then a fit on all of them (for later `transform`).

        `folds` (positional train/validation index pairs over `frame`) lets the engine mirror its outer scheme,
        e.g. grouped by user, so training rows are encoded the way validation rows will be; by default a shuffled
        KFold of `inner_folds`. Rows no inner fold validates (time-ordered folds) get missing values.
        """
        X = self._select(frame)
        y = self._check_y(X, y)
        if folds is None:
            n_splits = min(int(self.inner_folds), len(X))
            if n_splits < 2:
                raise ValueError(f"feature generator {self.name!r} needs at least 2 rows, got {len(X)}")
            folds = list(KFold(n_splits, shuffle=True, random_state=self.seed).split(X))
        parts = []
        for tr, va in folds:
            inner = self.clone()
            inner._fit(X.iloc[tr], y.iloc[tr])
            inner.fitted_ = True
            parts.append(inner._transform(X.iloc[va]))
        self._fit(X, y)
        self.fitted_ = True
        template = self._transform(X.iloc[:0])
        oof = pd.concat([template, *parts]) if parts else template
        if oof.index.has_duplicates:
            raise ValueError(f"feature generator {self.name!r}: inner folds validate a row twice")
        return self._check_output(X, oof.reindex(X.index))


def _plain(value: Any) -> Any:
    """Parameters as JSON-able plain values (tuples become lists), so cache keys and configs agree."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


GENERATORS: Registry[FeatureGenerator] = Registry("feature generator", key_attr="name")


def register(cls: type[FeatureGenerator]) -> type[FeatureGenerator]:
    """Class decorator adding a generator to the registry (`smp features` lists them)."""
    if not cls.group:
        raise TypeError(f"{cls.__qualname__} must declare a `group` for ablation studies")
    return GENERATORS.register(cls)


def get_generator(name: str, params: dict | None = None) -> FeatureGenerator:
    """Instantiate the registered generator `name` with `params`."""
    return GENERATORS.create(name, params)
