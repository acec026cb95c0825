"""User histories as item-index sequences, and the leave-one-out protocol.

Protocol (SASRec, Kang & McAuley 2018; S3-Rec, Zhou et al. 2020): per user with at least
three items, the last item is the test target, the one before it the validation target.
Models are tuned by predicting the validation item from the history before it; the test
item is predicted from everything before it. Every item is a candidate (no sampled
negatives); items already in the history are excluded from the ranking; ties are broken
at random.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SequenceDataset:
    """Item-index histories, one per user, in time order."""

    name: str
    sequences: list[np.ndarray]
    n_items: int
    item_labels: np.ndarray | None = None  # original item ids, by index
    user_labels: np.ndarray | None = None
    item_text: dict[int, str] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))


@dataclass
class Split:
    """Histories and the single held-out target per user."""

    histories: list[np.ndarray]
    targets: np.ndarray  # (n_users,)
    users: np.ndarray  # indices into the dataset's users


def leave_one_out(data: SequenceDataset, min_length: int = 3) -> tuple[Split, Split]:
    """(validation split, test split). Users with fewer than `min_length` items have no
    validation target and are left out of both, as in the reference protocol."""
    users = np.array([u for u, s in enumerate(data.sequences) if len(s) >= min_length], dtype=np.int64)
    valid = Split([data.sequences[u][:-2] for u in users], np.array([data.sequences[u][-2] for u in users]), users)
    test = Split([data.sequences[u][:-1] for u in users], np.array([data.sequences[u][-1] for u in users]), users)
    return valid, test


def training_histories(data: SequenceDataset, split: Split) -> list[np.ndarray]:
    """What a model may learn from when predicting `split`: every user's history before
    the target (and the full sequence of users not evaluated)."""
    histories = list(data.sequences)
    for u, h in zip(split.users, split.histories):
        histories[u] = h
    return histories
