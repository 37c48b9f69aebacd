"""Atomic units on DynamoDB: one transaction per unit, and the sequencer keeps a unit's
commits together even when its to-do index shows them one at a time."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

import ddbes
from ddbes.errors import VersionConflict
from ddbes_dynamodb import DynamoDBLeaseStore
from ddbes_dynamodb._items import commit_pk, pad
from ddbes_dynamodb._sequencing import LEASE_NAME
from tests.dynamodb import unit_worker
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables


class Account(ddbes.Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Any) -> Any:
        balance = (state or {}).get("balance", 0)
        if event["type"] == "Debited":
            if balance < event["amount"]:
                raise ValueError("insufficient funds")
            return {"balance": balance - event["amount"]}
        return {"balance": balance + event.get("amount", 0)}


@pytest.mark.parametrize("sequencing", ["background", "inline"])
def test_transfers_from_many_threads_keep_every_unit_together_and_the_money_whole(
    dynamodb_local: Any, sequencing: str
) -> None:
    tables = DynamoDBTables(dynamodb_local.endpoint_url, sequencing=sequencing)
    try:
        store = tables.commit_store(log_partitions=2)
        accounts = Account.using(commit_store=store)
        keys = [f"acc{i}" for i in range(6)]
        with ddbes.UnitOfWork() as unit:
            for key in keys:
                unit.commit(accounts(key), {"type": "Opened", "amount": 100})

        @ddbes.unit_command(retry=ddbes.RetryPolicy(max_attempts=50))
        def transfer(unit: ddbes.UnitOfWork, source: str, target: str) -> None:
            tag = {"transfer": uuid.uuid4().hex}
            unit.commit(accounts.load(source), {"type": "Debited", "amount": 1}, metadata=tag)
            unit.commit(accounts.load(target), {"type": "Credited", "amount": 1}, metadata=tag)

        errors: list[BaseException] = []

        def worker(index: int) -> None:
            try:
                for n in range(8):
                    source, target = keys[(index + n) % 6], keys[(index + n + 1 + index % 2) % 6]
                    transfer(source, target)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        store.flush_log(timeout=60)
        assert sum(accounts.get_state(key)["balance"] for key in keys) == 600
        logged: set[str] = set()
        transfers: dict[str, list[tuple[int, int, str]]] = {}
        for partition in range(2):
            log = list(store.read_log(log_partition=partition))
            assert [c.position for c in log] == list(range(1, len(log) + 1))
            for c in log:
                assert c.commit_id not in logged
                logged.add(c.commit_id)
                if "transfer" in c.metadata:
                    transfers.setdefault(c.metadata["transfer"], []).append(
                        (partition, c.position or 0, c.events[0]["type"])
                    )
        total = sum(len(list(store.read_commits("Account", key))) for key in keys)
        assert len(logged) == total == 6 + 4 * 8 * 2  # every commit once in the log
        assert len(transfers) == 4 * 8
        together = 0
        for (first, at, kind), (second, then, other) in transfers.values():
            if first == second:  # in one partition: side by side, in the unit's order
                assert then == at + 1, transfers
                assert (kind, other) == ("Debited", "Credited")
                together += 1
        assert together > 0  # some transfers had both accounts in one partition
    finally:
        tables.delete_all()


def test_the_sequencer_holds_a_unit_back_until_all_of_it_shows(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)  # no background batches
    store.append(commit("before", 1))
    # The first of a unit's two commits shows in the index, the second not yet (the index is
    # eventually consistent): written by hand as the store writes them.
    first, second = commit("a", 1), commit("b", 1)
    unit = first.commit_id

    def put(one: Any, place: int) -> None:
        tables.client.put_item(
            TableName=store.table_name,
            Item={
                "p": {"S": commit_pk(one.aggregate_type, one.aggregate_key)},
                "s": {"S": pad(one.version)},
                "i": {"S": one.commit_id},
                "t": {"S": "2024-01-01T00:00:01.000000Z"},
                "e": {"S": '[{"type":"Added"}]'},
                "u": {"S": "0"},
                "g": {"S": unit},
                "gn": {"N": "2"},
                "gi": {"N": str(place)},
            },
        )

    put(first, 0)
    store.append(commit("middle", 1))
    store.flush_log(timeout=30)
    assert [c.aggregate_key for c in store.read_log()] == ["before", "middle"]
    assert store.describe().backlog == (1,)
    put(second, 1)
    store.append(commit("after", 1))
    store.flush_log(timeout=30)
    log = [c.aggregate_key for c in store.read_log()]
    assert log[:2] == ["before", "middle"] and sorted(log[2:]) == ["a", "after", "b"], log
    assert log.index("b") == log.index("a") + 1, log  # together, in the unit's order
    assert store.describe().backlog == (0,)


def test_a_units_version_gap_is_a_conflict_naming_the_aggregate(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    store.append(commit("a", 1))
    fresh = tables.commit_store()  # has not seen a's versions: checks them in the transaction
    with pytest.raises(VersionConflict) as conflict:
        fresh.append_all([commit("b", 1), commit("a", 3)])
    assert conflict.value.aggregate_id == "Cart:a"
    assert list(fresh.read_commits("Cart", "b")) == []


def test_writers_killed_mid_transfer_leave_every_unit_whole_and_logged_once(
    dynamodb_local: Any,
) -> None:
    """Transfer processes SIGKILLed at random moments: the money stays whole (every unit was
    stored entirely or not at all), and every stored commit enters the log exactly once, a
    unit's commits of one partition side by side."""
    tables = DynamoDBTables(dynamodb_local.endpoint_url)
    try:
        store = tables.commit_store(log_partitions=2)
        accounts = unit_worker.Account.using(commit_store=store)
        with ddbes.UnitOfWork() as unit:
            for key in unit_worker.ACCOUNTS:
                unit.commit(accounts(key), {"type": "Opened", "amount": unit_worker.OPENING})
        rng = random.Random(12)
        for round_ in range(8):
            worker = subprocess.Popen(
                [sys.executable, "-m", "tests.dynamodb.unit_worker",
                 dynamodb_local.endpoint_url, store.table_name, str(round_)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.2, 1.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
            worker.stdout.close()
        total = len(unit_worker.ACCOUNTS) * unit_worker.OPENING
        balances = [accounts.get_state(key)["balance"] for key in unit_worker.ACCOUNTS]
        assert sum(balances) == total, balances
        stored = {
            c.commit_id: c
            for key in unit_worker.ACCOUNTS
            for c in store.read_commits("Account", key)
        }
        assert len(stored) > len(unit_worker.ACCOUNTS) + 8, "the workers committed nothing"
        deadline = time.monotonic() + 60
        while True:  # the killed workers' commits are sequenced by this process's store
            logs = [list(store.read_log(log_partition=p)) for p in range(2)]
            if sum(map(len, logs)) >= len(stored) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        logged = [c.commit_id for log in logs for c in log]
        assert sorted(logged) == sorted(stored), "a stored commit missing from the log, or twice"
        transfers: dict[str, list[tuple[int, int, str]]] = {}
        for partition, log in enumerate(logs):
            assert [c.position for c in log] == list(range(1, len(log) + 1))
            for c in log:
                if "transfer" in c.metadata:
                    transfers.setdefault(c.metadata["transfer"], []).append(
                        (partition, c.position or 0, c.events[0]["type"])
                    )
        assert transfers and all(len(halves) == 2 for halves in transfers.values())
        for (first, at, kind), (second, then, other) in transfers.values():
            if first == second:  # one partition: side by side, in the unit's order
                assert (then, kind, other) == (at + 1, "Debited", "Credited"), transfers
    finally:
        tables.delete_all()
