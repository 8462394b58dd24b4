"""Pseudo-labels on unlabelled test rows (HyperFusion section 3.5), as pure functions with named thresholds.

Confidence of a test row is how much the ensemble members agree on it: minus the standard deviation of the
members' predictions (every fold model of every level-1 learner, or every learner's fold mean). Rows whose
confidence is at or above tau = mu + alpha * sigma of the confidence scores (eq. 10; larger alpha = stricter) are
selected, labelled with the ensemble's prediction, and join every fold's training part with a sample weight; a
round is kept only when the cross-validated score improves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._cv import CVResult, PseudoRows

SOURCES = ("folds", "models")


def member_predictions(results: dict[str, CVResult], source: str = "folds") -> np.ndarray:
    """Test predictions of the ensemble members, shape (members, test rows)."""
    if source not in SOURCES:
        raise ValueError(f"pseudo source must be one of {SOURCES}, got {source!r}")
    if source == "models":
        preds = [r.test_pred for r in results.values() if r.test_pred is not None]
    else:
        preds = [p for r in results.values() for p in r.fold_test_preds]
    if len(preds) < 2:
        raise ValueError(f"pseudo-label confidence needs at least 2 members' test predictions, got {len(preds)} "
                         f"(source={source!r})")
    return np.vstack(preds)


def disagreement_confidence(members: np.ndarray) -> np.ndarray:
    """Confidence per row = minus the standard deviation of the members' predictions (agreement is confidence)."""
    members = np.asarray(members, dtype=float)
    if members.ndim != 2:
        raise ValueError(f"members must be a 2-d (members, rows) array, got shape {members.shape}")
    return -members.std(axis=0)


def select_confident(confidence: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Mask of rows with confidence >= tau, tau = mu + alpha * sigma (HyperFusion eq. 10), and tau."""
    confidence = np.asarray(confidence, dtype=float)
    ok = np.isfinite(confidence)
    if not ok.any():
        return np.zeros(len(confidence), dtype=bool), float("nan")
    tau = float(confidence[ok].mean() + alpha * confidence[ok].std())
    return ok & (confidence >= tau), tau


def pseudo_rows(results: dict[str, CVResult], labels: np.ndarray, *, alpha: float, weight: float,
                source: str = "folds") -> tuple[PseudoRows, dict[str, float]]:
    """Pseudo rows from the members' disagreement on the test rows, labelled with `labels` (the ensemble's
    test prediction)."""
    if weight <= 0:
        raise ValueError(f"pseudo-label weight must be > 0, got {weight}")
    conf = disagreement_confidence(member_predictions(results, source))
    labels = np.asarray(labels, dtype=float)
    mask, tau = select_confident(conf, alpha)
    mask &= np.isfinite(labels)
    idx = np.flatnonzero(mask)
    return PseudoRows(idx, labels[idx], weight), {"n_selected": int(len(idx)), "tau": tau,
                                                  "confidence_mean": float(conf.mean()),
                                                  "confidence_std": float(conf.std())}


@dataclass
class PseudoRound:
    round: int
    n_selected: int
    score: float
    accepted: bool
    info: dict[str, Any] = field(default_factory=dict)


def pseudo_rounds(fit: Callable[[PseudoRows | None], tuple[float, Any]],
                  select: Callable[[Any], tuple[PseudoRows, dict]], *, rounds: int, greater_is_better: bool = True,
                  min_gain: float = 0.0, log: Callable[[str], None] | None = None) -> tuple[Any, list[PseudoRound]]:
    """Round 0 fits without pseudo rows; round r selects pseudo rows from the best fit so far and refits. The loop
    stops at `rounds` or at the first round whose CV score does not improve by more than `min_gain`.

    `fit(pseudo) -> (cv score, payload)`; `select(payload) -> (PseudoRows, info)`. Returns the best payload and
    the per-round history (n selected, CV score, accepted).
    """
    if rounds < 0:
        raise ValueError(f"pseudo rounds must be >= 0, got {rounds}")
    score, best = fit(None)
    history = [PseudoRound(0, 0, score, True)]
    if log:
        log(f"pseudo round 0: no pseudo rows, CV {score:.4f}")
    sign = 1.0 if greater_is_better else -1.0
    for r in range(1, rounds + 1):
        rows, info = select(best)
        if len(rows.index) == 0:
            history.append(PseudoRound(r, 0, float("nan"), False, info))
            break
        new_score, payload = fit(rows)
        accepted = bool(np.isfinite(new_score) and sign * (new_score - score) > min_gain)
        history.append(PseudoRound(r, len(rows.index), new_score, accepted, info))
        if log:
            log(f"pseudo round {r}: {len(rows.index)} rows (tau {info.get('tau', float('nan')):.4f}), CV {new_score:.4f}"
                f" -> {'kept' if accepted else 'dropped, stopping'}")
        if not accepted:
            break
        score, best = new_score, payload
    return best, history
