"""Property-based tests of keys, filters, upcasters and the codec, beyond tests/core's.

``tests/core/test_properties.py`` and ``tests/core/test_filters.py`` hold the first properties
(two-part keys over a small alphabet, JSON events through the codec, patterns over ``ab1 _``
against :mod:`re`, the filter oracle); these widen them: any separator and any text, patterns of
the whole supported syntax rendered for JavaScript and for Python side by side, junk of every
shape, upcaster chains with holes, and values the codec must refuse.
"""

from __future__ import annotations

import json
import math
import re
import string
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ddbes import codec
from ddbes.aggregates.keys import KeyPart, key_from_props, normalize_schema
from ddbes.aggregates.upcasting import upcast_event
from ddbes.errors import InvalidEvent, InvalidFilter
from ddbes.filters import compile_filters
from ddbes.filters._regexp import _SPACE, Regexp
from ddbes.model import Commit

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- keys --------------------------------------------------------------------------------------

SEPARATORS = [".", ":", "#", "/", "|", "é", "🔑", " ", "::", "--", "aa", "ab", ".\\", "-.-"]
"""Separators an aggregate may choose: one character or several, overlapping with themselves
(``"aa"``), or ending in the escape character."""


def _part_text(separator: str) -> st.SearchStrategy[str]:
    """Text rich in the separator's characters, the escape character and other unicode."""
    tricky = st.sampled_from([*separator, "\\", "\\\\", separator, "a", "b", "é", "\x00", "\n"])
    return st.lists(tricky | st.text(max_size=3), max_size=5).map("".join)


def _decode_key(key: str, separator: str) -> list[str]:
    """The reading of a key the encoding promises: a backslash makes the next character a
    literal; an unescaped separator separates."""
    parts, current, at = [], [], 0
    while at < len(key):
        if key[at] == "\\":
            assert at + 1 < len(key), f"{key!r} ends in a lone escape"
            current.append(key[at + 1])
            at += 2
        elif key.startswith(separator, at):
            parts.append("".join(current))
            current = []
            at += len(separator)
        else:
            current.append(key[at])
            at += 1
    parts.append("".join(current))
    return parts


@st.composite
def _keyed(draw: st.DrawFn) -> tuple[str, list[str]]:
    separator = draw(st.sampled_from(SEPARATORS))
    parts = draw(st.lists(_part_text(separator), min_size=1, max_size=4))
    assume(any(parts))
    return separator, parts


@BOUNDED
@given(_keyed())
def test_a_key_decodes_back_to_its_parts_whatever_the_separator(
    keyed: tuple[str, list[str]],
) -> None:
    separator, parts = keyed
    names = [f"p{i}" for i in range(len(parts))]
    key, props = key_from_props(
        normalize_schema(names), dict(zip(names, parts, strict=True)), separator
    )
    assert props == dict(zip(names, parts, strict=True))
    trimmed = list(parts)
    while len(trimmed) > 1 and trimmed[-1] == "":
        trimmed.pop()  # empty parts at the end are dropped, as documented
    assert _decode_key(key, separator) == trimmed


@BOUNDED
@given(st.data())
def test_two_different_part_tuples_never_share_a_key(data: st.DataObject) -> None:
    separator = data.draw(st.sampled_from(SEPARATORS))
    schema = normalize_schema(("x", "y", KeyPart("z", optional=True)))
    first = data.draw(st.lists(_part_text(separator), min_size=3, max_size=3))
    # A near miss: move characters across a boundary, or swap in a separator-like text.
    second = list(first)
    where = data.draw(st.integers(0, 1))
    moved = data.draw(st.integers(-3, 3))
    joined = second[where] + second[where + 1]
    cut = max(0, min(len(joined), len(second[where]) + moved))
    second[where], second[where + 1] = joined[:cut], joined[cut:]
    second[data.draw(st.integers(0, 2))] = data.draw(st.sampled_from(["", separator, "\\"]))
    keys = []
    for parts in (first, second):
        try:
            keys.append(key_from_props(schema, dict(zip("xyz", parts, strict=True)), separator)[0])
        except ValueError:
            return  # every part empty: no key at all
    assert (keys[0] == keys[1]) == (first == second), (separator, first, second, keys)


def test_a_separator_starting_with_the_escape_character_is_refused() -> None:
    with pytest.raises(ValueError, match="separator"):
        key_from_props(normalize_schema(("x", "y")), {"x": "a", "y": "b"}, "\\")


