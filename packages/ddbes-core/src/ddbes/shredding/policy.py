"""Which events hold personal data, of which data subject: the shredding policy.

::

    class Customer(Aggregate):
        personal_data = {
            # these fields of CustomerRegistered belong to the subject in its "customer_id"
            "CustomerRegistered": PersonalData(subject="customer_id", fields=("name", "email")),
            # every field but "type", "version" and the subject field
            "AddressChanged": PersonalData(subject=lambda event: event["customer_id"]),
        }

    policy = ShreddingPolicy.from_aggregates(Customer)

The policy is read by the encrypting stores only; aggregates, projectors and stream servers
know nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ddbes.model import Event

__all__ = ["ERASED", "WHOLE_EVENT", "PersonalData", "ShreddingPolicy"]

ERASED = "<erased>"
"""What a forgotten subject's personal fields read as, whatever their type was."""

WHOLE_EVENT = "*"
"""``PersonalData(fields=WHOLE_EVENT)``: every field of the event but ``type``, ``version``
(the event's schema version, which upcasters read) and the subject field."""

KEPT_IN_CLEAR = frozenset({"type", "version"})


@dataclass(frozen=True, slots=True)
class PersonalData:
    """The personal data of one event type, and whose it is.

    Args:
        subject: the name of the event field holding the data subject's id, or a function
            of the event returning it. The id must be a non-empty string: an opaque id, not
            an e-mail address, since it is stored in clear (see ``docs/erasure.md``).
        fields: the top-level fields that are personal data, or :data:`WHOLE_EVENT` (the
            default). Listed fields that an event does not have are skipped.
    """

    subject: str | Callable[[Event], Any]
    fields: tuple[str, ...] | str = WHOLE_EVENT

    def __post_init__(self) -> None:
        if isinstance(self.subject, str):
            if not self.subject:
                raise ValueError("PersonalData(subject=...) must name a field or be a function")
        elif not callable(self.subject):
            raise TypeError(
                f"PersonalData(subject=...) must be a field name or a function, "
                f"not {type(self.subject).__name__}"
            )
        if isinstance(self.fields, str):
            if self.fields != WHOLE_EVENT:
                raise ValueError(
                    f"PersonalData(fields=...) must be a tuple of field names or "
                    f"{WHOLE_EVENT!r}, got {self.fields!r} "
                    f"(a one-field tuple is ({self.fields!r},))"
                )
            return
        fields = tuple(self.fields)
        object.__setattr__(self, "fields", fields)
        for name in fields:
            if not isinstance(name, str) or not name:
                raise ValueError(f"a personal field must be a non-empty string, got {name!r}")
            if name in KEPT_IN_CLEAR or name.startswith("ddbes:"):
                raise ValueError(f"field {name!r} cannot be personal data: ddbes needs it")
            if isinstance(self.subject, str) and name == self.subject:
                raise ValueError(
                    f"field {name!r} is the subject field: it stays in clear (use an opaque id)"
                )

    def subject_of(self, event: Event) -> object:
        """The subject id the event names (unchecked); raises ``KeyError`` when the subject
        field is missing."""
        if isinstance(self.subject, str):
            return event[self.subject]
        return self.subject(event)

    def personal_fields(self, event: Event) -> tuple[str, ...]:
        """The fields of ``event`` to encrypt, in a stable order."""
        if self.fields == WHOLE_EVENT:
            clear = KEPT_IN_CLEAR | ({self.subject} if isinstance(self.subject, str) else set())
            return tuple(sorted(name for name in event if name not in clear))
        return tuple(name for name in self.fields if name in event)


class ShreddingPolicy:
    """Rules by aggregate type and event type: ``{aggregate_type: {event_type: PersonalData}}``.

    The aggregate type ``"*"`` applies to every type that has no rule of its own for the event
    type.
    """

    def __init__(self, rules: Mapping[str, Mapping[str, PersonalData]] | None = None) -> None:
        self._rules: dict[str, dict[str, PersonalData]] = {}
        for aggregate_type, by_event in (rules or {}).items():
            self.add(aggregate_type, by_event)

    @classmethod
    def from_aggregates(cls, *aggregates: type[Any]) -> ShreddingPolicy:
        """The rules in the ``personal_data`` class attribute of each aggregate class, under its
        ``aggregate_type``."""
        policy = cls()
        for aggregate in aggregates:
            personal = getattr(aggregate, "personal_data", None)
            if not isinstance(personal, Mapping):
                raise TypeError(
                    f"{getattr(aggregate, '__name__', aggregate)!r} has no personal_data mapping "
                    "({event_type: PersonalData(...)})"
                )
            policy.add(aggregate.aggregate_type, personal)
        return policy

    def add(self, aggregate_type: str, rules: Mapping[str, PersonalData]) -> None:
        """Add the rules of one aggregate type (later rules replace earlier ones)."""
        if not isinstance(aggregate_type, str) or not aggregate_type:
            raise ValueError(f"an aggregate type must be a non-empty string: {aggregate_type!r}")
        for event_type, rule in rules.items():
            if not isinstance(rule, PersonalData):
                raise TypeError(
                    f"the rule for {aggregate_type}/{event_type} must be a PersonalData, "
                    f"not {type(rule).__name__}"
                )
        self._rules.setdefault(aggregate_type, {}).update(rules)

    def rule(self, aggregate_type: str, event_type: str) -> PersonalData | None:
        """The rule for an event of an aggregate type, or ``None`` (the event is not personal)."""
        own = self._rules.get(aggregate_type)
        if own is not None:
            found = own.get(event_type)
            if found is not None:
                return found
        shared = self._rules.get("*")
        return shared.get(event_type) if shared is not None else None

    def covers(self, aggregate_type: str) -> bool:
        """Whether any rule may apply to an aggregate type."""
        return aggregate_type in self._rules or "*" in self._rules
