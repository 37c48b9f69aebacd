"""Aggregate keys: key schemas, key parts, and key strings that never collide."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["KEYLESS", "KeyPart", "KeySchema", "key_from_props", "normalize_schema"]

KEYLESS = "@"
"""The key of every single-instance (keyless) aggregate."""

_ESCAPE = "\\"


@dataclass(frozen=True, slots=True)
class KeyPart:
    """One part of an aggregate's key.

    Args:
        name: the property the part is read from.
        value: ``value(props)`` computes the part from every create/load property instead
            (e.g. ``lambda p: p.get("id") or str(uuid4())``).
        optional: a missing optional part is left empty instead of raising ``ValueError``.
    """

    name: str
    value: Callable[[Mapping[str, Any]], Any] | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a key part needs a non-empty name, got {self.name!r}")


KeySchema = Sequence[str | KeyPart]


def normalize_schema(schema: KeySchema | None) -> tuple[KeyPart, ...] | None:
    """The schema as :class:`KeyPart` values; ``None`` for a keyless aggregate."""
    if schema is None:
        return None
    if isinstance(schema, (str, KeyPart)):
        schema = (schema,)
    parts = tuple(part if isinstance(part, KeyPart) else KeyPart(part) for part in schema)
    if not parts:
        raise ValueError(
            "key_schema must name at least one part (or be None for a keyless aggregate)"
        )
    names = [part.name for part in parts]
    if len(set(names)) != len(names):
        raise ValueError(f"key_schema names a part twice: {names}")
    return parts


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _escape(text: str, separator: str) -> str:
    # Escaping the separator's first character (not the whole separator) keeps multi-character
    # separators unambiguous too: with "::", ("a:", "b") and ("a", ":b") would both give "a:::b".
    first = separator[0]
    return text.replace(_ESCAPE, _ESCAPE * 2).replace(first, _ESCAPE + first)


def key_from_props(
    schema: tuple[KeyPart, ...] | None, props: Mapping[str, Any], separator: str = "."
) -> tuple[str, dict[str, Any]]:
    """``(key_string, key_props)`` for ``props``.

    Parts are joined with ``separator``; a backslash, or the separator's first character, inside
    a part is escaped with a backslash, so two different tuples of parts never give the same key.
    Missing optional parts at the end are dropped (``("a", None)`` gives ``"a"``).

    Raises:
        ValueError: a required part is missing (the message names it), the key is empty, or
            ``separator`` is empty or starts with a backslash (the escape character).
    """
    if schema is None:
        return KEYLESS, {}
    if not separator or separator[0] == _ESCAPE:
        raise ValueError(
            f"a key separator must not be empty or start with a backslash: {separator!r}"
        )
    key_props: dict[str, Any] = {}
    texts: list[str] = []
    for part in schema:
        value = part.value(props) if part.value is not None else props.get(part.name)
        if value is None and not part.optional:
            raise ValueError(f"missing required key property: {part.name}")
        key_props[part.name] = value
        texts.append(_escape(_text(value), separator))
    while len(texts) > 1 and texts[-1] == "":
        texts.pop()
    key = separator.join(texts)
    if not key:
        raise ValueError(f"the key parts {[p.name for p in schema]} are all empty")
    return key, key_props
