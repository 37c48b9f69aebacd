"""Application Auto Scaling of a provisioned table, on moto (DynamoDB Local has no such service)."""

from __future__ import annotations

from typing import Any

import pytest

from ddbes.errors import ConfigurationError
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from ddbes_dynamodb._items import UNSEQUENCED_INDEX
from tests.dynamodb.tables import DynamoDBTables, table_name

INDEX = UNSEQUENCED_INDEX  # the sequencer's to-do list, on a table sequenced in the background


def _provisioned(
    moto_tables: DynamoDBTables, sequencing: str = "background"
) -> tuple[DynamoDBCommitStore, Any]:
    scaling = make_client(
        "application-autoscaling",
        table="tests",
        endpoint_url=moto_tables.endpoint_url,
        region_name="us-east-1",
    )
    store = DynamoDBCommitStore(
        table_name("ddbes-scaled"), client=moto_tables.client, autoscaling_client=scaling
    )
    moto_tables.created.append(store)
    store.create_table(read_capacity=5, write_capacity=5, sequencing=sequencing)
    return store, scaling


def _targets(scaling: Any, resource_id: str) -> dict[str, tuple[int, int]]:
    response = scaling.describe_scalable_targets(
        ServiceNamespace="dynamodb", ResourceIds=[resource_id]
    )
    return {
        t["ScalableDimension"]: (t["MinCapacity"], t["MaxCapacity"])
        for t in response["ScalableTargets"]
    }


def _policies(scaling: Any, resource_id: str) -> dict[str, Any]:
    response = scaling.describe_scaling_policies(
        ServiceNamespace="dynamodb", ResourceId=resource_id
    )
    # moto also returns the policies of resources whose id is a prefix of this one (the table's
    # for its index); AWS matches the id exactly.
    return {
        p["PolicyName"]: p for p in response["ScalingPolicies"] if p["ResourceId"] == resource_id
    }


@pytest.mark.parametrize("sequencing", ["background", "inline"])
def test_setup_registers_targets_and_target_tracking_policies(
    moto_tables: DynamoDBTables, sequencing: str
) -> None:
    """The table's targets, and on a table sequenced in the background those of its index."""
    store, scaling = _provisioned(moto_tables, sequencing)
    table = f"table/{store.table_name}"
    resources = {table: "table"}
    if sequencing == "background":
        resources[f"{table}/index/{INDEX}"] = "index"
    store.setup_autoscaling(
        table_read_min_capacity=5,
        table_read_max_capacity=100,
        table_write_min_capacity=2,
        table_write_max_capacity=50,
        utilization_target_in_percent=60,
    )
    expected = []
    for resource, kind in resources.items():
        assert _targets(scaling, resource) == {
            f"dynamodb:{kind}:ReadCapacityUnits": (5, 100),
            f"dynamodb:{kind}:WriteCapacityUnits": (2, 50),
        }
        policies = _policies(scaling, resource)
        assert set(policies) == {
            f"DynamoDBReadCapacityUtilization:{resource}",
            f"DynamoDBWriteCapacityUtilization:{resource}",
        }
        for name, policy in policies.items():
            configuration = policy["TargetTrackingScalingPolicyConfiguration"]
            assert policy["PolicyType"] == "TargetTrackingScaling"
            assert configuration["TargetValue"] == 60.0
            read_or_write = "Read" if "Read" in name else "Write"
            assert policy["ScalableDimension"] == f"dynamodb:{kind}:{read_or_write}CapacityUnits"
            metric = configuration["PredefinedMetricSpecification"]["PredefinedMetricType"]
            assert metric == f"DynamoDB{read_or_write}CapacityUtilization"
        expected += [
            (resource, f"dynamodb:{kind}:ReadCapacityUnits", 5, 100, 60.0),
            (resource, f"dynamodb:{kind}:WriteCapacityUnits", 2, 50, 60.0),
        ]
    described = store.describe_autoscaling()
    assert [
        (t.resource_id, t.dimension, t.min_capacity, t.max_capacity, t.target_value)
        for t in described
    ] == expected


def test_setup_again_updates_and_remove_is_idempotent(moto_tables: DynamoDBTables) -> None:
    store, scaling = _provisioned(moto_tables)
    resource = f"table/{store.table_name}"
    store.setup_autoscaling(1, 10, 1, 10, 70)
    store.setup_autoscaling(3, 30, 4, 40, 80)
    assert _targets(scaling, resource) == {
        "dynamodb:table:ReadCapacityUnits": (3, 30),
        "dynamodb:table:WriteCapacityUnits": (4, 40),
    }
    assert {
        p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        for p in _policies(scaling, resource).values()
    } == {80.0}
    store.remove_autoscaling()
    assert _targets(scaling, resource) == {}
    assert _policies(scaling, resource) == {}
    assert store.describe_autoscaling() == []
    store.remove_autoscaling()  # nothing left to remove: not an error


def test_remove_autoscaling_of_a_missing_table_is_not_an_error(
    moto_tables: DynamoDBTables,
) -> None:
    store = DynamoDBCommitStore(table_name(), client=moto_tables.client)
    store._scaling = make_client(  # a store built without an endpoint for autoscaling
        "application-autoscaling",
        table="tests",
        endpoint_url=moto_tables.endpoint_url,
        region_name="us-east-1",
    )
    store.remove_autoscaling()


def test_an_on_demand_table_cannot_be_autoscaled(moto_tables: DynamoDBTables) -> None:
    store = moto_tables.commit_store()
    store._scaling = make_client(
        "application-autoscaling",
        table="tests",
        endpoint_url=moto_tables.endpoint_url,
        region_name="us-east-1",
    )
    with pytest.raises(ConfigurationError, match="on-demand"):
        store.setup_autoscaling(1, 10, 1, 10)


@pytest.mark.parametrize(
    "arguments",
    [
        {"table_read_min_capacity": 0},
        {"table_read_min_capacity": 10, "table_read_max_capacity": 5},
        {"table_write_max_capacity": 0},
        {"utilization_target_in_percent": 95},
        {"utilization_target_in_percent": 10},
    ],
)
def test_bad_autoscaling_arguments_are_refused(
    moto_tables: DynamoDBTables, arguments: dict[str, int]
) -> None:
    store, scaling = _provisioned(moto_tables)
    with pytest.raises(ValueError):
        store.setup_autoscaling(**arguments)
    assert _targets(scaling, f"table/{store.table_name}") == {}


def test_the_autoscaling_client_follows_the_store_endpoint(moto_tables: DynamoDBTables) -> None:
    store = DynamoDBCommitStore(table_name(), endpoint_url=moto_tables.endpoint_url)
    moto_tables.created.append(store)
    store.create_table(read_capacity=1, write_capacity=1)
    store.setup_autoscaling(1, 2, 1, 2)
    table = f"table/{store.table_name}"
    assert {(t.resource_id, t.dimension) for t in store.describe_autoscaling()} == {
        (table, "dynamodb:table:ReadCapacityUnits"),
        (table, "dynamodb:table:WriteCapacityUnits"),
        (f"{table}/index/{INDEX}", "dynamodb:index:ReadCapacityUnits"),
        (f"{table}/index/{INDEX}", "dynamodb:index:WriteCapacityUnits"),
    }
    store.remove_autoscaling()
    assert store.describe_autoscaling() == []
