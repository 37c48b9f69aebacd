"""What a migration did and found: :class:`MigrationReport`, and the errors that carry one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ddbes.errors import DdbesError
from ddbes_dynamodb.js_migration._plan import (
    BadCommit,
    LeakedKey,
    Plan,
    RaisedTime,
    VersionGap,
)

__all__ = ["MigrationFailed", "MigrationRefused", "MigrationReport", "VerificationFailed"]

_SHOWN = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationReport:
    """The outcome of :func:`ddbes_dynamodb.migrate_js`.

    Counts: ``commits_read`` (items in the source), ``commits_planned`` (to be in the target),
    ``commits_written`` (by this run), ``commits_already_migrated`` (by earlier runs: a resume
    or a re-run), ``commits_skipped`` and ``events_skipped`` (``skip_bad_events``),
    ``aggregates``, ``per_type`` (``{type: {"commits_read", "aggregates", "commits"}}``),
    ``inactive_commits`` (``z = "f"``: left out of the JavaScript global stream, migrated like
    the others), ``shared_commit_ids`` (commits whose JavaScript commit id another commit also
    has: the JavaScript ids are not unique within a millisecond).

    Findings: ``bad_commits``, ``version_gaps``, ``leaked_keys``, ``raised_times`` (see
    :mod:`ddbes_dynamodb.js_migration`). ``refusals`` says why nothing was written (empty when
    the migration ran). ``log`` gives, per log partition, the first and last position of the
    migrated commits. ``verified`` is ``None`` for a dry run or a refusal, else whether the
    target holds exactly the plan (``verification_errors`` says what not).
    """

    source_table: str
    target_table: str
    dry_run: bool
    log_partitions: int
    commits_read: int
    commits_planned: int
    commits_written: int
    commits_already_migrated: int
    commits_skipped: int
    events_skipped: int
    aggregates: int
    per_type: dict[str, dict[str, int]]
    inactive_commits: int
    shared_commit_ids: int
    bad_commits: tuple[BadCommit, ...]
    version_gaps: tuple[VersionGap, ...]
    leaked_keys: tuple[LeakedKey, ...]
    raised_times: tuple[RaisedTime, ...]
    refusals: tuple[str, ...]
    log: dict[int, tuple[int, int]] = field(default_factory=dict)
    verified: bool | None = None
    verification_errors: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the migration did what was asked: a dry run found nothing that stops it, or
        the migration ran and verified."""
        if self.refusals:
            return False
        return self.dry_run or self.verified is True

    @property
    def commits_per_second(self) -> float:
        """Commits written per second of the whole run (reading and verifying included)."""
        return self.commits_written / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def of(cls, plan: Plan, **fields: Any) -> MigrationReport:
        """A report of ``plan``'s findings, with the run's own ``fields``."""
        per_type = {name: asdict(count) for name, count in sorted(plan.per_type.items())}
        return cls(
            log_partitions=plan.log_partitions,
            commits_read=plan.commits_read,
            commits_planned=plan.commits,
            commits_skipped=plan.commits_skipped,
            events_skipped=plan.events_skipped,
            aggregates=plan.aggregates,
            per_type=per_type,
            inactive_commits=plan.inactive,
            shared_commit_ids=plan.shared_commit_ids,
            bad_commits=tuple(plan.bad),
            version_gaps=tuple(plan.gaps),
            leaked_keys=tuple(plan.leaks),
            raised_times=tuple(plan.raised_times),
            refusals=tuple(plan.refusals),
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (times as ISO-8601 strings)."""
        data = asdict(self)
        data["ok"] = self.ok
        data["commits_per_second"] = round(self.commits_per_second, 1)
        data["log"] = {str(p): {"first": a, "last": b} for p, (a, b) in self.log.items()}
        for entry in data["raised_times"]:
            entry["stored"] = entry["stored"].isoformat()
            entry["migrated_as"] = entry["migrated_as"].isoformat()
        for entry in data["version_gaps"]:
            entry["missing"] = [list(span) for span in entry["missing"]]
        return data

    def lines(self) -> list[str]:
        """The report for people, one finding per line (long lists are cut)."""
        verb = "would migrate" if self.dry_run else "migrated"
        out = [
            f"{self.source_table} -> {self.target_table}: read {self.commits_read} commit(s); "
            f"{verb} {self.commits_planned} commit(s) of {self.aggregates} aggregate(s)"
            + (
                ""
                if self.dry_run
                else f" ({self.commits_written} written now, {self.commits_already_migrated} "
                "by earlier runs)"
            ),
        ]
        for name, count in self.per_type.items():
            out.append(
                f"  {name}: {count['aggregates']} aggregate(s), {count['commits']} of "
                f"{count['commits_read']} commit(s)"
            )
        if self.log:
            spans = ", ".join(f"partition {p}: {a}..{b}" for p, (a, b) in sorted(self.log.items()))
            out.append(f"global log positions: {spans}")
        out.extend(self._findings())
        for refusal in self.refusals:
            out.append(f"REFUSED: {refusal}; nothing was written")
        if self.verified is True:
            out.append("verified: the target holds every migrated commit, in log order")
        elif self.verified is False:
            out.append("VERIFICATION FAILED:")
            out.extend(f"  {error}" for error in self.verification_errors)
        if self.seconds:
            out.append(f"{self.seconds:.1f} s, {self.commits_per_second:,.0f} commits/s written")
        return out

    def _findings(self) -> list[str]:
        out: list[str] = []

        def cut(items: tuple[Any, ...], title: str, show: Any) -> None:
            if not items:
                return
            out.append(f"{title}: {len(items)}")
            out.extend(f"  {show(item)}" for item in items[:_SHOWN])
            if len(items) > _SHOWN:
                out.append(f"  ... and {len(items) - _SHOWN} more (--json lists them all)")

        cut(
            self.bad_commits,
            "bad commits or events"
            + (" (skipped)" if self.commits_skipped or self.events_skipped else ""),
            lambda b: (
                f"{b.aggregate_type}:{b.aggregate_key!r} v{b.version}"
                + ("" if b.event_index is None else f" event {b.event_index}")
                + f": {b.problem}"
            ),
        )
        cut(
            self.version_gaps,
            "aggregates with version holes"
            + (" (migrated with them)" if any(g.migrated for g in self.version_gaps) else ""),
            lambda g: (
                f"{g.aggregate_type}:{g.aggregate_key!r} lacks versions "
                + ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in g.missing)
            ),
        )
        cut(
            self.leaked_keys,
            "keys whose JavaScript loads took other keys' commits (each migrated on its own)",
            lambda k: (
                f"{k.aggregate_type}:{k.aggregate_key!r} read the commits of "
                + ", ".join(repr(other) for other in k.read_commits_of[:5])
            ),
        )
        cut(
            self.raised_times,
            "commits stored earlier than their previous version (migrated at its time)",
            lambda r: (
                f"{r.aggregate_type}:{r.aggregate_key!r} v{r.version}: "
                f"{r.stored.isoformat()} -> {r.migrated_as.isoformat()}"
            ),
        )
        if self.inactive_commits:
            out.append(
                f"inactive commits (z='f', hidden from the JavaScript stream): "
                f"{self.inactive_commits}, migrated like the others"
            )
        if self.shared_commit_ids:
            out.append(
                f"commits sharing a JavaScript commit id with another: {self.shared_commit_ids} "
                "(kept as they are)"
            )
        return out


class MigrationFailed(DdbesError):
    """A migration did not complete; ``report`` says what it did and found."""

    def __init__(self, message: str, report: MigrationReport) -> None:
        super().__init__(message)
        self.report = report


class MigrationRefused(MigrationFailed):
    """The source holds what ddbes cannot store as it is, or version holes, and the options do
    not allow them: nothing was written."""


class VerificationFailed(MigrationFailed):
    """The migration ran, but the target does not hold exactly the plan."""
