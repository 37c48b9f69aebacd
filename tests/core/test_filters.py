"""The stream filter language (``ddbes.filters``): JavaScript-compatible semantics, strict
validation, and patterns that cannot stall a server."""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddbes.errors import InvalidFilter
from ddbes.filters import DEFAULT_LIMITS, EventFilter, FilterLimits, compile_filters
from ddbes.model import Commit


def commit_of(
    *events: dict[str, Any],
    aggregate_type: str = "Cart",
    key: str = "@",
    version: int = 1,
    commit_id: str = "c-1",
) -> Commit:
    return Commit(
        commit_id=commit_id,
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=datetime(2030, 1, 1, tzinfo=UTC),
        events=tuple(events),
        position=1,
    )


def matches(filter_sets: Any, event: dict[str, Any], **commit: Any) -> bool:
    return compile_filters(filter_sets).matches(commit_of(event, **commit), event)


ITEM_ADDED = {"type": "ItemAdded", "name": "firstItem"}


# --- The JavaScript library's own unit cases (eventMatchesSubscriptions.test.js) ---


def test_an_empty_filter_set_matches_everything() -> None:
    assert matches([{}], ITEM_ADDED)
    assert compile_filters([{}]).matches_everything


def test_an_empty_filter_matches_nothing() -> None:
    assert not matches([], ITEM_ADDED)


def test_an_equal_attribute_matches() -> None:
    assert matches([{"type": "ItemAdded"}], ITEM_ADDED)


def test_a_different_attribute_does_not_match() -> None:
    assert not matches([{"type": "ItemRemoved"}], ITEM_ADDED)


def test_every_key_of_a_set_must_match() -> None:
    assert not matches([{"type": "ItemAdded", "name": "other"}], ITEM_ADDED)
    assert not matches([{"type": "ItemAdded", "aggregateType": "User"}], ITEM_ADDED)
    assert matches([{"type": "ItemAdded", "aggregateType": "Cart"}], ITEM_ADDED)


def test_a_list_value_matches_any_of_its_members() -> None:
    assert matches([{"type": ["ItemRemoved", "ItemAdded"]}], ITEM_ADDED)
    assert not matches([{"type": ["ItemRemoved", "Other"]}], ITEM_ADDED)


def test_a_regexp_is_searched_unanchored() -> None:
    assert matches([{"aggregateType": {"regexp": "^Ca"}}], ITEM_ADDED)
    assert matches([{"type": {"regexp": "Add"}}], ITEM_ADDED)
    assert not matches([{"type": {"regexp": "^Add"}}], ITEM_ADDED)


def test_any_matching_set_is_enough() -> None:
    assert matches([{"type": "Nope"}, {"name": "firstItem"}], ITEM_ADDED)


def test_the_original_readme_example() -> None:
    readme = [
        {"aggregateType": "Cart", "type": ["ItemAdded", "ItemRemoved"]},
        {"aggregateType": {"regexp": "^Customer."}},
    ]
    assert matches(readme, ITEM_ADDED, aggregate_type="Cart")
    assert not matches(readme, {"type": "Checkout"}, aggregate_type="Cart")
    assert matches(readme, {"type": "Created"}, aggregate_type="CustomerAccount")
    assert not matches(readme, {"type": "Created"}, aggregate_type="Customer")


# --- Envelope keys versus event fields ---


def test_envelope_keys_read_the_commit_not_the_event() -> None:
    event = {"type": "Renamed", "aggregateType": "Spoof", "version": 7, "commitId": "x"}
    assert matches([{"aggregateType": "Cart"}], event)
    assert not matches([{"aggregateType": "Spoof"}], event)
    assert matches([{"version": [3]}], event, version=3)
    assert not matches([{"version": [7]}], event, version=3)
    assert matches([{"commitId": "c-9"}], event, commit_id="c-9")
    assert matches([{"aggregateKey": {"regexp": "^a\\."}}], event, key="a.b")


def test_other_keys_read_event_fields_strictly() -> None:
    event = {"type": "T", "n": 1, "flag": True, "f": 2.0, "nested": {"a": 1}}
    assert matches([{"n": [1]}], event)
    assert matches([{"n": [1.0]}], event)  # JavaScript: 1 === 1.0
    assert not matches([{"n": [True]}], event)  # ... but 1 !== true
    assert matches([{"flag": [True]}], event)
    assert not matches([{"flag": [1]}], event)
    assert matches([{"f": [2]}], event)
    assert not matches([{"n": "1"}], event)
    assert not matches([{"n": {"regexp": "1"}}], event)  # a regexp only searches strings
    assert not matches([{"missing": ["x"]}], event)
    assert not matches([{"nested": {"regexp": "a"}}], event)


def test_matching_events_lists_the_matching_indexes() -> None:
    commit = commit_of({"type": "A"}, {"type": "B"}, {"type": "A"})
    assert compile_filters([{"type": "A"}]).matching_events(commit) == [0, 2]


