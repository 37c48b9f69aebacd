"""``@create_method``: the class-level ``create`` call, typed from the instance method."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from mypy import api as mypy_api

from ddbes import Aggregate, Commit, create_method
from ddbes.memory import InMemoryCommitStore


class Account(Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {"owner": event["owner"]}

    @create_method
    def create(self, id: str, owner: str) -> Account:
        return self.commit({"type": "Opened", "owner": owner})


def test_a_decorated_create_works_on_the_class_and_on_a_bound_variant() -> None:
    bound = Account.using(commit_store=InMemoryCommitStore())
    account = bound.create(id="a1", owner="Ada")
    assert account.key == "a1" and account.version == 1 and account.state == {"owner": "Ada"}
    loaded = bound.load("a1")
    assert loaded is not None and loaded.state == {"owner": "Ada"}


PROGRAM = """
    from __future__ import annotations
    from typing import Any
    from ddbes import Aggregate, Commit, create_method

    class Account(Aggregate):
        key_schema = ("id",)

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return state

        @create_method
        def create(self, id: str, owner: str) -> Account:
            return self.commit({"type": "Opened", "owner": owner})

    account: Account = Account.create(id="a1", owner="Ada")
    other: Account = Account.using().create(id="a2", owner="Bob")
    Account.create(id="a3", ownr="typo")
"""


def test_type_checkers_see_the_signature_of_the_class_level_call(tmp_path: Path) -> None:
    program = tmp_path / "accounts.py"
    program.write_text(textwrap.dedent(PROGRAM))
    out, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(program)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1 and len(errors) == 1, out
    assert 'Unexpected keyword argument "ownr"' in errors[0] and ":19:" in errors[0], out
