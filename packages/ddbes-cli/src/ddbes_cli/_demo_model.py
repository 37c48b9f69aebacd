"""The demo's aggregates: the original README's ``ApplicationSettings`` and ``User``."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from typing import Any

from ddbes import Aggregate, KeyPart, RetryPolicy, aggregate_command
from ddbes.model import Commit, Event

__all__ = ["ApplicationSettings", "User"]

_CONTENDED = RetryPolicy(max_attempts=60, initial_delay=0.002, backoff=1.5, max_delay=0.05)
"""Eight writers on one aggregate: many quick retries rather than a few long waits."""


class ApplicationSettings(Aggregate):
    """A single-instance (keyless) aggregate: the application's settings."""

    @staticmethod
    def reducer(state: Any, event: Event, commit: Commit) -> Any:
        state = state or {}
        match event["type"]:
            case "DebugModeEnabled":
                return {**state, "debug_mode": True, "updated_at": commit.committed_at.isoformat()}
            case "DebugModeDisabled":
                return {
                    **state,
                    "debug_mode": False,
                    "updated_at": commit.committed_at.isoformat(),
                }
        return state

    def enable_debug(self) -> ApplicationSettings:
        return self.commit({"type": "DebugModeEnabled"})

    def disable_debug(self) -> ApplicationSettings:
        return self.commit({"type": "DebugModeDisabled"})


def _user_id(props: Mapping[str, Any]) -> str:
    return str(props.get("id") or uuid.uuid4().hex[:12])


class User(Aggregate):
    """A multi-instance aggregate, keyed by ``id`` (a fresh one when none is given)."""

    key_schema = (KeyPart("id", value=_user_id),)
    attempts = itertools.count(1)
    """How many times ``record_login`` ran, retries included (the demo counts conflicts)."""

    @staticmethod
    def reducer(state: Any, event: Event, commit: Commit) -> Any:
        state = state or {}
        match event["type"]:
            case "Created":
                return {
                    **state,
                    "id": event["id"],
                    "name": event["name"],
                    "logins": 0,
                    "created_at": commit.committed_at.isoformat(),
                }
            case "NameChanged":
                return {
                    **state,
                    "name": event["name"],
                    "updated_at": commit.committed_at.isoformat(),
                }
            case "LoggedIn":
                return {**state, "logins": event["number"]}
        return state

    def create(self, *, id: str, name: str) -> User:
        return self.commit({"type": "Created", "id": id, "name": name})

    def change_name(self, name: str) -> User:
        return self.commit({"type": "NameChanged", "name": name})

    @aggregate_command(retry=_CONTENDED)
    def record_login(self) -> User:
        """Decides on the current state (the next login number): a stale instance conflicts,
        re-hydrates and decides again, so no login is lost or numbered twice."""
        next(User.attempts)
        return self.commit({"type": "LoggedIn", "number": self.state["logins"] + 1})
