"""The import plan: which commits of a JavaScript ddbes table go where, and what is wrong with
the rest. Pure: it takes decoded items and returns values.

- **Each aggregate on its own.** Commits are grouped by (type, key) as ``k`` spells them, so
  key ``a`` never takes the commits of ``a:5``, as the JavaScript library's range queries did;
  the keys whose loads were polluted that way are listed (:class:`LeakedKey`).
- **Times.** A commit keeps its stored time (milliseconds), except one earlier than its
  aggregate's previous commit (a skewed writer clock): it takes the previous commit's time, so
  that a load at a time gives a prefix of the versions, as everywhere in ddbes
  (:class:`RaisedTime` lists them).
- **The global log.** Commit time order, ties broken by aggregate type, then aggregate key
  (both by code point, which is DynamoDB's UTF-8 byte order and the JavaScript commit id's order
  within a millisecond), then version. An aggregate's versions are therefore in order. Each log
  partition takes the commits of its aggregates in that order.
- **Refusals.** Commits ddbes cannot store (events that are not JSON objects with a string
  ``type``, an unreadable item, a key ddbes refuses) and version holes stop the migration
  before anything is written, unless ``skip_bad_events`` / ``allow_version_gaps`` say
  otherwise.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from ddbes import Commit
from ddbes.model import log_partition_for
from ddbes_dynamodb.js_migration._checks import check_envelope, encode, event_problem
from ddbes_dynamodb.js_migration._format import JsCommit, js_sort_key

__all__ = [
    "BadCommit",
    "LeakedKey",
    "Plan",
    "Planned",
    "RaisedTime",
    "TypeCount",
    "VersionGap",
    "build_plan",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BadCommit:
    """A commit, or one event of it (``event_index``), that ddbes cannot store as it is.

    ``skipped``: left out of the migration (``skip_bad_events``); else it stopped it.
    """

    aggregate_type: str
    aggregate_key: str
    version: int
    commit_id: str
    event_index: int | None
    problem: str
    skipped: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionGap:
    """An aggregate whose versions have holes: ``missing`` lists them as inclusive ranges.

    ``migrated``: it was migrated anyway, with the holes (``allow_version_gaps``).
    """

    aggregate_type: str
    aggregate_key: str
    missing: tuple[tuple[int, int], ...]
    migrated: bool

    @property
    def missing_count(self) -> int:
        """How many versions are missing."""
        return sum(high - low + 1 for low, high in self.missing)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeakedKey:
    """An aggregate that the JavaScript library loaded with the commits of other keys
    (``read_commits_of``): its state and head version there were wrong. Each is migrated on
    its own."""

    aggregate_type: str
    aggregate_key: str
    read_commits_of: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RaisedTime:
    """A commit stored with a time earlier than its aggregate's previous commit: it is
    migrated with ``migrated_as``, the previous commit's time."""

    aggregate_type: str
    aggregate_key: str
    version: int
    stored: datetime
    migrated_as: datetime


@dataclass(slots=True)
class TypeCount:
    """Per aggregate type: commits in the source, and aggregates and commits to migrate."""

    commits_read: int = 0
    aggregates: int = 0
    commits: int = 0


@dataclass(frozen=True, slots=True)
class Planned:
    """One commit to write: its envelope (``commit.events`` is emptied to save memory: the
    stored form is ``payload``), its log partition, and whether it registers its aggregate's
    key (the first migrated commit of the aggregate does)."""

    commit: Commit
    payload: bytes
    compressed: bool
    partition: int
    registers: bool

    @property
    def identity(self) -> str:
        """What the resume check hashes: type, key, version and commit id."""
        c = self.commit
        return f"{c.aggregate_type}\x00{c.aggregate_key}\x00{c.version}\x00{c.commit_id}"


