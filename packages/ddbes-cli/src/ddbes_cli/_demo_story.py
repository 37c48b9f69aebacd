"""The chapters of ``ddbes demo``: the original README's story, run for real and told as it runs."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any, cast

from ddbes import config
from ddbes.errors import DdbesError
from ddbes.model import Commit
from ddbes.projection.projector import Projector
from ddbes_cli._demo_model import ApplicationSettings, User
from ddbes_cli._runtime import say

__all__ = ["Story"]


def _create_user(**props: Any) -> User:
    # ``create`` is a class method on the class and the user's method on instances: mypy
    # sees only the instance method
    user: User = cast(Any, User).create(**props)
    return user


_WRITERS = 4
_LOGINS_EACH = 5


class Story:
    """Runs the chapters against the stores ``ddbes.config`` holds, printing what happens."""

    def __init__(self, runtime: Any, *, snapshots_frequency: int) -> None:
        self.runtime = runtime
        self.frequency = snapshots_frequency
        self.chapter = 0
        self.gudleik: User | None = None
        self.index: dict[str, str] = {}
        self.seen = 0
        self._index_lock = threading.Lock()

    # ------------------------------------------------------------------ telling

    def title(self, text: str) -> None:
        self.chapter += 1
        say("")
        say(f"{self.chapter}. {text}")

    def line(self, text: str) -> None:
        say(f"   {text}")

    # ------------------------------------------------------------------ chapters

    def setup(self) -> None:
        """Tables and bucket, as the README's setup() does."""
        store = config.commit_store
        self.title("Setup: the commit table, autoscaling, the snapshot bucket")
        if not hasattr(store, "create_table"):
            self.line(f"in-memory stores ({type(store).__name__}): nothing to create")
            return
        store.create_table(read_capacity=5, write_capacity=5)
        description = store.describe()
        self.line(
            f"created DynamoDB table {store.table_name!r}: {description.status}, provisioned "
            f"{description.read_capacity} reads / {description.write_capacity} writes, "
            f"{description.log_partitions} log partition"
        )
        try:
            store.setup_autoscaling(
                table_read_min_capacity=5,
                table_read_max_capacity=100,
                table_write_min_capacity=5,
                table_write_max_capacity=100,
                utilization_target_in_percent=60,
            )
            targets = store.describe_autoscaling()
            self.line(
                f"autoscaling: {len(targets)} targets, reads and writes 5..100 at 60% utilization"
            )
        except DdbesError as exc:  # DynamoDB Local has no Application Auto Scaling
            self.line(f"autoscaling skipped: {exc}")
        snapshots = config.snapshot_store
        if hasattr(snapshots, "create_bucket"):
            snapshots.create_bucket()
            self.line(f"created S3 bucket {snapshots.bucket!r} for snapshots")

    def settings(self) -> None:
        """A single-instance aggregate, hydrate, and loads at a version and at a time."""
        self.title("A single-instance aggregate: ApplicationSettings")
        settings = ApplicationSettings.load()
        assert settings is not None
        settings.enable_debug()
        self.line(
            f"settings.enable_debug()  -> version {settings.version}, "
            f"debug_mode={settings.state['debug_mode']}"
        )
        enabled_version = settings.version
        when_enabled = datetime.now(UTC)
        time.sleep(0.01)
        elsewhere = ApplicationSettings.load()
        assert elsewhere is not None
        elsewhere.disable_debug()
        self.line(f"... time passes; disable_debug() runs elsewhere -> version {elsewhere.version}")
        self.line(f"settings.state['debug_mode'] is still {settings.state['debug_mode']} (stale)")
        settings.hydrate()
        self.line(
            f"settings.hydrate()       -> version {settings.version}, "
            f"debug_mode={settings.state['debug_mode']}"
        )
        at_version = ApplicationSettings.load(version=enabled_version)
        at_time = ApplicationSettings.load(time=when_enabled)
        assert at_version is not None and at_time is not None
        self.line(
            f"ApplicationSettings.load(version={enabled_version}).state['debug_mode'] -> "
            f"{at_version.state['debug_mode']}"
        )
        self.line(
            f"ApplicationSettings.load(time={when_enabled.isoformat(timespec='milliseconds')})"
            f".state['debug_mode'] -> {at_time.state['debug_mode']}"
        )

    def users(self) -> None:
        """A multi-instance aggregate: two instances of the same user stay consistent."""
        self.title("A multi-instance aggregate: User")
        gudleik = _create_user(name="Gudleik")
        self.line(f"User.create(name='Gudleik') -> key {gudleik.key!r}, version {gudleik.version}")
        gudleik.change_name("Gudleika")
        self.line(f"gudleik.change_name('Gudleika') -> version {gudleik.version}")
        gudleika = User.load(gudleik.key)
        assert gudleika is not None
        gudleika.change_name("Gudleik")
        self.line(
            f"User.load({gudleik.key!r}).change_name('Gudleik') -> version {gudleika.version}"
        )
        gudleik.hydrate()
        self.line(f"gudleik.hydrate() -> version {gudleik.version}, name {gudleik.state['name']!r}")
        for name in ("Ada", "Linus"):
            _create_user(name=name)
        self.line("User.create(name='Ada'), User.create(name='Linus')")
        self.gudleik = gudleik

    def contention(self) -> None:
        """A retried command under contention: many stale writers, no lost update."""
        assert self.gudleik is not None
        key = self.gudleik.key
        start = self.gudleik.version
        total = _WRITERS * _LOGINS_EACH
        self.title(f"Retrying on version conflicts: {_WRITERS} threads, one user")
        self.line(
            f"each thread loads User {key!r}, then calls record_login() {_LOGINS_EACH} times:"
        )
        self.line("an @aggregate_command(retry=...) that numbers each login from the state")
        User.attempts = itertools.count(1)
        errors: list[BaseException] = []
        barrier = threading.Barrier(_WRITERS)

        def writer() -> None:
            try:
                user = User.load(key)
                assert user is not None
                barrier.wait()
                for _ in range(_LOGINS_EACH):
                    user.record_login()
            except BaseException as exc:  # reported below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=writer) for _ in range(_WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        elapsed = time.monotonic() - started
        attempts = next(User.attempts) - 1
        user = User.load(key)
        assert user is not None
        self.line(
            f"{total} logins committed in {elapsed:.2f} s; {attempts - total} stale attempts "
            "conflicted, re-hydrated and decided again"
        )
        self.line(
            f"User {key!r}: version {start} -> {user.version}, logins = {user.state['logins']} "
            f"(expected {total}: no update lost)"
        )
        if user.state["logins"] != total or user.version != start + total:
            raise DdbesError("the contention chapter lost an update: this is a bug in ddbes")

    def snapshots(self) -> None:
        """Snapshots every N versions, and a load that starts from one."""
        assert self.gudleik is not None
        key = self.gudleik.key
        store = config.snapshot_store
        self.title(f"Snapshots: every {self.frequency} versions, in {type(store).__name__}")
        snapshot = store.get("User", key)
        if snapshot is None:
            self.line("no snapshot was written (fewer versions than the frequency)")
            return
        where = ""
        if hasattr(store, "key_for"):
            where = f" at s3://{store.bucket}/{store.key_for('User', key)}"
        self.line(f"latest snapshot of User {key!r}: version {snapshot.version}{where}")
        loaded = User.load(key)
        replayed = User.using(snapshots=False).load(key)
        assert loaded is not None and replayed is not None
        self.line(
            f"User.load() starts from it and applies {loaded.version - snapshot.version} "
            f"commit(s) -> version {loaded.version}"
        )
        self.line(
            f"same state as replaying all {replayed.version} commits: "
            f"{'yes' if loaded.state == replayed.state else 'NO'}"
        )

    def _on_user(self, commit: Commit) -> None:
        with self._index_lock:
            for event in commit.events:
                if event["type"] in ("Created", "NameChanged"):
                    self.index[commit.aggregate_key] = event["name"]

    def _on_any(self, _commit: Commit) -> None:
        with self._index_lock:
            self.seen += 1

    def projector(self) -> Projector:
        """A projector builds a read model from the global log, then keeps watching."""
        self.title("A projector: an index of user names from the global log")
        projector = Projector(
            {"User": self._on_user, "*": self._on_any}, name="demo-user-index", poll_interval=0.05
        )
        progress = projector.run()
        positions = dict(progress.positions)
        self.line(f"projector.run() handled {progress.handled} commits up to positions {positions}")
        with self._index_lock:
            names = sorted(self.index.values())
        self.line(f"index: {len(names)} users: {', '.join(names)}")
        projector.start(watch=True)
        self.line("projector.start(watch=True): it keeps following the log in the background")
        return projector

    def stream(self, projector: Projector) -> None:
        """An event stream server and a client that receives only the events it asked for."""
        from ddbes.container import require_adapter  # noqa: PLC0415

        ws = require_adapter("ddbes_ws", "the streaming chapter")
        self.title("Streaming over websockets: EventStreamServer and a filtered EventStream")
        asyncio.run(self._stream(ws))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._index_lock:
                if "Ada Lovelace" in self.index.values() and "Linus T." in self.index.values():
                    break
            time.sleep(0.05)
        error = projector.stop()
        if error is not None:
            raise error
        with self._index_lock:
            names = sorted(self.index.values())
        self.line(f"meanwhile the watching projector updated its index: {', '.join(names)}")

    async def _stream(self, ws: Any) -> None:
        filters = [{"aggregateType": "User", "type": "NameChanged"}]
        server = ws.EventStreamServer(commit_store=config.commit_store, poll_delay=0.05)
        async with server:
            self.line(f"server listening on {server.url}")
            async with ws.EventStream(server.url, events=filters) as stream:
                self.line(f"client subscribed with filters {filters}")
                await asyncio.to_thread(self._commit_mixed_events)
                received = []
                async with asyncio.timeout(15):
                    async for item in stream:
                        received.append(item)
                        if len(received) == 2:
                            break
        for item in received:
            self.line(
                f"client received: {item.aggregate_id} v{item.version} {item.type} "
                f"name={item.event['name']!r} (position {item.position})"
            )
        self.line("the other 3 commits (settings, logins) were filtered out by the server")

    def _commit_mixed_events(self) -> None:
        names = {user.state["name"]: user for user in User.instances()}
        settings = ApplicationSettings.load()
        assert settings is not None
        settings.enable_debug()
        names["Ada"].record_login()
        names["Ada"].change_name("Ada Lovelace")
        names["Linus"].record_login()
        names["Linus"].change_name("Linus T.")
        self.line("committed 5: settings.enable_debug(), a login, a rename, a login, a rename")

    def teardown(self, keep: bool) -> None:
        """The README's teardown(): autoscaling removed, table deleted, snapshots cleared."""
        store = config.commit_store
        self.title("Teardown")
        if keep:
            self.line("--keep: the table and snapshots are left in place")
            return
        if not hasattr(store, "delete_table"):
            self.line("in-memory stores: nothing to delete")
            return
        try:
            store.remove_autoscaling()
            self.line("autoscaling removed")
        except DdbesError as exc:
            self.line(f"autoscaling not removed: {exc}")
        snapshots = config.snapshot_store
        if snapshots is not None:
            snapshots.clear()
            self.line(f"snapshots cleared from {snapshots!r}")
        store.delete_table()
        self.line(f"table {store.table_name!r} deleted")
