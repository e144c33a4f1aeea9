"""The data pipeline a run takes: the whole set in memory, or batches streamed from the source.

`pipeline = auto` (the default) keeps the set in memory when, converted (inputs float32,
targets as the loss takes them), it takes at most MEMORY_FRACTION of the memory available —
the host's, and on a GPU also the device's free memory — and streams it otherwise. In memory
is the fastest way to train data that fits: no copies and no workers. Streaming reads each
batch from the source while the model trains, so the memory used is that of the batches in
flight, whatever the size of the set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netspec import ir

if TYPE_CHECKING:
    from netspec.data import Prepared

MEMORY_FRACTION = 0.25
"""The share of available memory the in-memory pipeline may take (host, and GPU)."""

MAX_WORKERS = 8


@dataclass(frozen=True)
class DataPlan:
    pipeline: str  # "memory" or "stream"
    workers: int  # processes reading streamed batches (0: the training process itself)
    data_bytes: int  # the converted set's size
    budget_bytes: int | None  # the memory the in-memory pipeline may take; None when unknown
    reason: str  # why this pipeline, for the plan line

    def describe(self) -> str:
        if self.pipeline == "memory":
            return f"in memory ({self.reason})"
        readers = f"{self.workers} worker{'s' if self.workers != 1 else ''}" if self.workers else (
            "read in the training process"
        )
        return f"streamed, {readers} ({self.reason})"

    def to_json(self) -> dict[str, object]:
        return {
            "pipeline": self.pipeline,
            "workers": self.workers,
            "data_bytes": self.data_bytes,
            "budget_bytes": self.budget_bytes,
            "reason": self.reason,
        }


def host_available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux MemAvailable); None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def default_workers(prepared: Prepared, cores: int, gpu: bool) -> int:
    """Streamed image files decode in worker processes, one per core but one (for the training
    process), up to MAX_WORKERS; so do arrays for a GPU, which the training process must keep
    fed. For the CPU, arrays on disk are read in the training process: a batch is a few reads
    and a conversion, cheaper than handing it between processes (bench/README.md)."""
    if prepared.decodes or gpu:
        return max(1, min(MAX_WORKERS, cores - 1))
    return 0


def choose(
    config: ir.TrainConfig,
    prepared: Prepared,
    device_free_bytes: int | None,
    cores: int,
    gpu: bool = False,
) -> DataPlan:
    """The pipeline for this data on this device, as `pipeline` and `workers` ask."""
    data_bytes = prepared.nbytes()
    host = host_available_bytes()
    budgets = [int(b * MEMORY_FRACTION) for b in (host, device_free_bytes) if b is not None]
    budget = min(budgets) if budgets else None
    workers = config.workers if config.workers is not None else default_workers(prepared, cores, gpu)
    if config.pipeline == "memory":
        return DataPlan("memory", 0, data_bytes, budget, f"pipeline = memory, {size(data_bytes)}")
    if config.pipeline == "stream":
        return DataPlan("stream", workers, data_bytes, budget, "pipeline = stream")
    if budget is None or data_bytes <= budget:
        limit = f" ≤ {size(budget)} budget" if budget is not None else ""
        return DataPlan("memory", 0, data_bytes, budget, f"{size(data_bytes)}{limit}")
    return DataPlan(
        "stream", workers, data_bytes, budget, f"{size(data_bytes)} > {size(budget)} budget"
    )
