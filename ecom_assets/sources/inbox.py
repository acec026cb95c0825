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
import re
import time
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


# Names a copy in progress carries (browsers, rsync, office suites): never read, the
# finished file arrives under its own name.
_IN_PROGRESS = re.compile(r"^(\.|~\$)|\.(part|partial|tmp|temp|crdownload|download|filepart)$|~$", re.IGNORECASE)
MAPPING_FILE = "mapping.json"


def list_inbox_files(inbox_dir: Path, entities=ENTITIES) -> list[tuple[str, Path]]:
    """(entity, path) of every supported file directly under <inbox>/<entity>/, sorted."""
    found = []
    for entity in entities:
        folder = Path(inbox_dir) / entity
        if folder.is_dir():
            found += [(entity, p) for p in sorted(folder.iterdir())
                      if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not _IN_PROGRESS.search(p.name)]
    return found


def unrecognised_inbox_files(inbox_dir: Path, entities=ENTITIES) -> list[tuple[str, str]]:
    """(path relative to the inbox, why it is not read) for every other file in the inbox:
    an unknown extension, a folder named after no entity, a file at the top level. Shown
    in the inbox asset's metadata and its check, so nothing dropped in is ignored without
    a word. Files still being copied (temporary names) are not listed."""
    inbox_dir = Path(inbox_dir)
    if not inbox_dir.is_dir():
        return []
    out = []
    for path in sorted(p for p in inbox_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(inbox_dir)
        if _IN_PROGRESS.search(path.name) or any(part.startswith(".") for part in rel.parts):
            continue
        if len(rel.parts) == 1:
            out.append((str(rel), f"at the top of the inbox: put it in a folder named after its entity ({', '.join(entities)})"))
        elif rel.parts[0] not in entities:
            out.append((str(rel), f"folder {rel.parts[0]!r} is no entity; use one of {', '.join(entities)}"))
        elif len(rel.parts) > 2:
            out.append((str(rel), "in a sub-folder: only files directly in the entity folder are read"))
        elif path.name != MAPPING_FILE and path.suffix.lower() not in SUPPORTED_SUFFIXES:
            out.append((str(rel), f"unsupported file type {path.suffix or '(none)'!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"))
    return out


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InboxFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 and drop it in again"
        ) from exc


class _Lines:
    """Physical lines of a text from `start`, counting what the csv reader consumed, so a
    record's first and last line are known (the csv module only counts lines read)."""

    def __init__(self, lines: list[str], start: int):
        self.lines, self.pos = lines, start

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _swallowed_lines(values: list[str], width: int, delimiter: str) -> bool:
    """A record over several lines whose embedded lines read as rows of their own: a quote
    opened and never closed, taking the next lines into one field (a genuine multi-line
    field, an address or a note, does not hold a whole row's worth of delimiters)."""
    for value in values:
        if "\n" in value or "\r" in value:
            for segment in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]:
                if segment.count(delimiter) >= max(width - 1, 1):
                    return True
    return False


def describe_columns(columns: list[str], known: set[str]) -> str:
    """The columns of a file for an error message without quoting data: names any mapping
    knows are listed; the others are only counted (in a file without a header row they
    are the first data row: a customer id, an e-mail)."""
    named = [c for c in columns if c in known]
    others = len(columns) - len(named)
    text = f"{len(columns)} columns; known names: {named or 'none'}"
    if others:
        text += f"; {others} other name(s) not shown"
    looks_like_data = sum(bool(re.fullmatch(r"[\d.,:/ +-]+", c.strip())) or "@" in c for c in columns if c not in known)
    if looks_like_data:
        text += (f" ({looks_like_data} of them look like values, not names: is the header row missing? The first line "
                 "must name the columns)")
    return text


