"""Reading DynamoDB's replies to reads without botocore's walk over the output shape.

A DynamoDB reply is JSON whose items are already in the low-level wire format ddbes works in
(``{"S": ...}``, ``{"N": ...}``, ``{"L": [...]}``, ``{"M": {...}}``): ``json.loads`` gives the
same dictionaries botocore's parser returns after visiting every attribute value against the
service model, but for the binary values (``B``, ``BS``), which arrive base64-encoded. That
visit is most of the CPU of a read (about 0.5 ms per item of a commit, measured in the
sequencer), so for the replies of ``Query``, ``Scan``, ``GetItem`` and ``BatchGetItem`` on the
clients ddbes builds, :class:`_ItemReplyParser` decodes the JSON and then only the binary
values. Every other reply, and every error, goes through botocore's parser unchanged.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Container
from typing import Any

from botocore.parsers import JSONParser, ResponseParserFactory

__all__ = ["decode_reply", "use_fast_item_replies"]

_ITEM_REPLIES = frozenset({"QueryOutput", "ScanOutput", "GetItemOutput", "BatchGetItemOutput"})
"""The output shapes whose replies are decoded here."""


def _decode_binary(value: Any) -> None:
    """Turn every attribute value ``{"B": base64}`` / ``{"BS": [base64, ...]}`` under ``value``
    into bytes, in place. An item's attribute named ``B`` holds an attribute value (a dict),
    never a string, so it is not mistaken for one."""
    if isinstance(value, dict):
        if len(value) == 1:
            binary = value.get("B")
            if isinstance(binary, str):
                value["B"] = base64.b64decode(binary)
                return
            binaries = value.get("BS")
            if isinstance(binaries, list) and all(isinstance(b, str) for b in binaries):
                value["BS"] = [base64.b64decode(b) for b in binaries]
                return
        for inner in value.values():
            if isinstance(inner, (dict, list)):
                _decode_binary(inner)
    elif isinstance(value, list):
        for inner in value:
            if isinstance(inner, (dict, list)):
                _decode_binary(inner)


def _item_reply(response: dict[str, Any], shape: Any) -> dict[str, Any] | None:
    """The parsed reply, or ``None`` when it is botocore's to parse."""
    if shape is None or shape.name not in _ITEM_REPLIES:
        return None
    return decode_reply(response["body"], shape.members)


def decode_reply(body: bytes, members: Container[str]) -> dict[str, Any] | None:
    """A successful reply of an item operation whose output shape has ``members``, as
    botocore's parser returns it (without its ``ResponseMetadata``: only the members the
    shape names), or ``None`` when ``body`` is not a JSON object."""
    try:
        decoded = json.loads(body) if body else {}
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    parsed = {name: value for name, value in decoded.items() if name in members}
    if b'"B' in body:  # a binary value (or an attribute name starting with B): decode
        _decode_binary(parsed)
    return parsed


class _ItemReplyParser(JSONParser):  # type: ignore[misc]  # botocore has no types
    """botocore's JSON parser, but for the item reads' successful replies (see the module)."""

    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        parsed = _item_reply(response, shape)
        if parsed is None:
            return super()._do_parse(response, shape)  # type: ignore[no-any-return]
        self._inject_response_metadata(parsed, response["headers"])
        return parsed


class _Factory(ResponseParserFactory):  # type: ignore[misc]
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _ItemReplyParser(**self._defaults)
        return super().create_parser(protocol_name)


def use_fast_item_replies(client: Any) -> None:
    """Make ``client`` (a botocore or aiobotocore DynamoDB client) read item replies as the
    module says; one whose endpoint has no parser factory to replace is left as it is."""
    endpoint: Any = getattr(client, "_endpoint", None)
    current = getattr(endpoint, "_response_parser_factory", None)
    # aiobotocore is imported only by those who build async clients: when it is not, no
    # client can be an aiobotocore one.
    aio = sys.modules.get("aiobotocore.parsers")
    if aio is not None and isinstance(current, aio.AioResponseParserFactory):
        from ddbes_dynamodb._async_replies import AsyncFactory  # noqa: PLC0415

        factory: ResponseParserFactory = AsyncFactory()
    elif isinstance(current, ResponseParserFactory):
        factory = _Factory()
    else:
        return
    factory._defaults = dict(getattr(current, "_defaults", {}))
    endpoint._response_parser_factory = factory
