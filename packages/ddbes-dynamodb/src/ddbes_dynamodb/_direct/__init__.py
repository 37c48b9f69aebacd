"""Direct calls: the item operations of the clients ddbes builds, sent without botocore's
per-call pipeline.

botocore runs every call through a pipeline of events (about ten per call: parameters,
endpoint resolution, request creation, signing, sending, retry checks, parsing), each a
lookup in a hierarchical emitter and a handful of objects (``AWSRequest``,
``AWSPreparedRequest``, header maps). With ddbes's own request writer (:mod:`.._requests`),
reply reader (:mod:`.._replies`), signer (:mod:`.._signing`) and transport (:mod:`.._http`),
that pipeline is most of what is left of a ``PutItem``'s client CPU: 0.70-0.89 ms per
``PutItem`` through it, 0.22-0.25 ms direct (one thread against DynamoDB Local).

A direct call does what the pipeline does for these requests and nothing else: the
parameters become JSON, the request is signed with SigV4 (with the credentials botocore
resolves and refreshes), sent over the transport's pooled connections, and the reply is
parsed as botocore parses it; an error reply goes through botocore's own error parser and
raises the ``ClientError`` subclass botocore raises. The endpoint is botocore's, resolved
once per operation. :mod:`.calls` holds that, without I/O; :mod:`.sync` and :mod:`.aio` are
the shells for botocore and aiobotocore clients.

A call takes botocore's full pipeline instead when it is not an item operation, when a table
is named by its ARN, when the endpoint resolution asks for more than a SigV4 ``POST`` to a
URL the transport sends to itself (a proxy, a client certificate, extra headers, another
signer), when the client's ``_make_api_call`` is wrapped by an instrumentation, and for good
once a handler of a request event (``before-call``, ``before-send``…) is registered on the
client. Handlers of the parameter and outcome events (``provide-client-params``,
``before-parameter-build``, ``after-call``, ``after-call-error``) are emitted by direct calls
too.
"""
