"""Property-based tests of keys, the codec and upcasters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ddbes import codec
from ddbes.aggregates.keys import KeyPart, key_from_props, normalize_schema
from ddbes.aggregates.upcasting import upcast_event

parts_text = st.text(alphabet=st.sampled_from("ab.:\\/@ -_é"), min_size=1, max_size=6)


@given(st.lists(parts_text, min_size=2, max_size=2), st.lists(parts_text, min_size=2, max_size=2))
def test_different_key_parts_never_give_the_same_key(a: list[str], b: list[str]) -> None:
    schema = normalize_schema(("x", "y"))
    key_a, _ = key_from_props(schema, {"x": a[0], "y": a[1]})
    key_b, _ = key_from_props(schema, {"x": b[0], "y": b[1]})
    assert (key_a == key_b) == (a == b)


@given(parts_text, st.one_of(st.none(), parts_text))
def test_optional_parts_never_collide_with_required_ones(first: str, second: str | None) -> None:
    schema = normalize_schema(("x", KeyPart("y", optional=True)))
    key, props = key_from_props(schema, {"x": first, "y": second})
    assert props == {"x": first, "y": second}
    assert key.startswith(first.replace("\\", "\\\\").replace(".", "\\.").split(".")[0])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=5), st.text(min_size=1)
)
def test_codec_round_trips_every_json_event(body: dict[str, Any], kind: str) -> None:
    event = {**body, "type": kind}
    (normalized,) = codec.normalize_events(event)
    assert normalized == codec.decode(codec.encode(event))
    payload, compressed = codec.compress(codec.encode_events([normalized]))
    assert codec.decode_events(codec.decompress(payload, compressed)) == (normalized,)


@given(
    st.datetimes(
        timezones=st.just(UTC), min_value=datetime(1970, 1, 2), max_value=datetime(9000, 1, 1)
    )
)
def test_times_format_in_sortable_utc_and_parse_back(moment: datetime) -> None:
    text = codec.format_time(moment)
    assert codec.parse_time(text) == moment
    later = codec.format_time(moment + timedelta(microseconds=1))
    assert text < later


@given(st.integers(0, 5), st.integers(0, 8))
def test_upcasters_chain_from_the_event_version_to_the_newest(start: int, newest: int) -> None:
    chain = {v: (lambda e, v=v: {**e, "trail": [*e.get("trail", []), v]}) for v in range(newest)}
    event = {"type": "T", "version": start} if start else {"type": "T"}
    upcast = upcast_event(event, {"T": chain})
    applied = list(range(start, newest))
    assert upcast.get("trail", []) == applied
    assert upcast.get("version", 0) == max(start, newest)
