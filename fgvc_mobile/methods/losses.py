"""Losses of the papers' methods: gradient-boosting cross-entropy and ELoPE's class-mean loss.

``make_criterion`` is what ``Recipe.criterion`` hands every recipe as ``ctx.criterion``, so any
method can train with ``{"loss": "gce"}``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from fgvc_mobile.errors import FGVCError

LOSSES = ("ce", "gce")


class GradientBoostingCE(nn.Module):
    """GCE (Sun et al. 2020, eq. 12): cross-entropy over the true class and the top-k negatives.

    J'_> = negatives whose score is >= t_k, the k-th highest negative score (eq. 10; ties at t_k
    are all kept). When k >= C - 1 every negative is kept and GCE is exactly cross-entropy.
    """

    def __init__(self, k: int = 15):
        super().__init__()
        if k < 1:
            raise FGVCError(f"gce: k must be >= 1, got {k}")
        self.k = int(k)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        c = logits.shape[1]
        if self.k >= c - 1:
            return F.cross_entropy(logits, target)
        label = target.view(-1, 1)
        neg = logits.detach().scatter(1, label, float("-inf"))
        t_k = neg.topk(self.k, dim=1).values[:, -1:]
        keep = (neg >= t_k).scatter(1, label, True)
        return F.cross_entropy(logits.masked_fill(~keep, float("-inf")), target)


def make_criterion(loss: str = "ce", gce_k: int = 15, label_smoothing: float = 0.0) -> nn.Module:
    if loss == "ce":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "gce":
        if label_smoothing:
            raise FGVCError("--label-smoothing: not defined for the gce loss; use 0 or loss ce")
        return GradientBoostingCE(gce_k)
    raise FGVCError(f"method option loss={loss!r}: choose one of {list(LOSSES)}")


def class_batch_stats(f: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts [C, 1], per-class sums of ``f`` [C, E]): the batch's part of eqs. (6)-(7)."""
    onehot = F.one_hot(labels, num_classes).to(f.dtype)  # [N, C]
    return onehot.sum(dim=0).unsqueeze(1), onehot.t() @ f


def means_from_stats(means: torch.Tensor, counts: torch.Tensor, sums: torch.Tensor, alpha: float) -> torch.Tensor:
    """mu_c^t = mu_c^{t-1} - alpha * (n_c mu_c^{t-1} - sum_{n: c_n = c} f_n) / (1 + n_c)."""
    return means - alpha * (counts * means - sums) / (1.0 + counts)


def update_class_means(f: torch.Tensor, labels: torch.Tensor, means: torch.Tensor, alpha: float) -> torch.Tensor:
    """ELoPE eqs. (6)-(7): mu_c^t = mu_c^{t-1} - alpha * sum_n d(c_n,c)(mu_c^{t-1} - f_n) / (1 + sum_n d(c_n,c)).

    Differentiable in ``f`` (the paper: the update's dependence on the batch is back-propagated).
    """
    return means_from_stats(means, *class_batch_stats(f, labels, means.shape[0]), alpha)


@torch.no_grad()
def global_class_means(f: torch.Tensor, labels: torch.Tensor, means: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eqs. (6)-(7) over the batch of *every* process: the counts and sums are all-reduced first.

    Under DistributedDataParallel each rank sees its own part of the batch; updating the shared
    ``class_means`` buffer from one rank's part (and letting DDP broadcast rank 0's buffers) would
    drop the other ranks' samples. Single process: equal to ``update_class_means``.
    """
    counts, sums = class_batch_stats(f.detach(), labels, means.shape[0])
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        stats = torch.cat([counts, sums], dim=1)
        dist.all_reduce(stats)
        counts, sums = stats[:, :1], stats[:, 1:]
    return means_from_stats(means, counts, sums, alpha)


def class_mean_loss(
    f: torch.Tensor,
    labels: torch.Tensor,
    means: torch.Tensor,
    alpha: float = 0.5,
    gamma: float = 16.0,
    margin: float = 0.75,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L_w, L_b, updated means) for l2-normalised embeddings ``f`` [N, E] and means [C, E].

    L_w = 1/(2N) sum_n ||f_n - mu_{c_n}^t||^2 (eq. 9);
    L_b = gamma/(4|P|) sum_{(k,c) in P} max(m - ||mu_k^t - mu_c^t||^2, 0)^2 (eq. 10), P = the
    unordered pairs of distinct classes present in the batch (0 when fewer than two classes).
    """
    mu = update_class_means(f, labels, means, alpha)
    n = f.shape[0]
    l_w = ((f - mu[labels]) ** 2).sum() / (2 * n)
    present = torch.unique(labels)
    if present.numel() < 2:
        return l_w, f.new_zeros(()), mu
    mp = mu[present]
    i, j = torch.triu_indices(len(present), len(present), offset=1, device=f.device)
    d2 = ((mp[i] - mp[j]) ** 2).sum(dim=1)
    l_b = gamma / (4 * len(i)) * (margin - d2).clamp_min(0).pow(2).sum()
    return l_w, l_b, mu


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(p_teacher || p_student) of the temperature-T softmaxes, averaged over the batch
    (Hinton et al. 2015; T^2 keeps the soft targets' gradient scale independent of T)."""
    t = float(temperature)
    log_p_s = F.log_softmax(student_logits.float() / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits.float() / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)
