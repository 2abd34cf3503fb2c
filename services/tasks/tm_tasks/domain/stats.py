"""Counts over one user's tasks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskStats:
    total: int
    completed: int
    by_priority: dict[str, int]
    by_tag: dict[str, int]
    overdue: int

    @property
    def incomplete(self) -> int:
        return self.total - self.completed

    @property
    def completion_rate(self) -> float:
        return self.completed / self.total if self.total else 0.0
