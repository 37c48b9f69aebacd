"""The README's "Why ddbes" table is the one BENCHMARKS.md's headlines generate."""

from __future__ import annotations

import pytest
from bench._harness import BENCHMARKS, why
from bench.why import README, headlines, rendered, table


def test_the_readme_table_matches_the_headlines_in_benchmarks() -> None:
    readme = README.read_text()
    assert rendered(readme, BENCHMARKS.read_text()) == readme, "run `python -m bench.why`"


def test_every_headline_has_a_comparison_and_a_ratio() -> None:
    rows = headlines(BENCHMARKS.read_text())
    assert rows, "BENCHMARKS.md has no headline"
    for claim, mine, theirs, ratio in rows:
        assert claim and mine and theirs and ratio, (claim, mine, theirs, ratio)


def test_a_headline_round_trips_through_the_table() -> None:
    line = why("Commit", "1,000 commits/s", "boto3: 1,100 commits/s", "1.10x")
    assert headlines(line) == [["Commit", "1,000 commits/s", "boto3: 1,100 commits/s", "1.10x"]]
    assert "| Commit | 1,000 commits/s | boto3: 1,100 commits/s | **1.10x** |" in table(
        headlines(line)
    )


def test_a_headline_part_cannot_break_the_table() -> None:
    with pytest.raises(ValueError):
        why("a | b", "1", "2", "1x")
