"""Application Auto Scaling for a provisioned ddbes table (and any index it has).

Each read and write dimension gets a scalable target and a target-tracking policy on DynamoDB's
predefined utilization metric. No IAM role is created: Application Auto Scaling uses its
service-linked role for DynamoDB (pass ``role_arn`` to use another one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddbes.errors import ConfigurationError
from ddbes_dynamodb._table import TableHandle

__all__ = ["ScalingTarget", "describe_autoscaling", "remove_autoscaling", "setup_autoscaling"]

_NAMESPACE = "dynamodb"
_NOT_FOUND = frozenset({"ObjectNotFoundException"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingTarget:
    """One scalable dimension of the table or an index, with its target-tracking policy."""

    resource_id: str
    dimension: str
    min_capacity: int
    max_capacity: int
    policy_name: str | None
    target_value: float | None


def _resources(table: TableHandle) -> list[tuple[str, str]]:
    """``(resource_id, dimension prefix)`` for the table and each of its global indexes."""
    response = table.call(
        table.client.describe_table,
        "describe_table",
        tolerate=frozenset({"ResourceNotFoundException"}),
        TableName=table.name,
    )
    resources = [(f"table/{table.name}", "dynamodb:table")]
    if response is not None:
        for index in response["Table"].get("GlobalSecondaryIndexes", []):
            resources.append((f"table/{table.name}/index/{index['IndexName']}", "dynamodb:index"))
    return resources


def _policy_name(kind: str, resource_id: str) -> str:
    return f"DynamoDB{kind}CapacityUtilization:{resource_id}"


def _check_range(kind: str, low: int, high: int) -> None:
    for name, value in ((f"{kind}_min_capacity", low), (f"{kind}_max_capacity", high)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"table_{name} must be a positive int, got {value!r}")
    if high < low:
        raise ValueError(
            f"table_{kind}_max_capacity ({high}) is below table_{kind}_min_capacity ({low})"
        )


def setup_autoscaling(
    table: TableHandle,
    scaling: Any,
    *,
    read_range: tuple[int, int],
    write_range: tuple[int, int],
    utilization_target_in_percent: float,
    scale_in_cooldown: int,
    scale_out_cooldown: int,
    role_arn: str | None,
) -> None:
    """Register targets and put target-tracking policies; running it again updates them."""
    _check_range("read", *read_range)
    _check_range("write", *write_range)
    if not 20 <= utilization_target_in_percent <= 90:
        raise ValueError(
            "utilization_target_in_percent must be from 20 to 90, got "
            f"{utilization_target_in_percent!r}"
        )
    description = table.call(table.client.describe_table, "describe_table", TableName=table.name)
    billing = description["Table"].get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if billing == "PAY_PER_REQUEST":
        raise ConfigurationError(
            f"table {table.name!r} is on-demand (PAY_PER_REQUEST) and scales by itself: "
            "create it with read_capacity and write_capacity to use autoscaling"
        )
    role: dict[str, Any] = {"RoleARN": role_arn} if role_arn else {}
    for resource_id, prefix in _resources(table):
        for kind, (low, high) in (("Read", read_range), ("Write", write_range)):
            dimension = f"{prefix}:{kind}CapacityUnits"
            table.call(
                scaling.register_scalable_target,
                "register_scalable_target",
                ServiceNamespace=_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=dimension,
                MinCapacity=low,
                MaxCapacity=high,
                **role,
            )
            table.call(
                scaling.put_scaling_policy,
                "put_scaling_policy",
                PolicyName=_policy_name(kind, resource_id),
                ServiceNamespace=_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=dimension,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": f"DynamoDB{kind}CapacityUtilization"
                    },
                    "TargetValue": float(utilization_target_in_percent),
                    "ScaleInCooldown": scale_in_cooldown,
                    "ScaleOutCooldown": scale_out_cooldown,
                },
            )


def remove_autoscaling(table: TableHandle, scaling: Any) -> None:
    """Delete the policies and deregister the targets that exist (listed first: moto and AWS
    report a missing one differently); a missing table or target is not an error."""
    for resource_id, _ in _resources(table):
        policies = _pages(
            table,
            scaling.describe_scaling_policies,
            "describe_scaling_policies",
            "ScalingPolicies",
            ServiceNamespace=_NAMESPACE,
            ResourceId=resource_id,
        )
        for policy in policies:
            table.call(
                scaling.delete_scaling_policy,
                "delete_scaling_policy",
                tolerate=_NOT_FOUND,
                PolicyName=policy["PolicyName"],
                ServiceNamespace=_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=policy["ScalableDimension"],
            )
        targets = _pages(
            table,
            scaling.describe_scalable_targets,
            "describe_scalable_targets",
            "ScalableTargets",
            ServiceNamespace=_NAMESPACE,
            ResourceIds=[resource_id],
        )
        for target in targets:
            table.call(
                scaling.deregister_scalable_target,
                "deregister_scalable_target",
                tolerate=_NOT_FOUND,
                ServiceNamespace=_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=target["ScalableDimension"],
            )


def _pages(table: TableHandle, operation: Any, name: str, key: str, **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    token: str | None = None
    while True:
        extra: dict[str, Any] = {"NextToken": token} if token else {}
        response = table.call(operation, name, **kwargs, **extra)
        found.extend(response.get(key, []))
        token = response.get("NextToken")
        if not token:
            return found


def describe_autoscaling(table: TableHandle, scaling: Any) -> list[ScalingTarget]:
    """The table's scalable targets (every page), each with its target-tracking policy."""
    resources = [resource_id for resource_id, _ in _resources(table)]
    targets = _pages(
        table,
        scaling.describe_scalable_targets,
        "describe_scalable_targets",
        "ScalableTargets",
        ServiceNamespace=_NAMESPACE,
        ResourceIds=resources,
    )
    found: list[ScalingTarget] = []
    for target in targets:
        policies = _pages(
            table,
            scaling.describe_scaling_policies,
            "describe_scaling_policies",
            "ScalingPolicies",
            ServiceNamespace=_NAMESPACE,
            ResourceId=target["ResourceId"],
            ScalableDimension=target["ScalableDimension"],
        )
        policy = policies[0] if policies else None
        configuration = (policy or {}).get("TargetTrackingScalingPolicyConfiguration", {})
        found.append(
            ScalingTarget(
                resource_id=target["ResourceId"],
                dimension=target["ScalableDimension"],
                min_capacity=int(target["MinCapacity"]),
                max_capacity=int(target["MaxCapacity"]),
                policy_name=policy["PolicyName"] if policy else None,
                target_value=configuration.get("TargetValue"),
            )
        )
    return sorted(found, key=lambda target: (target.resource_id, target.dimension))
