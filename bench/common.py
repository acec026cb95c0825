"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path


class TreePeakRSS:
    """Peak resident memory of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak = pid, interval, 0
        self.own_peak = 0  # the process itself, without its children (dbt, say)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _children(pid: int) -> list[int]:
        out = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return out

    @staticmethod
    def _rss(pid: int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
        except (OSError, AttributeError):
            return 0

    def _tree_rss(self) -> int:
        total, stack = 0, [self.pid]
        while stack:
            pid = stack.pop()
            total += self._rss(pid)
            stack += self._children(pid)
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self.own_peak = max(self.own_peak, self._rss(self.pid))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_result(name: str, result: dict) -> Path:
    """Save a benchmark's figures as bench/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
