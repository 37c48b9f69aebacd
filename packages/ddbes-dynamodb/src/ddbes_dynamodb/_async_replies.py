"""The aiobotocore twin of :mod:`._replies`' parser, in a module of its own: only apps that
build async clients import aiobotocore (about half a second of a sync process's start)."""

from __future__ import annotations

from typing import Any

from aiobotocore.parsers import AioJSONParser, AioResponseParserFactory

from ddbes_dynamodb._replies import _item_reply

__all__ = ["AsyncFactory"]


class _AsyncItemReplyParser(AioJSONParser):  # type: ignore[misc]
    """:class:`._replies._ItemReplyParser` for aiobotocore."""

    async def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        parsed = _item_reply(response, shape)
        if parsed is None:
            return await super()._do_parse(response, shape)  # type: ignore[no-any-return]
        self._inject_response_metadata(parsed, response["headers"])
        return parsed


class AsyncFactory(AioResponseParserFactory):  # type: ignore[misc]
    """Makes :class:`_AsyncItemReplyParser` the JSON parser of an aiobotocore endpoint."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _AsyncItemReplyParser(**self._defaults)
        return super().create_parser(protocol_name)
