"""A torch Dataset over (path, label) samples with one bad-image policy."""

from __future__ import annotations

import logging

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from fgvc_mobile.data.images import ImageLoadError, load_rgb

log = logging.getLogger(__name__)


def drop_unreadable(samples: list[tuple[str, int]], desc: str = "checking images") -> tuple[list, list[str]]:
    """Decode every sample once; return the readable ones and the messages for the others.

    Used by ``--skip-bad`` so that bad files are found (and counted in the log) before training
    starts rather than in the middle of an epoch inside a worker process.
    """
    good, bad = [], []
    for path, label in tqdm(samples, desc=desc, leave=False, mininterval=2.0):
        try:
            load_rgb(path)
            good.append((path, label))
        except ImageLoadError as e:
            bad.append(str(e))
    return good, bad


class ImageListDataset(Dataset):
    """Decodes ``samples[i]`` with :func:`load_rgb` and applies ``transform``.

    A bad image raises :class:`ImageLoadError` naming the file; filter with
    :func:`drop_unreadable` first to skip bad files instead.
    """

    def __init__(self, samples: list[tuple[str, int]], transform=None):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        img = load_rgb(path)
        x = self.transform(img) if self.transform is not None else img
        return x, torch.tensor(label, dtype=torch.long)
