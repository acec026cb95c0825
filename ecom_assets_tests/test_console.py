"""The demo's terminal: library output (native included) goes to the stage log, the
terminal handle stays usable, and the live ticker stays off where nobody watches."""

import io
import os
import subprocess
import sys
import time

from ecom_assets.console import Ticker, stage_output


def test_stage_output_sends_python_and_native_writes_to_the_log_and_restores_the_terminal(tmp_path):
    script = f"""
import os, sys
sys.path.insert(0, {str(os.getcwd())!r})
from pathlib import Path
from ecom_assets.console import stage_output
with stage_output(Path({str(tmp_path / 'stage.log')!r})) as terminal:
    print("from python")
    sys.stderr.write("a warning\\n")
    os.system("echo from a child process")
    os.write(2, b"from native code\\n")
    terminal.write("to the terminal\\n")
print("after the stage")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    log = (tmp_path / "stage.log").read_text()
    for line in ("from python", "a warning", "from a child process", "from native code"):
        assert line in log and line not in done.stdout + done.stderr
    assert done.stdout.splitlines() == ["to the terminal", "after the stage"]


def test_stage_output_without_capture_changes_nothing(tmp_path):
    with stage_output(tmp_path / "stage.log", capture=False) as terminal:
        assert terminal is sys.stdout
    assert not (tmp_path / "stage.log").exists()


def test_the_ticker_draws_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    quiet, live = io.StringIO(), Terminal()
    with Ticker(quiet, "text", interval_s=0.01):
        pass
    with Ticker(live, "text", interval_s=0.01) as ticker:
        deadline = time.monotonic() + 10
        while "text" not in live.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert quiet.getvalue() == ""
    assert ticker.enabled and "\r  text" in live.getvalue() and live.getvalue().endswith("\r")
