"""Randomness of a training epoch as a function of position, so a run resumed anywhere replays
exactly the draws the uninterrupted run made.

* every training sample's augmentation (random crop, flip) runs under torch's RNG seeded from
  (seed, epoch, rank, position of the sample in the epoch's order): the same in the main process
  or any worker, whichever worker loads it, however many batches were skipped before it;
* before each batch, the global RNGs (dropout, anything else) and the recipe's generator (RMG /
  jigsaw / CMAL draws) are reseeded from (seed, epoch, rank, batch index in the epoch);
* Ctrl-C during a batch stops at the end of that batch (a second Ctrl-C stops at once), so the
  resumable checkpoint never holds half a batch (some phases stepped, BN statistics moved).

Without this, resuming mid-epoch replayed the epoch's first random draws on its later batches.
"""

from __future__ import annotations

import random
import signal
import threading

import numpy as np
import torch
from torch.utils.data import Dataset

_MASK = 2**63 - 1


def position_seed(seed: int, epoch: int, rank: int, kind: int, position: int) -> int:
    """A 63-bit seed for one (run seed, epoch, rank, kind of draw, position); kind 0: a sample's
    augmentation, 1: a batch's draws."""
    words = [int(v) & 0xFFFFFFFF for v in (seed, seed >> 32, epoch, rank, kind, position, position >> 32)]
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0]) & _MASK


def seeded_order(order: list[int], seed: int, epoch: int, rank: int) -> list[tuple[int, int]]:
    """The epoch's sample order as (index, augmentation seed) pairs for :class:`SeededSamples`."""
    return [(i, position_seed(seed, epoch, rank, 0, p)) for p, i in enumerate(order)]


class SeededSamples(Dataset):
    """``dataset[index]`` under torch's RNG seeded with ``seed``, for items ``(index, seed)``.

    The RNG state around it is left as it was. A plain integer item is passed through unseeded.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        if isinstance(item, int):
            return self.dataset[item]
        index, seed = item
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


def reseed(generator: torch.Generator, seed: int, epoch: int, rank: int, batch: int) -> None:
    s = position_seed(seed, epoch, rank, 1, batch)
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)
    generator.manual_seed(s)


class SeededBatches:
    """Iterates ``loader``, reseeding before each batch; batch numbers start at ``first`` (the
    batches a resumed epoch skips count).

    Used as a context manager around the epoch (``with SeededBatches(...) as batches:``), it also
    defers Ctrl-C to the end of the batch it lands in: SIGINT sets a flag, and the iteration raises
    KeyboardInterrupt when that batch is done; a second SIGINT raises at once. Python's handler is
    back in place when the ``with`` block exits, however it exits. Only in the main thread, and
    only while Python's default SIGINT handler is installed (else Ctrl-C is left alone).
    """

    def __init__(self, loader, generator: torch.Generator, seed: int, epoch: int, rank: int = 0, first: int = 0):
        self.loader, self.generator = loader, generator
        self.seed, self.epoch, self.rank, self.first = seed, epoch, rank, first
        self.pending = False
        self._previous = None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for position, batch in enumerate(self.loader, self.first):
            reseed(self.generator, self.seed, self.epoch, self.rank, position)
            yield batch
            if self.pending:  # the batch is done: stop here, Ctrl-C came during it
                self.pending = False
                raise KeyboardInterrupt

    def _on_sigint(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self) -> "SeededBatches":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
