"""Envelope encryption of data keys with an AWS KMS key, for crypto-shredding."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ddbes.errors import ConfigurationError, DdbesError, StoreUnavailable
from ddbes.shredding.errors import CiphertextUnreadable
from ddbes.shredding.ports import KeyWrapper
from ddbes_dynamodb._client import make_client
from ddbes_dynamodb._errors import translate

__all__ = ["KMSKeyWrapper"]

_CONTEXT_KEY = "ddbes-subject"
_REFUSED = frozenset(
    {
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
        "AccessDeniedException",
        "InvalidKeyUsageException",
        "KeyUnavailableException",
        "IncorrectKeyException",
        "UnrecognizedClientException",
    }
)


class KMSKeyWrapper(KeyWrapper):
    """Wraps each data key with ``Encrypt`` under one KMS key, with the subject id as its
    encryption context, and unwraps it with ``Decrypt``: the key store then holds only
    ciphertexts that KMS alone can open, and a wrapped key moved to another subject does not
    open. Unwrapped keys are cached by the shredder (``cache_size``, ``cache_ttl``), so KMS is
    called once per subject per process per ``cache_ttl``, not per event.

    Args:
        key_id: the KMS key: its id, ARN, alias name (``"alias/ddbes"``) or alias ARN. It is
            recorded with every wrapped key (as ``"kms:<key_id>"``): keep using the same
            spelling.
        client: a boto3 KMS client; built from ``endpoint_url`` and ``region_name`` if omitted.
    """

    def __init__(
        self,
        key_id: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
    ) -> None:
        if not isinstance(key_id, str) or not key_id:
            raise ValueError(f"key_id must name a KMS key, got {key_id!r}")
        self._key_id = key_id
        self._client = client
        self._endpoint_url = endpoint_url
        self._region_name = region_name

    @property
    def name(self) -> str:
        return f"kms:{self._key_id}"

    def __repr__(self) -> str:
        return f"KMSKeyWrapper({self._key_id!r})"

    @property
    def client(self) -> Any:
        """The boto3 KMS client (built on first use)."""
        if self._client is None:
            self._client = make_client(
                "kms",
                table=f"KMS key {self._key_id}",
                endpoint_url=self._endpoint_url,
                region_name=self._region_name,
            )
        return self._client

    def _call(self, operation: str, subject_id: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(
                KeyId=self._key_id, EncryptionContext={_CONTEXT_KEY: subject_id}, **kwargs
            )
        except ClientError as exc:
            raise self._translate(exc, operation, subject_id) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(
                f"KMS could not be reached to {operation} the key of subject {subject_id!r} "
                f"with KMS key {self._key_id!r} ({exc}); nothing was written"
            ) from exc

    def _translate(self, exc: ClientError, operation: str, subject_id: str) -> DdbesError:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        where = f"the key of subject {subject_id!r} with KMS key {self._key_id!r}"
        if code == "InvalidCiphertextException":
            return CiphertextUnreadable(
                f"KMS cannot {operation} {where}: the wrapped key is damaged or belongs to "
                "another subject"
            )
        if code in _REFUSED:
            return ConfigurationError(
                f"KMS refused to {operation} {where} ({code}): check that the key exists, is "
                "enabled, and may be used by these credentials"
            )
        translated = translate(exc, f"KMS key {self._key_id}", operation)
        if isinstance(translated, StoreUnavailable):
            return translated
        return StoreUnavailable(f"KMS failed to {operation} {where}: {translated}")

    def wrap(self, material: bytes, subject_id: str) -> bytes:
        response = self._call("encrypt", subject_id, Plaintext=material)
        return bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, subject_id: str) -> bytes:
        response = self._call("decrypt", subject_id, CiphertextBlob=wrapped)
        return bytes(response["Plaintext"])
