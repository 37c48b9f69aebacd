"""Direct calls for a botocore client (:mod:`ddbes_dynamodb._direct`)."""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse

from ddbes_dynamodb._direct.calls import UNKNOWN, DirectCalls, Endpoint
from ddbes_dynamodb._http.protocol import ResponseReader
from ddbes_dynamodb._http.sync import LeanSession

__all__ = ["install"]


def install(client: Any) -> None:
    """Send ``client``'s item operations directly; a client whose endpoint does not send
    over a :class:`~ddbes_dynamodb._http.sync.LeanSession` is left as it is."""
    calls = DirectCalls.of(client, LeanSession)
    if calls is None:
        return
    session: LeanSession = client._endpoint.http_session
    events = client.meta.events

    def endpoint_of(operation: str, params: dict[str, Any]) -> Endpoint | None:
        endpoint = calls.endpoint(operation)
        if endpoint is UNKNOWN:
            model, context = calls.context(operation)
            resolved = client._resolve_endpoint_ruleset(model, params, context)
            endpoint = calls.learn(operation, resolved, context)
        return endpoint

    def exchange(endpoint: Endpoint, operation: str, params: dict[str, Any]) -> ResponseReader:
        credentials = client._request_signer._credentials
        frozen = None if credentials is None else credentials.get_frozen_credentials()
        data = calls.request(endpoint, operation, params, frozen)
        return session.exchange(endpoint.target, data, session.read_timeout, endpoint.url)

    def make_api_call(operation: str, params: dict[str, Any]) -> Any:
        if not calls.wanted(operation, params):
            return calls.pipeline(operation, params)
        if calls.api_hooks:
            return with_events(operation, params)
        endpoint = endpoint_of(operation, params)
        if endpoint is None:
            return calls.pipeline(operation, params)
        return calls.reply(operation, exchange(endpoint, operation, params))

    def with_events(operation: str, params: dict[str, Any]) -> Any:
        """A direct call that emits botocore's events of its parameters and outcome."""
        model, context = calls.context(operation)
        params = client._emit_api_params(api_params=params, operation_model=model, context=context)
        endpoint = endpoint_of(operation, params)
        if endpoint is None:
            return calls.pipeline(operation, params)
        try:
            reader = exchange(endpoint, operation, params)
        except Exception as exc:
            events.emit(
                f"after-call-error.{calls.service_id}.{operation}", exception=exc, context=context
            )
            raise
        parsed, error = calls.outcome(operation, reader)
        events.emit(
            f"after-call.{calls.service_id}.{operation}",
            **calls.after_call(endpoint.url, reader, parsed, AWSResponse),
            model=model,
            context=context,
        )
        if error is not None:
            raise error
        return parsed

    client._make_api_call = make_api_call
