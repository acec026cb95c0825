"""Runs that died without saying so, and the pool slots they hold.

Every asset that writes the warehouse is in the `warehouse` pool (limit 1). A run killed
with `kill -9` (or by the OOM killer, or a closed laptop lid) stays STARTED in the
Dagster instance and keeps its slot, so the next run would wait for it forever. The
daemon's run monitoring (dagster.yaml) fails such runs and frees their slots for runs it
launched; for runs started from the command line, which no daemon watches, this module
does the same before each stage:

- each run the CLI starts is tagged with its process (pid, host and the process's start
  time, so a recycled pid is not mistaken for the run);
- `recover_interrupted_runs` marks in-progress runs whose process is gone as failed, and
  frees every slot held by a run that is no longer in progress;
- `wait_for_pool` says what it waits for (the run holding the slot, its job and process)
  instead of spinning silently, re-checking for dead holders while it waits.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Callable

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

PID_TAG = "ecom/pid"
HOST_TAG = "ecom/host"
PROCESS_START_TAG = "ecom/process_start"
IN_PROGRESS = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 overall; the name in parentheses may hold spaces


def process_tags() -> dict[str, str]:
    """Tags naming the process that runs a run in-process (the CLI, a test)."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    start = _process_start(os.getpid())
    if start is not None:
        tags[PROCESS_START_TAG] = start
    return tags


def _process_gone(tags: dict[str, str]) -> bool:
    """True only when the tagged process is certainly not running (same host, pid gone or
    reused by another process); runs without the tags (launched by the UI or the daemon)
    are the daemon's to judge."""
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return False
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    started = tags.get(PROCESS_START_TAG)
    return started is not None and _process_start(pid) not in (None, started)


def recover_interrupted_runs(instance: DagsterInstance, log: Callable[[str], None] = print) -> list[str]:
    """Fail in-progress runs whose process is gone and free the pool slots of every run
    that is not in progress; returns the run ids acted on."""
    acted = []
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_PROGRESS)):
        if _process_gone(run.tags):
            instance.report_run_failed(run, f"its process (pid {run.tags[PID_TAG]}) is gone: the run was killed or "
                                            "crashed; marked failed so its pool slot is freed")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            log(f"  run {run.run_id[:8]} ({run.job_name}) was interrupted (pid {run.tags[PID_TAG]} is gone): "
                "marked failed, its warehouse slot freed")
            acted.append(run.run_id)
    storage = instance.event_log_storage
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        for run_id in info.active_run_ids | {s.run_id for s in info.pending_steps}:
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                acted.append(run_id)
    return acted


def wait_for_pool(instance: DagsterInstance, pool: str, log: Callable[[str], None] = print, poll_s: float = 2.0,
                  timeout_s: float | None = None) -> None:
    """Return once `pool` has a free slot, saying once what holds it while waiting."""
    storage = instance.event_log_storage
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    told: set[str] = set()
    while True:
        info = storage.get_concurrency_info(pool)
        limit = info.limit if info.limit is not None else info.slot_count
        if not limit or info.active_slot_count < limit:
            return
        for run_id in sorted(info.active_run_ids - told):
            run = instance.get_run_by_id(run_id)
            who = "an unknown run" if run is None else (
                f"run {run_id[:8]} ({run.job_name}, {run.status.value}"
                + (f", pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}" if PID_TAG in run.tags else "") + ")")
            log(f"  waiting for the {pool!r} pool: its slot is held by {who}; it continues when that run ends "
                "(stop it from the UI's Runs page if it hangs)")
            told.add(run_id)
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"the {pool!r} pool stayed held by {sorted(info.active_run_ids)} for {timeout_s:.0f}s")
        time.sleep(poll_s)
        recover_interrupted_runs(instance, log)
