"""A small application wired through ddbes.container, as docs/configuration.md shows."""

from __future__ import annotations

from typing import Any

from ddbes import Aggregate
from ddbes.container import Container, create_container, install
from ddbes.model import Commit, Event


class Counter(Aggregate):
    key_schema = ("name",)

    @staticmethod
    def reducer(state: Any, event: Event, commit: Commit) -> Any:
        return (state or 0) + event["by"]

    def create(self, *, name: str) -> Counter:
        return self.commit({"type": "Incremented", "by": 0})

    def increment(self, by: int = 1) -> Counter:
        return self.commit({"type": "Incremented", "by": by})


def start(container: Container | None = None) -> Container:
    """The application's startup: build the container (from the environment) and install it."""
    container = container or create_container()
    install(container)
    return container
