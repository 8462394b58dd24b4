"""MLP learner built from the papers the project follows, every part switchable by a parameter:

- ``loss="huber"`` (HyperFusion eq. 7, `huber_delta` in label standard deviations) or ``"mse"``;
- batch-norm hierarchical trunk (`hidden` widths, `dropout`);
- ``co_attention``: text/visual co-attention over the embedding columns named by `text_prefixes` /
  `visual_prefixes` (generator outputs ``{name}__{i}``);
- ``emotion``: the emotion-interaction layer of EIJL eq. 2 over `emotion_columns` (the
  ``emotion_interactions__*`` generator's outputs);
- ``n_bins`` > 0: a joint classification head over label bins fitted on the training part (EIJL: 13 bins),
  weight `cls_weight`;
- ``contrastive_weight`` > 0: supervised contrastive losses (PPCL) with two dropout views per batch, one loss per
  column of `contrastive_columns` (identity / category labels: user id, category) and of
  `contrastive_cluster_columns` (numeric, k-means clusters of log1p values fitted on the training part: follower
  count). The ensembles package never sees the post table, so these labels come in as X columns.

``"auto"`` switches a part on when its columns are present. Inputs are encoded on the training part only
(`TabularEncoder`), the network is trained with early stopping on the validation part, seeded and deterministic on
CPU, and fitted state is kept on the CPU so pickles load anywhere.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ._base import Model, register_model
from ._neural import TabularEncoder, deterministic, require_torch, resolve_device

EMOTION_COLUMNS = [
    "emotion_interactions__txt_emo",
    "emotion_interactions__img_emo",
    "emotion_interactions__likability",
    "emotion_interactions__txt_x_img",
    "emotion_interactions__txt_x_img_x_like",
]
TEXT_PREFIXES = ["sentence__", "clip_text__", "glove__", "word2vec__"]
VISUAL_PREFIXES = ["clip_image__", "image_encoder__"]


LOSSES = ("huber", "mse", "l1", "mape")
# Hidden-layer choices of the search space, by name (Optuna's categorical values must be plain scalars).
HIDDEN = {"256-128-64": [256, 128, 64], "128-64": [128, 64], "512-256-128": [512, 256, 128], "64-32": [64, 32]}


def _switch(value, name: str):
    if value not in ("auto", True, False):
        raise ValueError(f"mlp parameter {name!r} must be 'auto', true or false, got {value!r}")
    return value


@register_model
class MLPModel(Model):
    key = "mlp"
    summary = "PyTorch MLP: Huber loss, BN trunk, co-attention, emotion layer, joint bins head, SupCon (PPCL)"
    seed_param = "seed"
    early_stops = True
    rounds_param = "max_epochs"
    # The run metric's loss (also the early-stopping loss on the stopping rows).
    objectives = {"src": {"loss": "mse"}, "mse": {"loss": "mse"}, "mae": {"loss": "l1"}, "mape": {"loss": "mape"},
                  "smp": {"loss": "huber"}}
    defaults = {
        "hidden": [256, 128, 64],
        "dropout": 0.2,
        "learning_rate": 1e-3,
        "weight_decay": 1e-5,
        "batch_size": 256,
        "max_epochs": 150,
        "patience": 15,
        "loss": "huber",
        "huber_delta": 1.0,
        "co_attention": "auto",
        "text_prefixes": TEXT_PREFIXES,
        "visual_prefixes": VISUAL_PREFIXES,
        "co_dim": 32,
        "co_tokens": 4,
        "co_heads": 4,
        "emotion": "auto",
        "emotion_columns": EMOTION_COLUMNS,
        "n_bins": 13,
        "cls_weight": 0.3,
        "contrastive_weight": 0.0,
        "contrastive_columns": [],
        "contrastive_cluster_columns": [],
        "contrastive_clusters": 10,
        "contrastive_temperature": 0.2,
        "proj_dim": 32,
        "seed": 0,
        "device": "auto",
    }

    @staticmethod
    def search_space(trial):
        return {
            "hidden": HIDDEN[trial.suggest_categorical("hidden", list(HIDDEN))],
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
            "huber_delta": trial.suggest_float("huber_delta", 0.3, 3.0, log=True),
            "cls_weight": trial.suggest_float("cls_weight", 0.0, 1.0),
        }

    # ---- column roles -------------------------------------------------------------------------------------
    def _roles(self, X: pd.DataFrame) -> dict[str, list[str]]:
        p = self.params
        co, emo = _switch(p["co_attention"], "co_attention"), _switch(p["emotion"], "emotion")
        text = [c for c in X.columns if any(str(c).startswith(q) for q in p["text_prefixes"])]
        visual = [c for c in X.columns if any(str(c).startswith(q) for q in p["visual_prefixes"])]
        if co is True and not (text and visual):
            raise ValueError(f"mlp co_attention=true needs text columns (prefixes {p['text_prefixes']}) and visual "
                             f"columns (prefixes {p['visual_prefixes']}); found {len(text)} text, {len(visual)} visual")
        if co is False or not (text and visual):
            text, visual = [], []
        emotion = [c for c in p["emotion_columns"] if c in X.columns]
        if emo is True and len(emotion) < len(p["emotion_columns"]):
            missing = [c for c in p["emotion_columns"] if c not in X.columns]
            raise ValueError(f"mlp emotion=true needs columns {missing} (add the emotion_interactions generator)")
        if emo is False or len(emotion) < len(p["emotion_columns"]):
            emotion = []
        used = set(text) | set(visual) | set(emotion)
        return {"text": text, "visual": visual, "emotion": emotion,
                "rest": [c for c in X.columns if c not in used]}

    def _tensors(self, X: pd.DataFrame):
        torch = require_torch()
        enc, r = self.encoder_, self.roles_
        num = enc.numeric_matrix(X[r["rest"]])
        block = lambda cols: (self.block_encoder_.numeric_matrix(X[cols], cols) if cols
                              else np.zeros((len(X), 0), dtype=np.float32))
        return (torch.from_numpy(num), torch.from_numpy(enc.category_codes(X[r["rest"]])),
                torch.from_numpy(block(r["text"])), torch.from_numpy(block(r["visual"])),
                torch.from_numpy(block(r["emotion"])))

    def _contrastive_labels(self, X: pd.DataFrame) -> list[np.ndarray]:
        p, out = self.params, []
        for c in p["contrastive_columns"]:
            if c not in X.columns:
                raise KeyError(f"mlp contrastive column {c!r} is not in X; available: {sorted(map(str, X.columns))[:20]}")
            out.append(pd.factorize(X[c].astype(object), use_na_sentinel=True)[0].astype(np.int64))
        for c in p["contrastive_cluster_columns"]:
            if c not in X.columns:
                raise KeyError(f"mlp contrastive cluster column {c!r} is not in X")
            from sklearn.cluster import KMeans

            v = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(v)
            lab = np.full(len(v), -1, dtype=np.int64)
            x = np.log1p(np.abs(v[ok])).reshape(-1, 1)
            k = int(min(p["contrastive_clusters"], len(np.unique(x))))
            if k >= 2:
                lab[ok] = KMeans(k, n_init=4, random_state=int(p["seed"])).fit_predict(x)
            out.append(lab)
        return out

    # ---- fit / predict ------------------------------------------------------------------------------------
    def _fit(self, X, y, X_val, y_val, sample_weight):
        torch = require_torch()
        from ._mlp_net import MLPNet, supcon_loss

        p = self.params
        if p["loss"] not in LOSSES:
            raise ValueError(f"mlp parameter 'loss' must be one of {LOSSES}, got {p['loss']!r}")
        self.roles_ = self._roles(X)
        self.encoder_ = TabularEncoder.fit(X[self.roles_["rest"]])
        blocks = self.roles_["text"] + self.roles_["visual"] + self.roles_["emotion"]
        self.block_encoder_ = TabularEncoder.fit(X[blocks].astype(float), indicators=False)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        n_bins = int(p["n_bins"])
        if n_bins > 1:  # quantile bins of the training labels (EIJL: 13 classes of the label)
            edges = np.unique(np.quantile(y, np.linspace(0, 1, n_bins + 1)[1:-1]))
            self.bin_edges_ = edges
            classes = np.searchsorted(edges, y, side="right")
            n_bins = len(edges) + 1
        else:
            self.bin_edges_, classes, n_bins = np.array([]), np.zeros(len(y), dtype=np.int64), 0
        con = self._contrastive_labels(X) if p["contrastive_weight"] > 0 else []
        if p["contrastive_weight"] > 0 and not con:
            raise ValueError("mlp contrastive_weight > 0 needs contrastive_columns or contrastive_cluster_columns")
        device = resolve_device(p["device"])
        self.parts_ = {"co_attention": bool(self.roles_["text"]), "emotion": bool(self.roles_["emotion"]),
                       "classification": n_bins > 0, "contrastive": len(con), "loss": p["loss"]}

        with deterministic(int(p["seed"])):
            net = MLPNet(n_numeric=len(self.encoder_.numeric) + len(self.encoder_.with_nan_),
                         cardinalities=self.encoder_.cardinalities(), text_dim=len(self.roles_["text"]),
                         visual_dim=len(self.roles_["visual"]), n_emotion=len(self.roles_["emotion"]),
                         hidden=list(p["hidden"]), dropout=float(p["dropout"]), co_dim=int(p["co_dim"]),
                         co_tokens=int(p["co_tokens"]), co_heads=int(p["co_heads"]), n_bins=n_bins,
                         proj_dim=int(p["proj_dim"]) if con else 0).to(device)
            train = [t.to(device) for t in self._tensors(X)]
            target = torch.tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32, device=device)
            cls_t = torch.tensor(classes, dtype=torch.long, device=device)
            con_t = [torch.tensor(c, device=device) for c in con]
            w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
            w = w * self._loss_weights(y)
            w_t = torch.tensor(w / w.mean(), dtype=torch.float32, device=device)
            val = None
            if X_val is not None:
                wv = self._loss_weights(y_val)
                val = ([t.to(device) for t in self._tensors(X_val)],
                       torch.tensor((y_val - self.y_mean_) / self.y_std_, dtype=torch.float32, device=device),
                       torch.tensor(wv / wv.mean(), dtype=torch.float32, device=device))
            opt = torch.optim.AdamW(net.parameters(), lr=float(p["learning_rate"]), weight_decay=float(p["weight_decay"]))
            gen = torch.Generator().manual_seed(int(p["seed"]))
            n, bs = len(y), max(2, min(int(p["batch_size"]), len(y)))
            best, best_state, stale, self.history_ = np.inf, None, 0, []
            for epoch in range(int(p["max_epochs"])):
                net.train()
                order = torch.randperm(n, generator=gen).to(device)
                for start in range(0, n, bs):
                    idx = order[start:start + bs]
                    if len(idx) < 2:  # batch norm needs two rows
                        continue
                    batch = [t[idx] for t in train]
                    reg, cls, z = net(*batch)
                    loss = self._reg_loss(reg, target[idx], w_t[idx])
                    if cls is not None:
                        loss = loss + float(p["cls_weight"]) * (
                            torch.nn.functional.cross_entropy(cls, cls_t[idx], reduction="none") * w_t[idx]).mean()
                    if con_t:  # a second dropout view of the same rows (PPCL's dropout augmentation)
                        _, _, z2 = net(*batch)
                        zz = torch.cat([z, z2])
                        for lab in con_t:
                            loss = loss + float(p["contrastive_weight"]) * supcon_loss(
                                zz, torch.cat([lab[idx], lab[idx]]), float(p["contrastive_temperature"]))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                if val is None:
                    continue
                net.eval()
                with torch.no_grad():
                    v = float(self._reg_loss(net(*val[0])[0], val[1], val[2]))
                self.history_.append(v)
                if v < best - 1e-7:
                    best, best_state, stale = v, copy.deepcopy(net.state_dict()), 0
                else:
                    stale += 1
                    if stale >= int(p["patience"]):
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
        self.best_epoch_ = int(np.argmin(self.history_)) + 1 if self.history_ else int(p["max_epochs"])
        self.net_ = net.to("cpu").eval()

    def _loss_weights(self, y: np.ndarray) -> np.ndarray:
        """Per-row loss factors: 1 / |y| for MAPE (an absolute error relative to the label), else 1."""
        if self.params["loss"] != "mape":
            return np.ones(len(y))
        if np.any(y == 0):
            raise ValueError("mlp loss 'mape' is undefined for a label of 0")
        return 1.0 / np.abs(y)

    def _reg_loss(self, pred, target, w):
        torch = require_torch()
        loss = self.params["loss"]
        if loss == "huber":
            per = torch.nn.functional.huber_loss(pred, target, reduction="none", delta=float(self.params["huber_delta"]))
        elif loss in ("l1", "mape"):  # MAPE: the absolute error, weighted by 1 / |label| (in `w`)
            per = (pred - target).abs()
        else:
            per = (pred - target) ** 2
        return (per * w).mean()

    def _fitted_rounds(self):
        return self.best_epoch_ if self.history_ else None

    def _predict(self, X):
        torch = require_torch()
        tensors = self._tensors(X)
        with torch.no_grad():  # in chunks, so a large test set never holds every row's attention at once
            reg = np.concatenate([self.net_(*(t[i:i + 8192] for t in tensors))[0].numpy()
                                  for i in range(0, len(X), 8192)]).astype(float)
        return reg * self.y_std_ + self.y_mean_

    def _importance(self):
        return pd.Series(dtype=float)
