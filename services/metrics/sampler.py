"""Samples the machine with psutil (CPU, memory, disk) and the system (queue lengths)."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil

from services.common.events import MetricsSampled


def sample(
    data_dir: Path, queue_depth: dict[str, int], dead_letters: dict[str, int]
) -> MetricsSampled:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(data_dir))
    return MetricsSampled(
        host=socket.gethostname(),
        cpu_percent=psutil.cpu_percent(interval=None),  # since the previous sample
        memory_percent=memory.percent,
        memory_used_mb=round((memory.total - memory.available) / 2**20, 1),
        memory_total_mb=round(memory.total / 2**20, 1),
        disk_percent=disk.percent,
        disk_free_gb=round(disk.free / 2**30, 2),
        queue_depth=queue_depth,
        dead_letters=dead_letters,
    )