@dataclass(slots=True, kw_only=True)
class Plan:
    """What :func:`build_plan` decided. ``partitions[p]`` holds log partition ``p``'s commits
    in log order. ``refusals`` is empty when the migration may proceed."""

    log_partitions: int
    partitions: list[list[Planned]]
    commits_read: int = 0
    aggregates: int = 0
    per_type: dict[str, TypeCount] = field(default_factory=dict)
    bad: list[BadCommit] = field(default_factory=list)
    gaps: list[VersionGap] = field(default_factory=list)
    leaks: list[LeakedKey] = field(default_factory=list)
    raised_times: list[RaisedTime] = field(default_factory=list)
    inactive: int = 0
    shared_commit_ids: int = 0
    events_skipped: int = 0
    commits_skipped: int = 0
    refusals: list[str] = field(default_factory=list)

    @property
    def commits(self) -> int:
        """Commits to migrate."""
        return sum(len(partition) for partition in self.partitions)


def _gaps(versions: list[int]) -> tuple[tuple[int, int], ...]:
    """The holes of sorted ``versions`` as ranges, from version 1."""
    ranges: list[tuple[int, int]] = []
    expected = 1
    for version in versions:
        if version > expected:
            ranges.append((expected, version - 1))
        expected = version + 1
    return tuple(ranges)


def find_leaks(items: Iterable[JsCommit]) -> list[LeakedKey]:
    """The keys whose JavaScript loads (``k BETWEEN '<key>:000000001' AND '<key>:999999999'``)
    took in items of other keys."""
    by_type: dict[str, dict[str, str]] = defaultdict(dict)
    for item in items:
        if item.sort_key and ":" in item.sort_key:
            by_type[item.aggregate_type][item.sort_key] = item.sort_key.rpartition(":")[0]
    leaks: list[LeakedKey] = []
    for aggregate_type in sorted(by_type):
        keys_of = by_type[aggregate_type]
        ordered = sorted(keys_of)
        for key in sorted(set(keys_of.values())):
            low, high = js_sort_key(key, 1), js_sort_key(key, 999_999_999)
            others: dict[str, None] = {}
            index = bisect.bisect_left(ordered, low)
            while index < len(ordered) and ordered[index] <= high:
                owner = keys_of[ordered[index]]
                if owner != key:
                    others[owner] = None
                index += 1
            if others:
                leaks.append(
                    LeakedKey(
                        aggregate_type=aggregate_type,
                        aggregate_key=key,
                        read_commits_of=tuple(others),
                    )
                )
    return leaks


class _Builder:
    def __init__(self, plan: Plan, *, skip_bad_events: bool) -> None:
        self.plan = plan
        self.skip = skip_bad_events

    def bad(self, js: JsCommit, problem: str, event_index: int | None = None) -> None:
        self.plan.bad.append(
            BadCommit(
                aggregate_type=js.aggregate_type,
                aggregate_key=js.aggregate_key,
                version=js.version,
                commit_id=js.commit_id,
                event_index=event_index,
                problem=problem,
                skipped=self.skip,
            )
        )

    def aggregate(self, commits: list[JsCommit]) -> list[tuple[Commit, bytes, bool]]:
        """The commits of one aggregate that can be migrated, in version order."""
        kept: list[tuple[Commit, bytes, bool]] = []
        previous: datetime | None = None
        for js in sorted(commits, key=lambda c: c.version):
            outcome = self.commit(js, previous)
            if outcome is not None:
                kept.append(outcome)
                previous = outcome[0].committed_at
        return kept

    def commit(self, js: JsCommit, previous: datetime | None) -> tuple[Commit, bytes, bool] | None:
        plan = self.plan
        if js.problem is not None or js.committed_at is None:
            self.bad(js, js.problem or "its time cannot be read")
            plan.commits_skipped += self.skip
            return None
        if not isinstance(js.events, list) or not js.events:
            shape = "an empty list" if js.events == [] else f"a JSON {type(js.events).__name__}"
            self.bad(js, f"its events are {shape}, not a list of events")
            plan.commits_skipped += self.skip
            return None
        at = js.committed_at
        if previous is not None and at < previous:
            plan.raised_times.append(
                RaisedTime(
                    aggregate_type=js.aggregate_type,
                    aggregate_key=js.aggregate_key,
                    version=js.version,
                    stored=at,
                    migrated_as=previous,
                )
            )
            at = previous
        commit = Commit(
            commit_id=js.commit_id,
            aggregate_type=js.aggregate_type,
            aggregate_key=js.aggregate_key,
            version=js.version,
            committed_at=at,
            events=tuple(js.events),
        )
        encoded = encode(commit)
        if isinstance(encoded, str) and (problem := check_envelope(commit)) is not None:
            self.bad(js, problem)  # the key, type or id: whatever the events
            plan.commits_skipped += self.skip
            return None
        if isinstance(encoded, str):
            problems = [(i, event_problem(commit, i)) for i in range(len(commit.events))]
            bad_events = [(i, p) for i, p in problems if p is not None]
            if not bad_events:  # the events are fine one by one: the commit is too large
                self.bad(js, encoded)
                plan.commits_skipped += self.skip
                return None
            for index, event_issue in bad_events:
                self.bad(js, event_issue, index)
            if not self.skip:
                return None
            plan.events_skipped += len(bad_events)
            dropped = {i for i, _ in bad_events}
            good = tuple(e for i, e in enumerate(commit.events) if i not in dropped)
            if not good:
                plan.commits_skipped += 1
                return None
            commit = replace(commit, events=good)
            encoded = encode(commit)
            if isinstance(encoded, str):
                self.bad(js, encoded)
                plan.commits_skipped += 1
                return None
        payload, compressed = encoded
        return replace(commit, events=()), payload, compressed


