"""Writing DynamoDB's requests without botocore's walk over the input shape.

A DynamoDB request body is the call's parameters as JSON, already in the low-level wire format
ddbes builds them in (``{"S": ...}``, ``{"L": [...]}``, ``{"M": {...}}``); botocore's JSON
serializer visits every attribute value against the service model to produce exactly that, but
for the binary values (``B``, ``BS``), which it base64-encodes. The visit is a tenth of the CPU
of a ``PutItem`` and more of a log page's ``TransactWriteItems`` (measured on the clients ddbes
builds), so for the item operations of :data:`ITEM_OPERATIONS` :class:`_ItemRequestSerializer`
dumps the parameters with ``json.dumps``, encoding ``bytes`` as base64 on the way. Every other
operation goes through botocore's serializer unchanged, and a client that validates parameters
(``parameter_validation=True``) is left as it is.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore.serialize import JSONSerializer

__all__ = ["ITEM_OPERATIONS", "request_body", "use_fast_item_requests"]

ITEM_OPERATIONS = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
"""The operations whose bodies are written here: their inputs hold no timestamps, no renamed
members and no host prefix, only strings, numbers, booleans, lists, maps and binary values."""


def _binary(value: Any) -> str:
    """A binary value as DynamoDB's JSON wants it (``json.dumps`` calls this for what it
    cannot write itself)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"a DynamoDB request cannot hold a {type(value).__name__}: {value!r}")


class _ItemRequestSerializer(JSONSerializer):  # type: ignore[misc]  # botocore has no types
    """botocore's JSON serializer, but for the item operations' bodies (see the module)."""

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> Any:
        if operation_model.name not in ITEM_OPERATIONS:
            return super().serialize_to_request(parameters, operation_model)
        metadata = operation_model.metadata
        serialized = self._create_default_request()
        serialized["method"] = operation_model.http.get("method", self.DEFAULT_METHOD)
        serialized["headers"] = {
            "X-Amz-Target": f"{metadata['targetPrefix']}.{operation_model.name}",
            "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
        }
        serialized["body"] = request_body(parameters)
        return serialized


def request_body(parameters: dict[str, Any]) -> bytes:
    """The JSON body of an item operation with ``parameters``, as botocore writes it."""
    return json.dumps(parameters, default=_binary).encode("utf-8")


def use_fast_item_requests(client: Any) -> None:
    """Make ``client`` (a botocore or aiobotocore DynamoDB client) write item requests as the
    module says; a client with another serializer (one that validates parameters) is left as
    it is."""
    current = getattr(client, "_serializer", None)
    if type(current) is JSONSerializer:
        fast = _ItemRequestSerializer()
        fast.__dict__.update(current.__dict__)
        client._serializer = fast
