"""The torch parts of the `mlp` learner (imported only when an MLP is fitted or unpickled).

- Co-attention (HyperFusion): the text and visual embedding blocks are each projected to a few tokens; text
  tokens attend over visual tokens and visual over text, and the mean-pooled results join the trunk input.
- Hierarchical batch-norm trunk (HyperFusion's hierarchical predictor): Linear -> BatchNorm -> ReLU -> Dropout,
  layer widths decreasing.
- Emotion-interaction layer (EIJL eq. 2): phi_emo = phi + w1*txt_emo + w2*img_emo + w3*likability (+ one learned
  vector per further emotion column), with phi the trunk output and w_j learned vectors of its width.
- Heads: regression (trained with the Huber loss, HyperFusion eq. 7), classification over label bins (EIJL joint
  learning), and a projection for supervised contrastive losses (PPCL).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class CoAttention(nn.Module):
    def __init__(self, text_dim: int, visual_dim: int, dim: int, tokens: int, heads: int):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.text_proj = nn.Linear(text_dim, tokens * dim)
        self.visual_proj = nn.Linear(visual_dim, tokens * dim)
        self.text_to_visual = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.visual_to_text = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_t, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        b = text.shape[0]
        t = self.text_proj(text).view(b, self.tokens, self.dim)
        v = self.visual_proj(visual).view(b, self.tokens, self.dim)
        t_att, _ = self.text_to_visual(t, v, v, need_weights=False)
        v_att, _ = self.visual_to_text(v, t, t, need_weights=False)
        return torch.cat([self.norm_t(t + t_att).mean(1), self.norm_v(v + v_att).mean(1)], dim=1)


class MLPNet(nn.Module):
    def __init__(self, *, n_numeric: int, cardinalities: list[int], text_dim: int, visual_dim: int, n_emotion: int,
                 hidden: list[int], dropout: float, co_dim: int, co_tokens: int, co_heads: int, n_bins: int,
                 proj_dim: int):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, min(16, (c + 1) // 2 + 1)) for c in cardinalities)
        self.co = CoAttention(text_dim, visual_dim, co_dim, co_tokens, co_heads) if text_dim and visual_dim else None
        width = n_numeric + sum(e.embedding_dim for e in self.embeddings) + (2 * co_dim if self.co else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.emotion = nn.Parameter(torch.zeros(n_emotion, width)) if n_emotion else None
        self.regression = nn.Linear(width, 1)
        self.classification = nn.Linear(width, n_bins) if n_bins else None
        self.projection = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, proj_dim)) if proj_dim else None

    def forward(self, num, cat, text, visual, emotion):
        parts = [num] + [emb(cat[:, j]) for j, emb in enumerate(self.embeddings)]
        if self.co is not None:
            parts.append(self.co(text, visual))
        phi = self.trunk(torch.cat(parts, dim=1))
        if self.emotion is not None:
            phi = phi + emotion @ self.emotion  # phi + sum_j w_j * emo_j
        reg = self.regression(phi).squeeze(-1)
        cls = self.classification(phi) if self.classification is not None else None
        z = F.normalize(self.projection(phi), dim=1) if self.projection is not None else None
        return reg, cls, z


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., as PPCL uses it) over L2-normalised embeddings `z` (2B rows:
    two dropout views of each batch row) with integer `labels`; label -1 rows (missing) are never positives."""
    n = z.shape[0]
    sim = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask & (labels[:, None] >= 0)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not has.any():
        return z.sum() * 0.0
    return -((log_prob * pos).sum(1)[has] / n_pos[has]).mean()