def test_the_filter_keeps_a_copy_of_what_it_was_given() -> None:
    given_sets = [{"type": ["A"]}]
    compiled = compile_filters(given_sets)
    given_sets[0]["type"].append("B")  # type: ignore[attr-defined]
    assert compiled.filter_sets == [{"type": ["A"]}]
    assert isinstance(compiled, EventFilter)


# --- Validation: clear errors instead of silent mismatches and crashes ---


@pytest.mark.parametrize(
    ("filter_sets", "message"),
    [
        ({"type": "A"}, "must be a list of filter sets"),
        ("[{}]", "must be a list of filter sets"),
        (None, "not null"),
        ([None], "filter set 0 must be an object, not null"),
        ([{}, ["type"]], "filter set 1 must be an object, not a list"),
        ([{"type": None}], "key 'type'.*not null"),
        ([{"version": 1}], r"use \[1\] to match the number 1"),
        ([{"type": True}], "not a boolean"),
        ([{"type": {"regex": "^A"}}], "regexp"),
        ([{"type": {"regexp": "^A", "flags": "i"}}], "nothing else"),
        ([{"type": {"regexp": ""}}], "non-empty string"),
        ([{"type": {"regexp": None}}], "non-empty string"),
        ([{"type": [None]}], "list values must be"),
        ([{"type": [["A"]]}], "list values must be"),
        ([{"type": [float("nan")]}], "list values must be"),
        ([{"type": {"regexp": "(a"}}], r"missing '\)'"),
        ([{"type": {"regexp": "(a)\\1"}}], "backreferences"),
        ([{"type": {"regexp": "(?<=a)b"}}], "lookaround"),
        ([{"type": {"regexp": "(?!a)b"}}], "lookaround"),
        ([{"type": {"regexp": "a**"}}], "nothing to repeat"),
        ([{"type": {"regexp": "[z-a]"}}], "out of order"),
        ([{"type": {"regexp": "a" * 257}}], "over the limit of 256"),
        ([{"type": {"regexp": "(a{1000}){1000}"}}], "over 1000 instructions"),
        ([{}] * 101, "over the limit of 100"),
        ([{f"k{i}": "v" for i in range(33)}], "over the limit of 32"),
        ([{"type": ["x"] * 1001}], "over 1000"),
        ([{f"k{i}": {"regexp": "a"} for i in range(17)}], "17 regexp values"),
    ],
)
def test_malformed_filters_raise_invalid_filter(filter_sets: Any, message: str) -> None:
    with pytest.raises(InvalidFilter, match=message):
        compile_filters(filter_sets)


def test_invalid_filter_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        compile_filters([{"type": None}])


def test_limits_are_configurable() -> None:
    limits = FilterLimits(max_sets=2, max_pattern_length=4)
    with pytest.raises(InvalidFilter):
        compile_filters([{}, {}, {}], limits=limits)
    with pytest.raises(InvalidFilter):
        compile_filters([{"type": {"regexp": "abcde"}}], limits=limits)
    assert DEFAULT_LIMITS.max_sets == 100


# --- Patterns: JavaScript syntax, linear time ---


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("^Customer.", "CustomerCreated", True),
        ("^Customer.", "Customer", False),
        ("a.c", "a\nc", False),  # "." stops at line terminators, as in JavaScript
        ("a$", "a\n", False),  # "$" is the very end (Python's re would say True)
        ("\\bfoo\\b", "a foo.", True),
        ("\\bfoo\\b", "afoo", False),
        ("\\Bb", "ab", True),
        ("x{2,3}$", "axx", True),
        ("a{", "a{", True),  # a "{" that starts no quantifier is a literal
        ("[]", "a", False),  # JavaScript's empty class
        ("[^]", "\n", True),
        ("[\\d-z]+$", "1-z", True),
        ("\\x41\\u0042", "AB", True),
        ("colou?r", "color", True),
        ("(?<year>\\d{4})-\\d\\d", "on 2030-01", True),
        ("a+?b", "aab", True),
        ("\\/path\\.", "/path.", True),
        ("\\s+", "\u00a0", True),
    ],
)
def test_patterns_follow_javascript_syntax(pattern: str, text: str, expected: bool) -> None:
    assert matches([{"name": {"regexp": pattern}}], {"type": "T", "name": text}) is expected


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)+$", "(a*)*b", "(.*a){20}$", "(a|a?)+$"])
def test_catastrophic_patterns_run_in_linear_time(pattern: str) -> None:
    compiled = compile_filters([{"name": {"regexp": pattern}}])
    event = {"type": "T", "name": "a" * 100_000 + "!"}
    started = time.perf_counter()
    for _ in range(10):
        compiled.matches(commit_of(event), event)
    assert time.perf_counter() - started < 1.0


