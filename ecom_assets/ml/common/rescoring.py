"""Re-scoring the champion on the challenger's data, so a gate compares like with like.

Once the data window has moved, the metric recorded at the champion's training was
measured on other data (after a drift the older window was easier, and the recorded
figure flatters the champion). Each model says how to score a champion
(`score(champion) -> metric`) and, when it learnt from a time window, up to when it saw
data: a champion that saw part of the challenger's validation window cannot be scored
on it (it would be judged on what it learnt from) and its recorded figure stands.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def rescore_champion(champion: dict | None, metric: str, score: Callable[[dict], float],
                     log: Callable[[str], None], *, cutoff=None, window_start=None,
                     seen_until_param: str | None = None) -> tuple[str, float] | None:
    """(champion version, its `metric` on the challenger's data), or None when the gate
    must use the recorded figure.

    cutoff: the challenger's test cutoff; a champion trained at the same cutoff was
        validated on this very window, so its recorded figure is returned as it is.
    window_start, seen_until_param: the challenger's validation window starts at
        `window_start`; the champion's params[seen_until_param] says until when it saw data.
    score: loads and scores the champion; an OSError or ValueError (missing or changed
        files) leaves the recorded figure in force, with a warning.
    """
    if champion is None:
        return None
    version, params = champion["version"], champion["params"]
    recorded = champion["metrics"].get(metric, float("nan"))
    trained_at = params.get("test_cutoff")
    if cutoff is not None and trained_at is not None and np.datetime64(trained_at) == np.datetime64(cutoff):
        return version, float(recorded)
    if window_start is not None:
        seen_until = params.get(seen_until_param) if seen_until_param else None
        if seen_until is None or np.datetime64(seen_until) > np.datetime64(window_start):
            log(f"champion {version} saw part of this validation window (or when it stopped seeing data is unknown): "
                "the gate uses its recorded metric")
            return None
    try:
        value = float(score(champion))
    except (OSError, ValueError) as exc:
        log(f"champion {version} cannot be scored ({exc}); the gate uses its recorded metric")
        return None
    log(f"champion {version} on this training's data: {metric} {value:.4f} (recorded at its training: {recorded:.4f})")
    return version, value
