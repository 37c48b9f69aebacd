"""A lean HTTP/1.1 transport for the DynamoDB clients ddbes builds.

botocore sends each request through urllib3 and ``http.client`` (whose header parsing goes
through the ``email`` package), aiobotocore through aiohttp: about half of a ``PutItem``'s
client CPU. DynamoDB's requests are all small JSON ``POST``s on keep-alive connections, so
this package sends them itself: :mod:`.protocol` writes a request and reads a response with no
I/O (the sans-I/O core), :mod:`.sync` and :mod:`.aio` move the bytes, each with its own pool of
keep-alive connections, and share :mod:`.boundary` (which requests they send, and which of
botocore's exceptions a failure becomes) and :mod:`.tls`. Everything else (a proxy, a client
certificate, a streamed body, a method other than ``POST``) goes through botocore's own
session unchanged.
"""
