"""The file inbox: CSV, Parquet or JSONL files dropped in `<inbox>/<entity>/`.

Reading keeps every value as text (types are validation's job), records a row number per
row, and turns rows that cannot even be split into fields (a ragged CSV line, a JSONL
line that is not a JSON object) into quarantine rows. A file that cannot be read at all
raises `InboxFileError` naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecom_assets.schema import ENTITIES

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")


class InboxFileError(ValueError):
    """A file that cannot be ingested at all; nothing of it is written."""


@dataclass
class ParsedFile:
    path: Path
    frame: pd.DataFrame  # source columns, values as text
    row_numbers: np.ndarray  # 1-based data row (CSV, Parquet) or line number (JSONL)
    unparsed: pd.DataFrame = field(  # rows that could not be split into fields
        default_factory=lambda: pd.DataFrame(columns=["row_number", "field", "reason", "raw_record"])
    )

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.unparsed)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def list_inbox_files(inbox_dir: Path, entities=ENTITIES) -> list[tuple[str, Path]]:
    """(entity, path) of every supported file directly under <inbox>/<entity>/, sorted."""
    found = []
    for entity in entities:
        folder = Path(inbox_dir) / entity
        if folder.is_dir():
            found += [(entity, p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES]
    return found


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InboxFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 and drop it in again"
        ) from exc


def _read_delimited(path: Path, delimiter: str) -> ParsedFile:
    text = _decode(path, path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InboxFileError(f"{path}: empty file, expected a header row") from None
    except csv.Error as exc:
        raise InboxFileError(f"{path}: cannot parse the header row: {exc}") from exc
    header = [h.strip() for h in header]
    if not any(header) or len(set(header)) != len(header):
        raise InboxFileError(f"{path}: header row must name every column once, got {header}")
    rows, numbers, bad = [], [], []
    row_number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_number += 1
            bad.append((row_number, "<row>", f"unparseable CSV line {reader.line_num}: {exc}", None))
            continue
        if not values:
            continue  # blank line
        row_number += 1
        if len(values) != len(header):
            bad.append((row_number, "<row>", f"expected {len(header)} fields, found {len(values)} (line {reader.line_num})", values))
            continue
        rows.append(values)
        numbers.append(row_number)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    return ParsedFile(path, frame, np.asarray(numbers, dtype=np.int64), _unparsed(bad))


def _cell(value) -> str | None:
    """A JSON value as the text cell every other format gives: nested values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _read_jsonl(path: Path) -> ParsedFile:
    text = _decode(path, path.read_bytes())
    records, numbers, bad = [], [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append((line_no, "<row>", f"invalid JSON: {exc.msg} at column {exc.colno}", line[:500]))
            continue
        if not isinstance(obj, dict):
            bad.append((line_no, "<row>", f"expected a JSON object, found {type(obj).__name__}", line[:500]))
            continue
        records.append({k: _cell(v) for k, v in obj.items()})
        numbers.append(line_no)
    if not records and bad:
        raise InboxFileError(f"{path}: no line is a JSON object (first problem, line {bad[0][0]}: {bad[0][2]})")
    return ParsedFile(path, pd.DataFrame.from_records(records).astype(object), np.asarray(numbers, dtype=np.int64), _unparsed(bad))


def _read_parquet(path: Path) -> ParsedFile:
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InboxFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    return ParsedFile(path, frame, np.arange(1, len(frame) + 1, dtype=np.int64))


def _unparsed(bad: list[tuple]) -> pd.DataFrame:
    """Quarantine rows for lines that could not be split into fields. Their values are
    NOT kept: without trustworthy column positions there is no telling which value is a
    customer id, so keeping them could leak one. The reason names the line; the file
    itself stays in the inbox for whoever fixes it."""
    return pd.DataFrame(
        [dict(row_number=r, field=f, reason=why, raw_record=None) for r, f, why, _ in bad],
        columns=["row_number", "field", "reason", "raw_record"],
    )


def read_inbox_file(path: Path) -> ParsedFile:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_delimited(path, ",")
    if suffix == ".tsv":
        return _read_delimited(path, "\t")
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise InboxFileError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")


def new_inbox_files(inbox_dir: Path, seen: dict[str, dict], entities=ENTITIES) -> tuple[list[dict], dict[str, dict]]:
    """Files whose content has not been requested before, for the inbox sensor.

    `seen` maps path -> {"size", "mtime_ns", "sha256"}: unchanged files are not re-hashed,
    and a file renamed or copied with the same content is recognised by its hash.
    Returns (new files as {"entity", "path", "sha256"}, the updated `seen`).
    """
    known_hashes = {v["sha256"] for v in seen.values()}
    updated: dict[str, dict] = {}
    new = []
    for entity, path in list_inbox_files(inbox_dir, entities):
        stat = path.stat()
        key = str(path)
        prior = seen.get(key)
        if prior and prior["size"] == stat.st_size and prior["mtime_ns"] == stat.st_mtime_ns:
            updated[key] = prior
            continue
        digest = sha256_of(path)
        updated[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        if digest not in known_hashes:
            known_hashes.add(digest)
            new.append({"entity": entity, "path": key, "sha256": digest})
    return new, updated
