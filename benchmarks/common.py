"""What the benchmarks share: peak memory of one process, the machine line, the result file.

Peak RSS is not `ru_maxrss`: Linux carries the high-water mark of the memory a process had before
`execve` into the new program's `ru_maxrss`, so a side spawned by a benchmark parent that holds
1M generated traces reported the parent's ~3 GB as its own. `VmHWM` belongs to the new program.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux: the best there is
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def children_peak_rss_mb() -> float:
    """Largest waited-for child (e.g. a forked pool worker, whose pages shared with its parent
    at fork count here too)."""
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def machine() -> dict:
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }


def write_result(path: str | Path, result: dict) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out
