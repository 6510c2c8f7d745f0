"""Read an artifact straight from an S3-compatible store, for the streamed re-hash.

The client is built the way MLflow's S3 artifact repository builds its own (the same
environment variables: ``MLFLOW_S3_ENDPOINT_URL``, ``MLFLOW_S3_IGNORE_TLS``,
``MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE``, ``MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION``,
``MLFLOW_S3_EXPECTED_BUCKET_OWNER`` and boto3's ``AWS_*`` credential chain), so whatever store
MLflow writes to (AWS S3, MinIO, Ceph, GCS interop) is read through the same code path, plus
what a gate needs that MLflow's client does not set:

* **bounded waits**: connect and read timeouts no longer than the caller's budget, and few
  retries, so a stalled endpoint ends in an error instead of a hang;
* **one version per object**: every ranged GET carries ``If-Match`` with the ETag the listing
  gave, so an object replaced mid-read fails (HTTP 412) instead of mixing two versions;
* **no secrets in messages**: botocore errors are reduced to the S3 error code, the HTTP status
  and the operation; their text (which can hold the endpoint URL) is never echoed.

Raises only :class:`~mlflow_supplychain.errors.ArtifactReadError`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.errors import PATH_CHARS, ArtifactReadError, Problem, excerpt
from mlflow_supplychain.integrity.object_tree import RemoteObject, objects_under

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
"""Longest wait for the first byte of an answer (capped by the caller's budget)."""


@dataclass(frozen=True)
class S3Location:
    """A bucket and the key prefix of an artifact (no leading or trailing ``/``)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """``s3://bucket/some/prefix`` -> ``S3Location("bucket", "some/prefix")``.

        Raises:
            ValueError: not an ``s3://`` URI with a bucket.
        """
        if not uri.startswith("s3://"):
            raise ValueError("not an s3:// URI")
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError("an s3:// URI needs a bucket")
        return cls(bucket, prefix.strip("/"))

    def child(self, relative: str) -> S3Location:
        """The location ``relative`` below this one."""
        rel = relative.strip("/")
        return S3Location(self.bucket, f"{self.prefix}/{rel}".strip("/") if rel else self.prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class Credentials:
    """Explicit keys (as an MLflow S3 repository may carry); None: boto3's usual chain."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


def s3_client(*, timeout: float, connections: int,
              credentials: Credentials = Credentials()) -> Any:
    """A boto3 S3 client configured like MLflow's, with waits bounded by ``timeout``.

    Clients are cached (building one costs ~0.1 s of CPU; they are thread-safe), keyed by
    every setting that shapes them, the environment variables included, like MLflow's.

    Raises:
        ArtifactReadError: boto3 is missing or the configuration is refused.
    """
    wait = float(max(1, math.ceil(min(READ_TIMEOUT, timeout))))
    settings = tuple(os.environ.get(name) for name in _CLIENT_ENV)
    return _client(wait, max(10, connections), credentials, settings)


_CLIENT_ENV = ("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "MLFLOW_S3_IGNORE_TLS",
               "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "MLFLOW_S3_ENDPOINT_URL",
               "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
               "AWS_DEFAULT_REGION", "AWS_PROFILE")


@functools.lru_cache(maxsize=16)
def _client(wait: float, connections: int, credentials: Credentials,
            settings: tuple[str | None, ...]) -> Any:
    signature_version, ignore_tls, addressing, endpoint = settings[:4]
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError:
        raise ArtifactReadError("Cannot read from S3: boto3 is not installed", [Problem(
            "boto3", "is needed to read s3:// artifacts", "pip install 'mlflow-supplychain[s3]'")
        ]) from None
    signature: Any = signature_version or "s3v4"
    if str(signature).lower() == "unsigned":
        signature = UNSIGNED
    config = Config(signature_version=signature,
                    s3={"addressing_style": addressing or "auto"},
                    connect_timeout=min(CONNECT_TIMEOUT, wait), read_timeout=wait,
                    retries={"max_attempts": 2, "mode": "standard"},
                    max_pool_connections=connections)
    try:
        return boto3.client(
            "s3", config=config, endpoint_url=endpoint or None,
            verify=False if (ignore_tls or "").lower() in {"true", "1"} else None,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token)
    except Exception as exc:  # noqa: BLE001 - botocore's configuration errors vary
        raise ArtifactReadError("Cannot read from S3: the client cannot be set up", [Problem(
            "S3 client", type(exc).__name__,
            "check MLFLOW_S3_ENDPOINT_URL, AWS_DEFAULT_REGION and the AWS_* credentials")
        ]) from None


class S3Reader:
    """Lists and reads one artifact's objects under an :class:`S3Location`."""

    def __init__(self, location: S3Location, client: Any) -> None:
        self.location = location
        self._client = client
        owner = os.environ.get("MLFLOW_S3_EXPECTED_BUCKET_OWNER")
        self._owner: dict[str, str] = {"ExpectedBucketOwner": owner} if owner else {}

    def list(self) -> list[RemoteObject]:
        """The artifact's objects (see :func:`objects_under` for the rules).

        Raises:
            ArtifactReadError: the listing failed or breaks a rule.
        """
        return objects_under(self.location.prefix, self._listing(), where=str(self.location))

    def _listing(self) -> Iterator[tuple[str, int, str]]:
        prefix = self.location.prefix
        # a directory when anything is under ``prefix/`` (as MLflow's download decides),
        # else the single object named ``prefix``
        children = self._page(prefix + "/" if prefix else "")
        first = next(children, None)
        if first is not None:
            yield first
            yield from children
        elif prefix:
            yield from (item for item in self._page(prefix) if item[0] == prefix)

    def _page(self, start: str) -> Iterator[tuple[str, int, str]]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=start, **self._owner)
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"]), int(item["Size"]), str(item.get("ETag", ""))
        except Exception as exc:  # noqa: BLE001 - translated: no raw botocore text
            raise _translate(exc, str(self.location), "ListObjectsV2") from None

    def fetch(self, obj: RemoteObject, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``obj``, only from the version the listing saw.

        Raises:
            ArtifactReadError: the read failed, or the object changed since it was listed.
        """
        where = f"s3://{self.location.bucket}/{obj.key}"
        pin = {"IfMatch": obj.etag} if obj.etag else {}
        try:
            answer = self._client.get_object(Bucket=self.location.bucket, Key=obj.key,
                                             Range=f"bytes={start}-{end - 1}", **pin,
                                             **self._owner)
            total = str(answer.get("ContentRange", "")).rpartition("/")[2]
            body = answer["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        except Exception as exc:  # noqa: BLE001 - translated: no raw botocore text
            raise _translate(exc, where, "GetObject") from None
        if total and total != "*" and total != str(obj.size):
            raise _changed(where, f"is {excerpt(total, 20)} bytes now, {obj.size} when listed")
        return data


def _translate(exc: Exception, where: str, operation: str) -> ArtifactReadError:
    """An :class:`ArtifactReadError` that says what went wrong without botocore's text."""
    shown = excerpt(where, PATH_CHARS)
    if isinstance(exc, ArtifactReadError):
        return exc
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = str(response.get("Error", {}).get("Code", "?"))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        if code in {"PreconditionFailed", "412"}:
            return _changed(shown, "was replaced since it was listed (its ETag no longer "
                            "matches)")
        if code in {"NoSuchKey", "404"}:
            return _changed(shown, "was deleted since it was listed")
        return ArtifactReadError(
            f"Cannot read {shown}: S3 answered {excerpt(code, 40)} (HTTP {status}) to "
            f"{operation}", [Problem(shown, f"{operation} failed: {excerpt(code, 40)}",
                                     "check the credentials and the bucket policy of the "
                                     "server's S3 identity")])
    kind = type(exc).__name__
    if kind in {"ReadTimeoutError", "ConnectTimeoutError"}:
        what = "the S3 endpoint did not answer in time"
    elif kind in {"EndpointConnectionError", "ConnectionClosedError", "ProxyConnectionError"}:
        what = "the S3 endpoint cannot be reached"
    elif kind in {"NoCredentialsError", "PartialCredentialsError"}:
        what = "no S3 credentials are configured"
    else:
        what = f"{operation} failed ({kind})"
    return ArtifactReadError(f"Cannot read {shown}: {what}", [Problem(
        shown, what, "check MLFLOW_S3_ENDPOINT_URL and that the store answers; retry")])


def _changed(where: str, what: str) -> ArtifactReadError:
    return ArtifactReadError(f"Cannot hash {where}: it changed while it was read", [Problem(
        where, what, "re-verify once nothing is writing to the artifact; the digest of a "
        "mix of two versions matches neither")])
