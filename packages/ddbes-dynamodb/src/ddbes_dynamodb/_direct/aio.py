"""Direct calls for an aiobotocore client (:mod:`ddbes_dynamodb._direct`): the shell of
:mod:`.sync`, awaiting what aiobotocore makes coroutines (credentials, endpoint resolution,
events, the exchange)."""

from __future__ import annotations

from typing import Any

from aiobotocore.awsrequest import AioAWSResponse

from ddbes_dynamodb._direct.calls import UNKNOWN, DirectCalls, Endpoint
from ddbes_dynamodb._http.aio import AsyncLeanSession
from ddbes_dynamodb._http.protocol import ResponseReader

__all__ = ["install"]


def install(client: Any) -> None:
    """Send ``client``'s item operations directly; a client whose endpoint does not send
    over an :class:`~ddbes_dynamodb._http.aio.AsyncLeanSession` is left as it is."""
    calls = DirectCalls.of(client, AsyncLeanSession)
    if calls is None:
        return
    session: AsyncLeanSession = client._endpoint.http_session
    events = client.meta.events

    async def endpoint_of(operation: str, params: dict[str, Any]) -> Endpoint | None:
        endpoint = calls.endpoint(operation)
        if endpoint is UNKNOWN:
            model, context = calls.context(operation)
            resolved = await client._resolve_endpoint_ruleset(model, params, context)
            endpoint = calls.learn(operation, resolved, context)
        return endpoint

    async def exchange(
        endpoint: Endpoint, operation: str, params: dict[str, Any]
    ) -> ResponseReader:
        credentials = client._request_signer._credentials
        frozen = None if credentials is None else await credentials.get_frozen_credentials()
        data = calls.request(endpoint, operation, params, frozen)
        reader: ResponseReader = await session.exchange(
            endpoint.target, data, session.read_timeout, endpoint.url
        )
        return reader

    async def make_api_call(operation: str, params: dict[str, Any]) -> Any:
        if not calls.wanted(operation, params):
            return await calls.pipeline(operation, params)
        if calls.api_hooks:
            return await with_events(operation, params)
        endpoint = await endpoint_of(operation, params)
        if endpoint is None or session.route(endpoint.url) is None:  # None once it is closed
            return await calls.pipeline(operation, params)
        return calls.reply(operation, await exchange(endpoint, operation, params))

    async def with_events(operation: str, params: dict[str, Any]) -> Any:
        """A direct call that emits botocore's events of its parameters and outcome."""
        model, context = calls.context(operation)
        params = await client._emit_api_params(
            api_params=params, operation_model=model, context=context
        )
        endpoint = await endpoint_of(operation, params)
        if endpoint is None or session.route(endpoint.url) is None:
            return await calls.pipeline(operation, params)
        try:
            reader = await exchange(endpoint, operation, params)
        except Exception as exc:
            await events.emit(
                f"after-call-error.{calls.service_id}.{operation}", exception=exc, context=context
            )
            raise
        parsed, error = calls.outcome(operation, reader)
        await events.emit(
            f"after-call.{calls.service_id}.{operation}",
            **calls.after_call(endpoint.url, reader, parsed, AioAWSResponse),
            model=model,
            context=context,
        )
        if error is not None:
            raise error
        return parsed

    client._make_api_call = make_api_call
