"""What one fault test works with: the shared installation, the notes it takes for the results
table, and the invariants judged on what happened since it began."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.faults.cluster import Cluster


@dataclass
class Scene:
    cluster: Cluster
    notes: list[str] = field(default_factory=list)
    """What the test saw, in a few words each: the "outcome observed" of build/faults.md."""
    since: float = field(default_factory=time.time)
    dead_before: dict[str, int] = field(default_factory=dict)
    """Messages in the dead-letter queues when the test began."""

    def saw(self, note: str) -> None:
        self.notes.append(note)

    def check(self, job_ids: list[str], within: float = 120) -> None:
        """The invariants (invariants.py), for these jobs and everything since the start."""
        self.cluster.check.check(job_ids, self.since, self.dead_before, within)