@BOUNDED
@given(st.text(min_size=1), st.sampled_from(SEPARATORS))
def test_a_one_part_key_is_the_part_with_escapes(part: str, separator: str) -> None:
    key, _ = key_from_props(normalize_schema("id"), {"id": part}, separator)
    assert _decode_key(key, separator) == [part]
    if "\\" not in part and separator[0] not in part:
        assert key == part  # plain keys stay readable


# --- filters: the regexp engine against Python's re --------------------------------------------

# A pattern is drawn as a tree and rendered twice: in the JavaScript syntax filters take, and as
# the Python pattern with the same meaning ("$" is "\Z"; "." and "\s" spelled out; ASCII \w).
_PY_DOT = "[^\\n\\r\\u2028\\u2029]"
_PY_SPACE = "[" + "".join(f"\\u{ord(c):04x}" for c in _SPACE) + "]"
_PY_NOT_SPACE = "[^" + _PY_SPACE[1:]

_LITERALS = ["a", "b", "é", " ", "-", "_", "1"]
_ESCAPED = [".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "^", "$", "/", "\\"]
_ATOMS: list[tuple[str, str]] = [
    *((c, c) for c in _LITERALS),
    *((f"\\{c}", re.escape(c)) for c in _ESCAPED),
    (".", _PY_DOT),
    ("\\n", "\\n"),
    ("\\d", "\\d"),
    ("\\D", "\\D"),
    ("\\w", "\\w"),
    ("\\W", "\\W"),
    ("\\s", _PY_SPACE),
    ("\\S", _PY_NOT_SPACE),
    ("[ab]", "[ab]"),
    ("[^a]", "[^a]"),
    ("[a-c1]", "[a-c1]"),
    ("[\\d_]", "[\\d_]"),
    ("[^\\w]", "[^\\w]"),
    ("[.-]", "[.\\-]"),
    ("\\x41", "\\x41"),
    ("\\u00e9", "\\u00e9"),
]
# Python's \B never matches an empty string; JavaScript's does (both sides are non-word).
_ASSERTIONS = [("^", "^"), ("$", "\\Z"), ("\\b", "\\b"), ("\\B", "(?:\\B|^\\Z)")]
_QUANTIFIERS = ["*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "+?", "??", "{1,3}?"]


def _render(node: Any) -> tuple[str, str]:
    kind = node[0]
    if kind == "atom":
        return node[1]
    if kind == "cat":
        rendered = [_render(child) for child in node[1]]
        return "".join(js for js, _ in rendered), "".join(py for _, py in rendered)
    if kind == "alt":
        rendered = [_render(child) for child in node[1]]
        return "|".join(js for js, _ in rendered), "|".join(py for _, py in rendered)
    if kind == "group":
        js, py = _render(node[1])
        return f"(?:{js})", f"(?:{py})"
    js, py = _render(node[1])  # "rep"
    return js + node[2], py + node[2]


def _trees() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.sampled_from(_ATOMS).map(lambda pair: ("atom", pair)),
        st.sampled_from(_ASSERTIONS).map(lambda pair: ("atom", pair)),
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        groups = children.map(lambda child: ("group", child))
        repeatable = st.one_of(st.sampled_from(_ATOMS).map(lambda pair: ("atom", pair)), groups)
        return st.one_of(
            st.lists(children, min_size=1, max_size=4).map(lambda items: ("cat", items)),
            st.lists(children, min_size=2, max_size=3).map(lambda items: ("alt", items)),
            groups,
            st.tuples(st.just("rep"), repeatable, st.sampled_from(_QUANTIFIERS)),
        )

    return st.recursive(leaves, extend, max_leaves=8)


_TEXT = st.text(alphabet="ab1_ -.é\n\u00a0\u2028A*", max_size=16)


@settings(max_examples=300, deadline=None)
@given(_trees(), _TEXT)
def test_the_engine_finds_a_pattern_exactly_where_python_re_does(tree: Any, text: str) -> None:
    js, py = _render(tree)
    assert Regexp(js).search(text) is (re.search(py, text, re.ASCII) is not None), (js, py)


@settings(max_examples=300, deadline=None)
@given(_trees(), _TEXT)
def test_an_anchored_pattern_matches_exactly_what_python_fullmatch_does(
    tree: Any, text: str
) -> None:
    js, py = _render(tree)
    anchored = Regexp(f"^(?:{js})$").search(text)
    assert anchored is (re.fullmatch(py, text, re.ASCII) is not None), (js, py)


_NESTED = ["(a+)+$", "(a|aa)+$", "(a*)*b", "(.*a){12}$", "(a|a?)+$", "(\\w+\\s?)+$", "(a+b?)+c"]


@BOUNDED
@given(
    st.one_of(st.sampled_from(_NESTED), _trees().map(lambda tree: f"({_render(tree)[0]})+$")),
    st.integers(0, 3000),
    st.sampled_from(["", "!", "b", "\n"]),
)
def test_search_work_grows_linearly_with_the_value_and_a_second_search_is_free(
    pattern: str, repeat: int, tail: str
) -> None:
    # The engine counts its automaton-building work (``_work``, reset per search): at most one
    # pass over the program per character read, and nothing once the automaton is built.
    compiled = Regexp(pattern, max_search_work=10**9)
    text = "a" * repeat + tail
    first = compiled.search(text)
    per_step = 16 + len(compiled._prog)
    assert compiled._work <= (len(text) + 1) * per_step
    assert compiled.search(text) is first
    assert compiled._work == 0


_META = "()[]{}|^$\\.*+?-,:<>=!kcxudDwWsSbB0123456789azé"


@BOUNDED
@given(st.text(alphabet=_META, max_size=24), st.text(alphabet="az09 \n-é", max_size=12))
def test_any_pattern_compiles_or_raises_invalid_filter_and_any_search_answers(
    pattern: str, text: str
) -> None:
    try:
        compiled = Regexp(pattern)
    except InvalidFilter:
        return
    try:
        assert compiled.search(text) in (True, False)
    except InvalidFilter as exc:
        assert "too much work" in str(exc)


# --- filters: junk in, InvalidFilter out --------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.just(object()),
    st.just({"regexp"}),
    st.sampled_from(["aggregateType", "type", "version", "regexp", "(a", "[", "\\"]),
)
_junk = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(
            st.one_of(st.text(max_size=6), st.integers(), st.none()), children, max_size=4
        ),
        st.dictionaries(st.just("regexp"), children, min_size=1, max_size=1),
        st.dictionaries(st.sampled_from(["type", "version", "x"]), children, max_size=3),
    ),
    max_leaves=12,
)


