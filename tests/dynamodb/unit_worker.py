"""A process that moves money between accounts in atomic units until it is killed, for
``test_units.py``: ``python -m tests.dynamodb.unit_worker ENDPOINT TABLE SEED``.

Each transfer debits one account and credits another in one ``UnitOfWork``
(``unit_command(retry=...)``), so the total of all balances never changes, whatever moment
the process dies at.
"""

from __future__ import annotations

import random
import sys
import uuid
from typing import Any

import ddbes
from ddbes_dynamodb import DynamoDBCommitStore

ACCOUNTS = [f"acc{i}" for i in range(6)]
OPENING = 1000


class Account(ddbes.Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Any) -> Any:
        balance = (state or {}).get("balance", 0)
        if event["type"] == "Debited":
            return {"balance": balance - event["amount"]}
        return {"balance": balance + event.get("amount", 0)}


def main(endpoint: str, table: str, seed: str) -> None:
    accounts = Account.using(commit_store=DynamoDBCommitStore(table, endpoint_url=endpoint))
    rng = random.Random(seed)

    @ddbes.unit_command(retry=ddbes.RetryPolicy(max_attempts=100, max_delay=0.02))
    def transfer(unit: ddbes.UnitOfWork, source: str, target: str, amount: int) -> None:
        tag = {"transfer": uuid.uuid4().hex}
        unit.commit(accounts.load(source), {"type": "Debited", "amount": amount}, metadata=tag)
        unit.commit(accounts.load(target), {"type": "Credited", "amount": amount}, metadata=tag)

    print("ready", flush=True)
    while True:
        source, target = rng.sample(ACCOUNTS, 2)
        transfer(source, target, rng.randrange(1, 50))


if __name__ == "__main__":
    main(*sys.argv[1:4])