def build_plan(
    items: Iterable[JsCommit],
    *,
    log_partitions: int,
    allow_version_gaps: bool = False,
    skip_bad_events: bool = False,
) -> Plan:
    """Plan the migration of ``items`` (every item of the source table) into a table of
    ``log_partitions`` log partitions."""
    listed = list(items)
    plan = Plan(log_partitions=log_partitions, partitions=[[] for _ in range(log_partitions)])
    plan.commits_read = len(listed)
    plan.leaks = find_leaks(listed)
    by_aggregate: dict[tuple[str, str], list[JsCommit]] = defaultdict(list)
    for js in listed:
        by_aggregate[(js.aggregate_type, js.aggregate_key)].append(js)
        plan.per_type.setdefault(js.aggregate_type, TypeCount()).commits_read += 1
        plan.inactive += not js.active
    builder = _Builder(plan, skip_bad_events=skip_bad_events)
    migrated: list[tuple[Commit, bytes, bool]] = []
    first: set[tuple[str, str, int]] = set()
    for (aggregate_type, aggregate_key), commits in sorted(by_aggregate.items()):
        kept = builder.aggregate(commits)
        if not kept:
            continue
        holes = _gaps([commit.version for commit, _, _ in kept])
        if holes:
            plan.gaps.append(
                VersionGap(
                    aggregate_type=aggregate_type,
                    aggregate_key=aggregate_key,
                    missing=holes,
                    migrated=allow_version_gaps,
                )
            )
        counts = plan.per_type[aggregate_type]
        counts.aggregates += 1
        counts.commits += len(kept)
        plan.aggregates += 1
        first.add((aggregate_type, aggregate_key, kept[0][0].version))
        migrated.extend(kept)
    migrated.sort(
        key=lambda e: (e[0].committed_at, e[0].aggregate_type, e[0].aggregate_key, e[0].version)
    )
    ids = Counter(commit.commit_id for commit, _, _ in migrated)
    plan.shared_commit_ids = sum(count for count in ids.values() if count > 1)
    for commit, payload, compressed in migrated:
        partition = log_partition_for(commit.aggregate_type, commit.aggregate_key, log_partitions)
        registers = (commit.aggregate_type, commit.aggregate_key, commit.version) in first
        plan.partitions[partition].append(
            Planned(commit, payload, compressed, partition, registers)
        )
    unskipped = [bad for bad in plan.bad if not bad.skipped]
    if unskipped:
        plan.refusals.append(
            f"{len(unskipped)} commit(s) or event(s) cannot be stored by ddbes as they are "
            "(see bad_commits); fix them in the source, or skip them with --skip-bad-events "
            "(skip_bad_events=True)"
        )
    if plan.gaps and not allow_version_gaps:
        plan.refusals.append(
            f"{len(plan.gaps)} aggregate(s) have holes in their versions (see version_gaps); "
            "migrate them with their holes with --allow-version-gaps (allow_version_gaps=True)"
        )
    return plan