@BOUNDED
@given(_junk)
def test_compiling_junk_either_works_or_raises_invalid_filter(junk: Any) -> None:
    try:
        compiled = compile_filters(junk)
    except InvalidFilter as exc:
        assert str(exc)
        return
    commit = Commit(
        commit_id="c",
        aggregate_type="Cart",
        aggregate_key="@",
        version=1,
        committed_at=datetime(2030, 1, 1, tzinfo=UTC),
        events=({"type": "T", "x": 1, "version": 2},),
    )
    try:
        assert compiled.matches(commit, commit.events[0]) in (True, False)
    except InvalidFilter as exc:
        assert "too much work" in str(exc)
    json.dumps(compiled.filter_sets)  # what compiled is JSON, as a client sent it


@BOUNDED
@given(
    st.lists(
        st.integers()
        | st.integers(min_value=10**300, max_value=10**400)
        | st.floats(allow_nan=False, allow_infinity=False),
        max_size=4,
    )
)
def test_a_list_of_numbers_matches_any_equal_number(numbers: list[float]) -> None:
    compiled = compile_filters([{"n": numbers}])
    for value in [*numbers, 0.5, 10**400]:
        event = {"type": "T", "n": value}
        commit = Commit(
            commit_id="c",
            aggregate_type="Cart",
            aggregate_key="@",
            version=1,
            committed_at=datetime(2030, 1, 1, tzinfo=UTC),
            events=(event,),
        )
        assert compiled.matches(commit, event) is (value in numbers)


# --- upcasters -----------------------------------------------------------------------------------


def _chain(newest: int) -> dict[int, Any]:
    """Upcasters 0 .. newest-1 that each record their step (and return a fresh dict)."""
    return {v: (lambda e, v=v: {**e, "trail": [*e.get("trail", []), v]}) for v in range(newest)}


@BOUNDED
@given(st.integers(1, 8), st.data())
def test_every_version_reaches_the_newest_the_same_way_every_time(
    newest: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, newest))
    body = data.draw(st.dictionaries(st.sampled_from("xyz"), st.integers(), max_size=2))
    event: dict[str, Any] = {"type": "T", **body, **({"version": start} if start else {})}
    before = json.loads(json.dumps(event))
    upcasters = {"T": _chain(newest), "Other": {0: lambda e: {**e, "touched": True}}}
    upcast = upcast_event(event, upcasters)
    assert upcast.get("version", 0) == newest
    assert upcast.get("trail", []) == list(range(start, newest))
    assert upcast_event(event, upcasters) == upcast  # deterministic
    assert upcast_event(upcast, upcasters) == upcast  # idempotent on a current event
    assert event == before  # the stored event is never rewritten


