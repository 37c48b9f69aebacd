"""The one place where botocore's exceptions become :mod:`ddbes.errors`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)

from ddbes.errors import ConfigurationError, StoreUnavailable

__all__ = ["error_code", "missing_bucket_message", "translate_errors"]

_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
    }
)


def error_code(exc: ClientError) -> str:
    """The S3 error code of a ``ClientError`` (``""`` when there is none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def missing_bucket_message(bucket: str) -> str:
    """What to say when ``bucket`` does not exist."""
    return (
        f"S3 bucket {bucket!r} does not exist: create it with "
        f"S3SnapshotStore({bucket!r}, ...).create_bucket() (or `aws s3 mb s3://{bucket}`), "
        "or configure the name of an existing bucket"
    )


@contextmanager
def translate_errors(action: str, bucket: str) -> Iterator[None]:
    """Run an S3 call, turning botocore's exceptions into ddbes's.

    * a missing bucket, bad credentials, no access, a wrong region: :class:`ConfigurationError`;
    * an unreachable endpoint, a timeout, throttling, a server error (after the client's own
      retries): :class:`StoreUnavailable`;
    * a request botocore refuses to build: :class:`ValueError`.

    ``NoSuchKey`` is not handled here: a missing snapshot is a normal answer, so callers that
    expect it catch it first.
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise ConfigurationError(missing_bucket_message(bucket)) from exc
        if code in _ACCESS_CODES:
            raise ConfigurationError(
                f"S3 refused to {action} in bucket {bucket!r} ({code}): check the credentials, "
                "the bucket policy and the region"
            ) from exc
        raise StoreUnavailable(f"S3 failed to {action} in bucket {bucket!r}: {exc}") from exc
    except (NoCredentialsError, PartialCredentialsError, NoRegionError) as exc:
        raise ConfigurationError(
            f"cannot {action} in S3 bucket {bucket!r}: {exc} "
            "(configure AWS credentials and a region)"
        ) from exc
    except ParamValidationError as exc:
        raise ValueError(f"cannot {action} in S3 bucket {bucket!r}: {exc}") from exc
    except BotoCoreError as exc:  # connection refused, timeouts, broken streams
        raise StoreUnavailable(
            f"S3 is unreachable, cannot {action} in bucket {bucket!r}: {exc}"
        ) from exc
