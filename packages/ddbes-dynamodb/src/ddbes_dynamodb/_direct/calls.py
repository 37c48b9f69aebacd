"""What a direct call is, without I/O: which calls go direct, the request bytes of one, and
what its response means (:mod:`ddbes_dynamodb._direct`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import FunctionType
from typing import Any

from botocore.awsrequest import HeadersDict, prepare_request_dict
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.parsers import create_parser

from ddbes_dynamodb._http.boundary import Route
from ddbes_dynamodb._http.protocol import ResponseReader, Target, encode_request
from ddbes_dynamodb._replies import decode_reply
from ddbes_dynamodb._requests import ITEM_OPERATIONS, request_body
from ddbes_dynamodb._signing import sign

__all__ = ["API_EVENTS", "UNKNOWN", "DirectCalls", "Endpoint"]

API_EVENTS = ("provide-client-params", "before-parameter-build", "after-call", "after-call-error")
"""The events a direct call emits, when handlers for them were registered: the call's
parameters and its outcome."""

REQUEST_EVENTS = (
    "before-call",
    "request-created",
    "choose-signer",
    "before-sign",
    "before-send",
    "needs-retry",
    "response-received",
    "before-parse",
)
"""The events of a request's way through botocore's pipeline. A handler registered for one
of them (or ``before-endpoint-resolution``) after ddbes built the client sends the client's
calls through the pipeline, for as long as it stays registered."""

_ONE_ATTEMPT = {"MaxAttemptsReached": True, "RetryAttempts": 0}
"""What botocore's retry handler notes of a call on ddbes's clients, which make one attempt
(the adapter retries)."""

UNKNOWN: Any = object()
""":meth:`DirectCalls.endpoint` of an operation whose endpoint is not resolved yet."""


class Endpoint:
    """Where one operation's direct calls go, and how they are signed."""

    __slots__ = ("path", "region", "service", "target", "url")

    def __init__(self, url: str, route: Route, region: str, service: str) -> None:
        self.url = url
        self.target: Target = route.target
        self.path = route.path
        self.region = region
        self.service = service


class _Operation:
    """What a direct call needs of an operation's model."""

    __slots__ = ("members", "output", "tokens")

    def __init__(self, model: Any) -> None:
        shape = self.output = model.output_shape
        self.members = frozenset(shape.members if shape is not None else ())
        """The members of the reply botocore's parser keeps."""
        self.tokens = tuple(model.idempotent_members)
        """Idempotency tokens botocore fills in when the caller gives none."""


