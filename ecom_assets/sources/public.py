"""Readers for public datasets, so the protocols and the pipeline can run on real data:
the S3-Rec sequence format (Amazon Beauty), RecBole / UniSRec atomic files with item text
(Amazon Industrial & Scientific), and Amazon product question answering (McAuley lab's
gzip of one Python-literal dict per line).

A malformed line raises `PublicDataError` naming the file and line; nothing is returned
half-read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecom_assets.ml.recsys.sequences import SequenceDataset


class PublicDataError(ValueError):
    pass


def read_s3rec(path: str | Path) -> SequenceDataset:
    """One line per user: `user item1 item2 ...`, items in time order (integer ids)."""
    path = Path(path)
    users, raw = [], []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise PublicDataError(f"{path}:{line_no}: expected 'user item1 item2 ...', found {line.strip()!r}")
            try:
                items = [int(x) for x in parts[1:]]
            except ValueError:
                bad = next(x for x in parts[1:] if not x.lstrip("-").isdigit())
                raise PublicDataError(f"{path}:{line_no}: item id {bad!r} is not an integer") from None
            users.append(parts[0])
            raw.append(items)
    if not raw:
        raise PublicDataError(f"{path}: no user lines")
    labels, flat = np.unique(np.concatenate([np.asarray(r) for r in raw]), return_inverse=True)
    sequences, start = [], 0
    for r in raw:
        sequences.append(flat[start:start + len(r)].astype(np.int64))
        start += len(r)
    return SequenceDataset(path.stem, sequences, len(labels), item_labels=labels, user_labels=np.array(users))


def _read_atomic(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        names = [h.split(":")[0] for h in header]
        rows = []
        for line_no, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            values = line.rstrip("\n").split("\t")
            if len(values) != len(names):
                raise PublicDataError(f"{path}:{line_no}: expected {len(names)} tab-separated fields, found {len(values)}")
            rows.append(values)
    return names, rows


def read_recbole(folder: str | Path, name: str | None = None) -> SequenceDataset:
    """RecBole/UniSRec leave-one-out files `<name>.{train,valid,test}.inter` (user,
    item_id_list, item_id), `<name>.item2index`, `<name>.user2index` and `<name>.text`.
    Each user's full sequence is the test line's history plus its target."""
    folder = Path(folder)
    name = name or next(folder.glob("*.test.inter")).name.split(".")[0]
    names, rows = _read_atomic(folder / f"{name}.test.inter")
    u_col, hist_col, item_col = names.index("user_id"), names.index("item_id_list"), names.index("item_id")
    by_user: dict[int, np.ndarray] = {}
    for line_no, row in enumerate(rows, start=2):
        try:
            seq = [int(x) for x in row[hist_col].split()] + [int(row[item_col])]
            by_user[int(row[u_col])] = np.asarray(seq, dtype=np.int64)
        except ValueError:
            raise PublicDataError(f"{folder / f'{name}.test.inter'}:{line_no}: ids must be integers") from None
    item_index = {}
    index_path = folder / f"{name}.item2index"
    if index_path.exists():
        with open(index_path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2 or not parts[1].isdigit():
                    raise PublicDataError(f"{index_path}:{line_no}: expected 'item_id<TAB>index'")
                item_index[parts[0]] = int(parts[1])
    n_items = max(max(item_index.values(), default=-1), max(int(s.max()) for s in by_user.values())) + 1
    labels = np.empty(n_items, dtype=object)
    for asin, idx in item_index.items():
        labels[idx] = asin
    text = {}
    text_path = folder / f"{name}.text"
    if text_path.exists():
        t_names, t_rows = _read_atomic(text_path)
        for row in t_rows:
            idx = item_index.get(row[t_names.index("item_id")])
            if idx is not None:
                text[idx] = row[t_names.index("text")].strip()
    users = sorted(by_user)
    return SequenceDataset(name, [by_user[u] for u in users], n_items, item_labels=labels,
                           user_labels=np.array(users), item_text=text)


QA_FIELDS = ("question", "answer", "asin")


def read_amazon_qa(path: str | Path) -> list[dict]:
    """Amazon product Q&A rows (question, answer, asin, and questionType where given), in
    file order. Lines are Python literals (single quotes), read with `ast.literal_eval`,
    never `eval`."""
    import ast
    import gzip

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = ast.literal_eval(line)
            except (ValueError, SyntaxError) as e:
                raise PublicDataError(f"{path.name} line {line_no}: not a Python literal ({e.__class__.__name__})") from None
            if not isinstance(row, dict):
                raise PublicDataError(f"{path.name} line {line_no}: expected a dict, got {type(row).__name__}")
            missing = [k for k in QA_FIELDS if not isinstance(row.get(k), str) or not row[k].strip()]
            if missing:
                raise PublicDataError(f"{path.name} line {line_no}: field(s) {', '.join(missing)} missing or empty")
            rows.append({k: row[k].strip() for k in QA_FIELDS} | {"question_type": row.get("questionType")})
    return rows


class PublicShop:
    """A public sequence dataset served through the same methods as the synthetic shop,
    so the whole asset graph runs on it.

    The formats carry order but no clock, so events get synthetic times inside the
    window [start, start + n_days): every user's last item on the final day (12:00), the
    earlier items spread evenly over the days before the second-to-last day. A one-day
    test window in the temporal split (`test_days=1`) then holds exactly each user's last
    item: the leave-one-out protocol of the published numbers.
    """

    def __init__(self, data: SequenceDataset, start: str, n_days: int):
        if n_days < 3:
            raise ValueError("a public dataset needs a window of at least 3 days")
        self.data, self.start, self.n_days = data, np.datetime64(start, "s"), n_days
        self._events = self._build_events()

    def _build_events(self):
        import pandas as pd

        rows_user, rows_item, rows_time = [], [], []
        day = np.timedelta64(86_400, "s")
        spread = (self.n_days - 2) * 86_400.0
        last = self.start + (self.n_days - 1) * day + np.timedelta64(12 * 3600, "s")
        for u, seq in enumerate(self.data.sequences):
            n = len(seq)
            offsets = ((np.arange(n - 1) + 0.5) / max(n - 1, 1) * spread).astype("int64")
            times = np.concatenate([self.start + offsets.astype("timedelta64[s]"), [last]])
            rows_user.append(np.full(n, u))
            rows_item.append(seq)
            rows_time.append(times)
        users, items = np.concatenate(rows_user), np.concatenate(rows_item)
        labels_u = self.data.user_labels if self.data.user_labels is not None else np.arange(self.data.n_users)
        labels_i = self.data.item_labels if self.data.item_labels is not None else np.arange(self.data.n_items)
        frame = pd.DataFrame({
            "event_time": np.concatenate(rows_time).astype("datetime64[ns]"),
            "user_id": np.asarray(labels_u).astype(str)[users],
            "event_type": "purchase",
            "item_id": np.asarray(labels_i).astype(str)[items],
        })
        frame.insert(0, "event_id", [f"{self.data.name}:{k}" for k in range(len(frame))])
        return frame

    def events_for_day(self, day):
        import pandas as pd

        day = pd.Timestamp(day)
        times = self._events["event_time"]
        return self._events[(times >= day) & (times < day + pd.Timedelta(days=1))].reset_index(drop=True)

    def products(self):
        import pandas as pd

        labels = self.data.item_labels if self.data.item_labels is not None else np.arange(self.data.n_items)
        ids = np.asarray(labels).astype(str)
        # UniSRec text is "title. category path. brand.": the title is its first sentence.
        titles = [self.data.item_text.get(i, f"Item {ids[i]}").split(". ")[0][:150] for i in range(self.data.n_items)]
        return pd.DataFrame({"item_id": ids, "title_en": titles, "description_en": [self.data.item_text.get(i) for i in range(self.data.n_items)]})

    def users(self):
        import pandas as pd

        labels = self.data.user_labels if self.data.user_labels is not None else np.arange(self.data.n_users)
        return pd.DataFrame({"user_id": np.asarray(labels).astype(str)})

    def support_tickets(self):
        import pandas as pd

        return pd.DataFrame(columns=["ticket_id", "user_id", "created_at", "language", "question"])

    def faq(self):
        import pandas as pd

        return pd.DataFrame(columns=["answer_id", "language", "question", "answer"])