def _read_delimited(path: Path, delimiter: str) -> ParsedFile:
    text = _decode(path, path.read_bytes())
    lines = list(io.StringIO(text, newline=""))
    stream = _Lines(lines, 0)
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InboxFileError(f"{path}: empty file, expected a header row") from None
    except csv.Error as exc:
        raise InboxFileError(f"{path}: cannot parse the header row: {exc}") from exc
    header = [h.strip() for h in header]
    if not any(header):
        raise InboxFileError(f"{path}: the header row names no column")
    if len(set(header)) != len(header):
        # Positions, not names: a file without a header has data in its first row.
        repeated = sorted({i + 1 for i, h in enumerate(header) if header.count(h) > 1})
        raise InboxFileError(f"{path}: header row must name every column once; columns at positions {repeated} share a "
                             "name (or are blank)")
    rows, numbers, bad = [], [], []
    row_number = 0
    while True:
        first = stream.pos  # index of the record's first line
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # Unparseable from this line on (a field past the size limit, usually an unclosed
            # quote): this line is quarantined and reading starts again on the next one.
            row_number += 1
            bad.append((row_number, "<row>", f"unparseable CSV line {first + 1}: {exc}", None))
            stream = _Lines(lines, first + 1)
            reader = csv.reader(stream, delimiter=delimiter)
            continue
        if not values:
            continue  # blank line
        row_number += 1
        # A quote still open at the end of the file took the last line's newline into the
        # field, and a closed one would end that line with the quote.
        open_at_end = stream.pos == len(lines) and any(v.endswith(("\n", "\r")) for v in values) \
            and not lines[-1].rstrip("\r\n").endswith('"')
        if open_at_end or (stream.pos - first > 1 and _swallowed_lines(values, len(header), delimiter)):
            # Only the line with the stray quote is lost; the lines it swallowed are read again as rows.
            spill = stream.pos - first - 1
            bad.append((row_number, "<row>", f"unclosed quote on line {first + 1}: " + (
                f"it ran over the next {spill} line(s), which are read on their own" if spill else
                "the file ends inside it"), None))
            stream = _Lines(lines, first + 1)
            reader = csv.reader(stream, delimiter=delimiter)
            continue
        if len(values) != len(header):
            bad.append((row_number, "<row>", f"expected {len(header)} fields, found {len(values)} (line {first + 1})", values))
            continue
        rows.append(values)
        numbers.append(row_number)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    return ParsedFile(path, frame, np.asarray(numbers, dtype=np.int64), _unparsed(bad))


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _cell(value) -> str | None:
    """A JSON value as the text cell every other format gives: nested values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _read_jsonl(path: Path) -> ParsedFile:
    text = _decode(path, path.read_bytes())
    records, numbers, bad = [], [], []
    # Lines end at "\n" only (JSON Lines): str.splitlines would also split at U+2028,
    # U+0085 and other characters JSON allows inside a string, counting one record twice.
    for line_no, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
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
        if "\\u" in line and _has_lone_surrogate(obj):
            bad.append((line_no, "<row>", "invalid Unicode: a lone surrogate escape (\\ud800-\\udfff) is no character", None))
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


def new_inbox_files(inbox_dir: Path, seen: dict[str, dict], entities=ENTITIES, settle_s: float = 10.0,
                    now_ns: int | None = None) -> tuple[list[dict], dict[str, dict]]:
    """Files ready to ingest, for the inbox sensor: a file is ready once it has looked the
    same (size and modification time) at two evaluations and was last modified at least
    `settle_s` ago, so a file still being copied is never read half-written.

    `seen` maps path -> {"size", "mtime_ns", "sha256" (None until settled)}; a settled
    file is hashed once. Returns (ready files as {"entity", "path", "sha256"}, the updated
    `seen`); whether a ready file's content was already loaded is the caller's business
    (the ledger knows).
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    updated: dict[str, dict] = {}
    ready = []
    for entity, path in list_inbox_files(inbox_dir, entities):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # moved away between listing and looking
        key = str(path)
        prior = seen.get(key)
        same = prior is not None and prior["size"] == stat.st_size and prior["mtime_ns"] == stat.st_mtime_ns
        settled = same and now_ns - stat.st_mtime_ns >= settle_s * 1e9
        digest = prior.get("sha256") if same else None
        if settled and digest is None:
            digest = sha256_of(path)
        updated[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        if settled:
            ready.append({"entity": entity, "path": key, "sha256": digest})
    return ready, updated