class DirectCalls:
    """The calls of one client (botocore's or aiobotocore's) that skip botocore's per-call
    pipeline, and their requests and replies. The shells (:mod:`.sync`, :mod:`.aio`) do the
    I/O: credentials, endpoint resolution (once per operation), the exchange, the events."""

    def __init__(self, client: Any, session: Any) -> None:
        self._client = client
        self._session = session
        self._service_model = client.meta.service_model
        self.service_id = self._service_model.service_id.hyphenize()
        self._pristine: Any = None
        self._endpoints: dict[str, Endpoint | None] = {}
        self._operations: dict[str, _Operation] = {}
        self._user_agent: str = client._user_agent_creator.to_string()
        self._error_parser = create_parser("json")
        metadata = self._service_model.metadata
        self._target_prefix = f"{metadata['targetPrefix']}."
        self._content_type = f"application/x-amz-json-{metadata['jsonVersion']}"
        events = client.meta.events
        self._handlers = getattr(events, "_emitter", events)._handlers  # botocore's trie
        self._request_events = [f"before-endpoint-resolution.{self.service_id}"] + [
            f"{event}.{self.service_id}.{operation}"
            for event in REQUEST_EVENTS
            for operation in ITEM_OPERATIONS
        ]
        self._api_events = [
            f"{event}.{self.service_id}.{operation}"
            for event in API_EVENTS
            for operation in ITEM_OPERATIONS
        ]
        self._built_with = {
            name: self._handlers_of(name) for name in self._request_events + self._api_events
        }
        self._stale = False
        self.hooked = False
        """A handler of a request event was registered: every call takes the pipeline."""
        self.api_hooks = False
        """A handler of one of :data:`API_EVENTS` was registered: direct calls emit them."""
        _watch_registrations(events, self)

    @classmethod
    def of(cls, client: Any, session_type: type) -> DirectCalls | None:
        """The direct calls of ``client``, whose endpoint must send over a session of
        ``session_type`` (the transport's); ``None`` for any other client."""
        session = getattr(getattr(client, "_endpoint", None), "http_session", None)
        return cls(client, session) if isinstance(session, session_type) else None

    def pipeline(self, operation: str, params: dict[str, Any]) -> Any:
        """The call through botocore's pipeline: the class's current function (an
        instrumentation may have wrapped it since the client was built)."""
        return type(self._client)._make_api_call(self._client, operation, params)

    def after_call(
        self, url: str, reader: ResponseReader, parsed: dict[str, Any], response_type: type
    ) -> dict[str, Any]:
        """The arguments of botocore's ``after-call`` event but ``model`` and ``context``;
        ``response_type``: botocore's ``AWSResponse`` or aiobotocore's."""
        return {
            "http_response": response_type(url, reader.status, HeadersDict(reader.headers), None),
            "parsed": parsed,
        }

    def registered(self) -> None:
        """Note that the client's handlers changed (checked at the next call)."""
        self._stale = True

    def _handlers_of(self, event_name: str) -> list[Any]:
        return list(self._handlers.prefix_search(event_name))

    def _added(self, names: list[str]) -> bool:
        return any(self._handlers_of(name) != self._built_with[name] for name in names)

    def wanted(self, operation: str, params: dict[str, Any]) -> bool:
        """Whether the call of ``operation`` with ``params`` goes direct."""
        if self._stale:
            self._stale = False
            self.hooked = self._added(self._request_events)
            self.api_hooks = self._added(self._api_events)
        return (
            operation in ITEM_OPERATIONS
            and not self.hooked
            and self._uninstrumented()
            and not _names_an_arn(params)  # its account may choose the endpoint
        )

    def _uninstrumented(self) -> bool:
        """Whether the client class's ``_make_api_call`` is botocore's (aiobotocore's) own:
        one that an instrumentation wrapped (OpenTelemetry's botocore instrumentation does)
        gets the calls, through the pipeline."""
        function = type(self._client)._make_api_call
        if function is self._pristine:
            return True
        if isinstance(function, FunctionType) and _defined_in_botocore(function):
            self._pristine = function
            return True
        return False

    def endpoint(self, operation: str) -> Endpoint | None:
        """The endpoint of ``operation``'s direct calls: ``None`` when they take the
        pipeline, :data:`UNKNOWN` before :meth:`learn`."""
        return self._endpoints.get(operation, UNKNOWN)

    def context(self, operation: str) -> tuple[Any, dict[str, Any]]:
        """The operation model and a request context, as botocore builds them for a call."""
        model = self._service_model.operation_model(operation)
        meta = self._client.meta
        return model, {
            "client_region": meta.region_name,
            "client_config": meta.config,
            "has_streaming_input": model.has_streaming_input,
            "auth_type": model.resolved_auth_type,
            "unsigned_payload": model.unsigned_payload,
            "auth_options": self._service_model.metadata.get("auth"),
        }

    def learn(
        self, operation: str, resolved: tuple[str, dict[str, Any], dict[str, Any]], context: Any
    ) -> Endpoint | None:
        """Keep what botocore's endpoint resolution (``resolved``, with the ``context`` it
        filled in) says of ``operation``; its calls take the pipeline unless it is a plain
        SigV4 ``POST`` to a URL the session sends to itself."""
        url, headers, _properties = resolved
        signing = context.get("signing", {})
        request: dict[str, Any] = {"url_path": "/", "query_string": "", "headers": {}}
        prepare_request_dict(request, url)
        route = self._session.route(request["url"])
        # botocore's signer for the request: the endpoint's, else the client's (``v4`` for
        # DynamoDB, unless the configuration names another or ``UNSIGNED``)
        auth = context.get("auth_type") or self._client._request_signer.signature_version
        endpoint = None
        if route is not None and not headers and auth == "v4":
            endpoint = Endpoint(
                request["url"],
                route,
                signing.get("region", self._client.meta.region_name),
                signing.get("signing_name", self._service_model.signing_name),
            )
        self._endpoints[operation] = endpoint
        return endpoint

    def request(
        self, endpoint: Endpoint, operation: str, params: dict[str, Any], credentials: Any
    ) -> bytes:
        """The signed request of ``operation`` with ``params``; ``credentials`` frozen ones.

        Raises:
            NoCredentialsError: there are none.
        """
        if credentials is None:
            raise NoCredentialsError()
        for name in self._operation(operation).tokens:  # as botocore's parameter handler
            if name not in params:
                params[name] = str(uuid.uuid4())
        body = request_body(params)
        headers = {
            "X-Amz-Target": self._target_prefix + operation,
            "Content-Type": self._content_type,
            "User-Agent": self._user_agent,
        }
        sign(
            headers,
            endpoint.url,
            body,
            credentials,
            region=endpoint.region,
            service=endpoint.service,
        )
        headers["amz-sdk-invocation-id"] = str(uuid.uuid4())
        headers["amz-sdk-request"] = "attempt=1"
        return encode_request(
            "POST", endpoint.path, endpoint.target.host_header, headers.items(), body
        )

    def reply(self, operation: str, reader: ResponseReader) -> dict[str, Any]:
        """The parsed reply of a direct call, as botocore returns it.

        Raises:
            ClientError: DynamoDB's error, the subclass botocore raises for it.
        """
        status = reader.status
        if status < 300:
            parsed = decode_reply(reader.body, self._operation(operation).members)
            if parsed is not None:
                parsed["ResponseMetadata"] = self._metadata(reader)
                return parsed
        response = {
            "status_code": status,
            "headers": HeadersDict(reader.headers),
            "body": reader.body,
        }
        parsed = self._error_parser.parse(response, self._operation(operation).output)
        parsed.setdefault("ResponseMetadata", {}).update(_ONE_ATTEMPT)
        if status < 300:
            return parsed  # type: ignore[no-any-return]
        code = parsed.get("Error", {}).get("Code")
        shape = None if code is None else self._service_model.shape_for_error_code(code)
        if shape is not None:
            parsed.update(self._error_parser.parse(response, shape))
        raise self._client.exceptions.from_code(code)(parsed, operation)

    def outcome(
        self, operation: str, reader: ResponseReader
    ) -> tuple[dict[str, Any], Exception | None]:
        """:meth:`reply`'s parsed reply, or its error's with the error."""
        try:
            return self.reply(operation, reader), None
        except ClientError as error:
            return error.response, error

    def _operation(self, operation: str) -> _Operation:
        known = self._operations.get(operation)
        if known is None:
            known = self._operations[operation] = _Operation(
                self._service_model.operation_model(operation)
            )
        return known

    @staticmethod
    def _metadata(reader: ResponseReader) -> dict[str, Any]:
        headers = reader.headers
        metadata: dict[str, Any] = {}
        request_id = headers.get("x-amzn-requestid")
        if request_id is not None:
            metadata["RequestId"] = request_id
        metadata["HTTPStatusCode"] = reader.status
        metadata["HTTPHeaders"] = headers
        metadata.update(_ONE_ATTEMPT)
        return metadata


def _defined_in_botocore(function: FunctionType) -> bool:
    """Whether ``function``'s code is botocore's or aiobotocore's (a wrapper made with
    ``functools.wraps`` takes the wrapped function's name and module, not its code)."""
    return Path(function.__code__.co_filename).parent.name in ("botocore", "aiobotocore")


def _names_an_arn(params: dict[str, Any]) -> bool:
    """Whether ``params`` name a table by its ARN (whose account the endpoint may be of)."""
    name = params.get("TableName")
    if name is not None:
        return isinstance(name, str) and name.startswith("arn:")
    items = params.get("RequestItems")
    if items is not None:
        return any(str(table).startswith("arn:") for table in items)
    actions = params.get("TransactItems")
    if actions is not None:
        for action in actions:
            for request in action.values():
                if str(request.get("TableName", "")).startswith("arn:"):
                    return True
    return False


def _watch_registrations(events: Any, calls: DirectCalls) -> None:
    """Tell ``calls`` of every change to the handlers of ``events`` (a client's)."""
    for method in ("register", "register_first", "register_last", "unregister"):
        original = getattr(events, method)

        def changing(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.registered()
            return _original(*args, **kwargs)

        setattr(events, method, changing)
