"""The TLS context of the lean transport's connections, sync and async alike."""

from __future__ import annotations

import os
import ssl

from botocore.httpsession import get_cert_path

__all__ = ["client_context"]


def client_context(verify: bool | str) -> ssl.SSLContext:
    """A client TLS context that verifies as botocore's ``verify`` says: ``True`` against
    botocore's CA bundle, a path against that bundle (a file or a directory, as
    ``AWS_CA_BUNDLE`` gives it), ``False`` not at all. Reads files: build it once."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    path = get_cert_path(verify)
    if isinstance(path, str) and os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path if isinstance(path, str) else None)