@BOUNDED
@given(st.integers(2, 8), st.data())
def test_a_hole_in_the_chain_is_a_clear_error_for_the_events_below_it(
    newest: int, data: st.DataObject
) -> None:
    hole = data.draw(st.integers(0, newest - 2))  # a missing last step only shortens the chain
    chain = {v: up for v, up in _chain(newest).items() if v != hole}
    start = data.draw(st.integers(0, newest))
    event = {"type": "T", "version": start}
    if start > hole:
        assert upcast_event(event, {"T": chain})["version"] == newest
        return
    with pytest.raises(InvalidEvent, match=f"no upcaster for 'T' version {hole}"):
        upcast_event(event, {"T": chain})


@BOUNDED
@given(st.integers(0, 4), st.one_of(st.none(), st.integers(), st.text(max_size=3)))
def test_an_upcaster_returning_a_non_event_is_a_clear_error(version: int, returned: Any) -> None:
    with pytest.raises(InvalidEvent, match="not an event dict"):
        upcast_event({"type": "T", "version": version}, {"T": {version: lambda e: returned}})


# --- codec ---------------------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # any size: Python's JSON keeps big integers exact
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 0.1]),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
)
_json = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=25,
)


@BOUNDED
@given(_json)
def test_any_json_value_encodes_and_decodes_to_itself(value: Any) -> None:
    data = codec.encode(value)
    back = codec.decode(data)
    assert back == value
    assert json.dumps(back, sort_keys=True) == json.dumps(value, sort_keys=True)  # -0.0, types
    assert codec.decode(codec.encode_text(value)) == value


@BOUNDED
@given(st.one_of(st.binary(max_size=5000), _json.map(codec.encode)))
def test_compress_then_decompress_gives_the_bytes_back(data: bytes) -> None:
    payload, compressed = codec.compress(data)
    assert codec.decompress(payload, compressed) == data
    assert len(payload) <= len(data)
    assert compressed is (payload != data)


@BOUNDED
@given(st.lists(st.dictionaries(st.text(min_size=1), _json, max_size=3), min_size=1, max_size=3))
def test_events_come_back_from_storage_as_they_were_normalized(
    bodies: list[dict[str, Any]],
) -> None:
    events = [{**body, "type": "T"} for body in bodies]
    normalized = codec.normalize_events(events)
    payload, compressed = codec.compress(codec.encode_events(normalized))
    assert codec.decode_events(codec.decompress(payload, compressed)) == normalized


_not_json = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.binary(min_size=1, max_size=3),
    st.sets(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.just(object()),
    st.just(1 + 2j),
    st.just(b"\x00"),
    st.text(
        alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2
    ),
)


@BOUNDED
@given(_not_json, st.lists(st.sampled_from(["a", 0]), max_size=3))
def test_an_event_holding_what_json_cannot_store_is_an_invalid_event(
    bad: Any, path: list[str | int]
) -> None:
    nested: Any = bad
    for step in reversed(path):
        nested = {"k": nested} if step == "a" else [nested]
    with pytest.raises(InvalidEvent, match="events"):
        codec.normalize_events({"type": "T", "field": nested})


@BOUNDED
@given(
    st.one_of(
        st.datetimes(timezones=st.just(UTC)),
        st.dates(),
        st.uuids(),
    )
)
def test_times_dates_and_uuids_are_stored_as_their_iso_or_hex_strings(value: Any) -> None:
    (event,) = codec.normalize_events({"type": "T", "at": value})
    if isinstance(value, datetime):
        assert codec.parse_time(event["at"]) == value
    elif isinstance(value, UUID):
        assert UUID(event["at"]) == value
    else:
        assert event["at"] == value.isoformat()


@BOUNDED
@given(st.text(alphabet=string.printable, max_size=20))
def test_decoding_non_json_raises_a_value_error(text: str) -> None:
    try:
        json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            codec.decode(text)
        return
    # NaN and Infinity decode as Python's json reads them (encode refuses to write them).
    assert repr(codec.decode(text)) == repr(json.loads(text))
