"""What `make run` shows on the terminal: one line per stage with its time, a live
elapsed-time indication while a long stage runs, and nothing from libraries (their
output, C-level included, goes to the stage's log file) unless --verbose.

    quiet_libraries()                  progress bars and chatty loggers off, before imports
    with stage_output(log_file) as terminal:
        with Ticker(terminal, "text"):  ...  # "  text        42 s ..." redrawn in place
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Iterator


def quiet_libraries() -> None:
    """Library chatter off for the demo: tqdm and Hugging Face progress bars, transformers'
    and jieba's info logs, Python warnings. Set before the libraries are imported where an
    environment variable is what they read."""
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.simplefilter("ignore")
    for name in ("jieba", "transformers", "torch", "onnxruntime", "evidently", "urllib3", "dagster"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def stage_output(log_file: Path, capture: bool = True) -> Iterator[IO[str]]:
    """Everything written to stdout and stderr inside, by Python or by native code, goes to
    `log_file`; yields a handle on the real terminal for the progress line. With capture
    off (--verbose) nothing is redirected."""
    if not capture:
        yield sys.stdout
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    with open(log_file, "a", buffering=1) as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()


class Ticker:
    """While a stage runs, redraws "  <stage>  <seconds> s ..." on one terminal line every
    second (only on a terminal: a log or CI gets the final line alone); the caller prints
    the stage's line after, over it."""

    def __init__(self, terminal: IO[str], name: str, interval_s: float = 1.0):
        self.terminal, self.name, self.interval_s = terminal, name, interval_s
        self.enabled = hasattr(terminal, "isatty") and terminal.isatty()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            elapsed = time.perf_counter() - self.started
            self.terminal.write(f"\r  {self.name:<10} {elapsed:6.0f} s ...")
            self.terminal.flush()

    def __enter__(self) -> "Ticker":
        self.started = time.perf_counter()
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.terminal.write("\r" + " " * 40 + "\r")
            self.terminal.flush()
