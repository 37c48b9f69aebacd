"""The quickstart story on the in-memory store: aggregates, retries, time travel, snapshots."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import ddbes
from ddbes import Aggregate, Commit, KeyPart, aggregate_command
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.testing import ManualClock

store = InMemoryCommitStore()
clock = ManualClock()
# snapshots=False: classes opt in (User sets snapshots = True)
ddbes.config.update(
    commit_store=store, snapshot_store=InMemorySnapshotStore(), snapshots=False, clock=clock
)


class ApplicationSettings(Aggregate):
    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = state or {}
        if event["type"] == "DebugModeEnabled":
            return {**state, "debug_mode": True}
        if event["type"] == "DebugModeDisabled":
            return {**state, "debug_mode": False}
        return state


class User(Aggregate):
    key_schema = (KeyPart("id", value=lambda p: p.get("id") or "user-1"),)
    snapshots = True
    snapshots_frequency = 50

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = state or {"logins": 0}
        if event["type"] == "Created":
            return {**state, "name": event["name"]}
        if event["type"] == "LoggedIn":
            return {**state, "logins": state["logins"] + 1}
        return state

    def create(self, id: str, name: str) -> User:
        return self.commit({"type": "Created", "name": name})

    @aggregate_command(retry=True)
    def log_in(self) -> User:
        return self.commit({"type": "LoggedIn"})


def main() -> None:
    print("ddbes quickstart on the in-memory store (no AWS account, no Docker)")
    settings = ApplicationSettings.load()
    assert settings is not None
    settings.commit({"type": "DebugModeEnabled"})
    enabled_at = clock.now()
    clock.advance(timedelta(minutes=5))
    settings.commit({"type": "DebugModeDisabled"})
    print(f"  settings now: {settings.state}  (version {settings.version})")
    print(f"  at version 1: {ApplicationSettings.get_state(version=1)}")
    print(f"  at {enabled_at:%H:%M}:       {ApplicationSettings.get_state(time=enabled_at)}")

    user = User.create(name="Gudleik")
    print(f"  created {user.aggregate_id}: {user.state}")

    def visitor() -> None:
        instance = User.load(user.key)
        assert instance is not None
        for _ in range(25):
            instance.log_in()

    threads = [threading.Thread(target=visitor) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = User.load(user.key)
    assert final is not None and final.state["logins"] == 100
    print(
        f"  4 threads x 25 retried log_in commands -> {final.state['logins']} logins, "
        f"version {final.version}, snapshot at version 100"
    )
    log = list(store.read_log())
    assert [c.position for c in log] == list(range(1, len(log) + 1))
    print(f"  global log: positions 1..{len(log)}, no hole, no duplicate")
    print("done")


if __name__ == "__main__":
    main()