def test_a_pattern_whose_automaton_explodes_is_refused_when_it_costs_too_much() -> None:
    compiled = compile_filters([{"name": {"regexp": "(a|b)*a(a|b){40}c"}}])
    noise = random.Random(7)
    event = {"type": "T", "name": "".join(noise.choice("ab") for _ in range(4096))}
    started = time.perf_counter()
    with pytest.raises(InvalidFilter, match="too much work"):
        compiled.matches(commit_of(event), event)
    assert time.perf_counter() - started < 0.5


def test_only_the_first_characters_of_a_long_value_are_searched() -> None:
    limits = FilterLimits(max_search_length=10)
    compiled = compile_filters([{"name": {"regexp": "needle"}}], limits=limits)
    near = {"type": "T", "name": "needle" + "x" * 100}
    far = {"type": "T", "name": "x" * 100 + "needle"}
    assert compiled.matches(commit_of(near), near)
    assert not compiled.matches(commit_of(far), far)
    ends = compile_filters([{"name": {"regexp": "x$"}}], limits=limits)
    cut = {"type": "T", "name": "x" * 20}
    assert not ends.matches(commit_of(cut), cut)  # the value does not end at the cut


# --- Properties ---


def _pattern() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(["a", "b", ".", "[ab]", "[^a]", "\\w", "\\d", "(?:a|b)"])
    quantified = st.tuples(atoms, st.sampled_from(["", "*", "+", "?", "{1,2}", "*?", "{2}"])).map(
        "".join
    )
    sequence = st.lists(quantified, min_size=1, max_size=4).map("".join)
    branch = st.tuples(
        st.sampled_from(["", "^", "\\b"]), sequence, st.sampled_from(["", "$", "\\b"])
    ).map("".join)
    grouped = st.lists(branch, min_size=1, max_size=3).map(lambda bs: "(" + "|".join(bs) + ")")
    return st.one_of(
        branch, grouped, st.tuples(grouped, st.sampled_from(["*", "+", "?"])).map("".join)
    )


@settings(max_examples=400, deadline=None)
@given(pattern=_pattern(), text=st.text(alphabet="ab1 _", max_size=12))
def test_patterns_agree_with_python_re_where_the_syntaxes_agree(pattern: str, text: str) -> None:
    compiled = compile_filters([{"name": {"regexp": pattern}}])
    event = {"type": "T", "name": text}
    assert compiled.matches(commit_of(event), event) is bool(re.search(pattern, text, re.ASCII))


_VALUES = st.sampled_from(["A", "B", "Cart", "User", 1, 2, 1.0, True, False])
_FIELD_VALUES = st.one_of(_VALUES, st.none(), st.lists(st.just("A"), max_size=1))


def _value() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["A", "B", "Cart", "User"]),
        st.lists(_VALUES, max_size=3),
        st.sampled_from([{"regexp": "^C"}, {"regexp": "A|B"}, {"regexp": "r$"}]),
    )


def _oracle(
    filter_sets: list[dict[str, Any]], envelope: dict[str, Any], event: dict[str, Any]
) -> bool:
    """The specification, written as plainly as possible."""

    def field_matches(key: str, wanted: Any) -> bool:
        present = (
            key in envelope
            if key in ("aggregateType", "aggregateKey", "commitId", "version", "type")
            else key in event
        )
        if not present:
            return False
        field = envelope[key] if key in envelope else event[key]
        if isinstance(wanted, str):
            return isinstance(field, str) and field == wanted
        if isinstance(wanted, list):
            return any(
                type(field) is type(w) or (type(field) in (int, float) and type(w) in (int, float))
                for w in wanted
                if w == field
            ) and not isinstance(field, (list, dict))
        return isinstance(field, str) and re.search(wanted["regexp"], field) is not None

    return any(all(field_matches(k, v) for k, v in s.items()) for s in filter_sets)


@settings(max_examples=300, deadline=None)
@given(
    filter_sets=st.lists(
        st.dictionaries(
            st.sampled_from(["aggregateType", "type", "version", "f", "g"]), _value(), max_size=3
        ),
        max_size=3,
    ),
    event_type=st.sampled_from(["A", "B"]),
    fields=st.dictionaries(st.sampled_from(["f", "g"]), _FIELD_VALUES, max_size=2),
    aggregate_type=st.sampled_from(["Cart", "User"]),
    version=st.sampled_from([1, 2]),
)
def test_matching_agrees_with_the_specification(
    filter_sets: list[dict[str, Any]],
    event_type: str,
    fields: dict[str, Any],
    aggregate_type: str,
    version: int,
) -> None:
    event = {"type": event_type, **fields}
    commit = commit_of(event, aggregate_type=aggregate_type, version=version)
    envelope = {
        "aggregateType": aggregate_type,
        "aggregateKey": "@",
        "commitId": "c-1",
        "version": version,
        "type": event_type,
    }
    assert compile_filters(filter_sets).matches(commit, event) is _oracle(
        filter_sets, envelope, event
    )
