"""Data-parallel batch work: one function over contiguous shards of the input, in this
process or as Ray tasks on a cluster.

The batch steps that grow with the catalogue and the user base (item embedding,
recommendation scoring, copy generation) cut their input into shards aligned with the
batches the single-process path already uses, so that every shard computes exactly what
that path computes for the same rows: the results are identical, not merely close, and
sampling keeps its seeds (a shard knows its offset in the whole input).

A shard function is a top-level function `fn(shard, *shared)`. What it needs that is
heavy (a model) it loads itself from a path and hash, once per worker process
(`cached_per_process`), so that no model is pickled between processes; `shared` values
(arrays, frames) go into Ray's object store once and are read by every task.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence


def shard_bounds(n: int, shard_rows: int, align: int = 1) -> list[tuple[int, int]]:
    """[start, stop) ranges covering range(n), each `shard_rows` long (rounded up to a
    multiple of `align`, the batch size of the single-process path) but the last."""
    if n <= 0:
        return []
    size = max(align, -(-max(shard_rows, 1) // align) * align)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


class Runner(Protocol):
    """Runs `fn(shard, *shared)` over every shard; results in shard order."""

    name: str
    workers: int

    def map(self, fn: Callable, shards: Sequence, *shared) -> list: ...


@dataclass
class LocalRunner:
    """Every shard in this process, one after another (today's behaviour)."""

    name: str = "local"
    workers: int = 1

    def map(self, fn: Callable, shards: Sequence, *shared) -> list:
        return [fn(shard, *shared) for shard in shards]


@dataclass
class RayRunner:
    """Each shard a Ray task with `cpus_per_task` CPUs. `address`: a running cluster's
    ("ray://head:10001", or "auto" inside one); empty starts a local cluster in this
    process (`ray.init`) with `num_cpus` CPUs (0: all of this machine's)."""

    address: str = ""
    num_cpus: int = 0
    cpus_per_task: float = 1.0
    name: str = "ray"

    def _ensure_connected(self):
        import ray

        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            if self.address:
                options["address"] = self.address
            elif self.num_cpus:
                options["num_cpus"] = self.num_cpus
            ray.init(**options)
        return ray

    @property
    def workers(self) -> int:
        ray = self._ensure_connected()
        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_task))

    def map(self, fn: Callable, shards: Sequence, *shared) -> list:
        ray = self._ensure_connected()
        refs = [ray.put(value) for value in shared]
        # Threads per shard follow the task's CPUs through cpus_per_worker (the shard functions pass it on).
        task = ray.remote(num_cpus=self.cpus_per_task, max_retries=2)(fn)
        return ray.get([task.remote(shard, *refs) for shard in shards])


def cached_per_process(loader: Callable) -> Callable:
    """`loader(*keys)` memoised in each process (a Ray worker keeps its model between the
    shards it runs); keys are paths, hashes and settings, never the model itself."""
    return functools.lru_cache(maxsize=4)(loader)


def cpus_per_worker(runner: Runner) -> int:
    """Threads one shard may use: all of this machine's when running locally, the task's
    share on Ray (oversubscribed threads would slow every worker down)."""
    if isinstance(runner, RayRunner):
        return max(1, int(runner.cpus_per_task))
    return os.cpu_count() or 1

