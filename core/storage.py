"""Where artifacts live: a local folder or an S3 bucket, behind one small protocol.

Tasks pass storage *keys* (``"video/3f/3fa9….mp4"``), never media bytes. A key is a
relative, ``/``-separated name; :func:`validate_key` guards every public method, so a key
can never escape the storage root. :func:`content_key` builds keys from what produced an
artifact, so a retried or re-run flow finds finished work under the same key.

Writes are atomic: a half-written object never becomes visible under its final key.
:class:`LocalStorage` writes a temporary file beside the target, fsyncs it and renames it
into place; :class:`S3Storage` uploads to a temporary key under ``.tmp/`` and publishes it
with a server-side copy.

Errors: a missing key raises :class:`ArtifactNotFoundError`; a malformed key raises
:class:`InvalidKeyError`; S3 failures become :class:`~core.errors.TransientError` (worth a
retry) or :class:`~core.errors.PermanentError`, decided in :meth:`S3Storage._translate`.
The S3 client never retries on its own: Prefect owns retries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import errno
import hashlib
import json
import logging
import mimetypes
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel

from core.errors import (
    AuraError,
    ConfigError,
    InputError,
    PermanentError,
    TransientError,
    is_transient_status,
)
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

logger = logging.getLogger(__name__)

MAX_KEY_BYTES = 1024
"""Longest key accepted, in UTF-8 bytes (S3's limit, applied to every storage)."""

MAX_SEGMENT_BYTES = 255
"""Longest segment between slashes, in UTF-8 bytes (file names on common file systems)."""

TMP_SEGMENT = ".tmp"
"""First key segment reserved for uploads in progress; callers cannot use it."""

MAX_URL_EXPIRY_S = 7 * 24 * 3600
"""Longest lifetime of a presigned S3 URL (SigV4 allows at most 7 days), in seconds."""

_COPY_BUFFER_BYTES = 1024 * 1024


class InvalidKeyError(InputError):
    """A storage key is malformed: empty, absolute, or escaping the storage root."""

    def __init__(self, key: object, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"invalid storage key {key!r}: it {reason}")


class ArtifactNotFoundError(AuraError):
    """No artifact is stored under a key."""

    def __init__(self, key: str, storage: str, where: str):
        self.key = key
        self.storage = storage
        super().__init__(f"no artifact with key {key!r} in {where}")


@runtime_checkable
class Storage(Protocol):
    """Where artifacts live. Keys are relative ``/``-separated names (see validate_key)."""

    name: str
    """``"local"`` or ``"s3"``."""

    def exists(self, key: str) -> bool:
        """Whether an artifact is stored under ``key``."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store ``data`` under ``key`` atomically, replacing what was there."""
        ...

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the file at ``path`` under ``key`` atomically (streamed, not read whole)."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole artifact under ``key``; use download/local_path for big media."""
        ...

    def download(self, key: str, path: Path) -> Path:
        """Write the artifact under ``key`` to ``path`` (folders created); returns ``path``."""
        ...

    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A context manager yielding a local file with the artifact, readable inside it."""
        ...

    def copy(self, src_key: str, dst_key: str) -> None:
        """Store a copy of the artifact under ``src_key`` under ``dst_key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the artifact under ``key``; a missing key is not an error."""
        ...

    def size_bytes(self, key: str) -> int:
        """Size of the artifact under ``key``, in bytes."""
        ...

    def url(self, key: str, expires_s: int | None = None) -> str:
        """A URL to read the artifact (``file://`` locally, presigned GET on S3)."""
        ...


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe relative storage key and return it unchanged.

    A key is non-empty text of at most :data:`MAX_KEY_BYTES` UTF-8 bytes, made of
    ``/``-separated segments of at most :data:`MAX_SEGMENT_BYTES`, none of them empty,
    ``.`` or ``..`` (so every key works on every storage); it has no leading
    ``/``, no backslash and no NUL, and does not start with the reserved ``.tmp/``.

    Raises:
        InvalidKeyError: naming the key and what is wrong with it.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(key, f"is a {type(key).__name__}, not text")
    if not key:
        raise InvalidKeyError(key, "is empty")
    if "\x00" in key:
        raise InvalidKeyError(key, "contains a NUL character")
    if "\\" in key:
        raise InvalidKeyError(key, "contains a backslash; separate folders with '/'")
    if key.startswith("/"):
        raise InvalidKeyError(key, "is absolute; keys are relative to the storage root")
    segments = key.split("/")
    if ".." in segments:
        raise InvalidKeyError(key, "contains a '..' segment, which would leave the storage")
    if "" in segments or "." in segments:
        raise InvalidKeyError(key, "contains an empty or '.' segment (a doubled or final '/')")
    if segments[0] == TMP_SEGMENT:
        raise InvalidKeyError(key, f"starts with '{TMP_SEGMENT}/', reserved for uploads")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(key, f"is longer than {MAX_KEY_BYTES} bytes")
    if any(len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES for segment in segments):
        raise InvalidKeyError(
            key, f"has a segment longer than {MAX_SEGMENT_BYTES} bytes (a file name limit)"
        )
    return key


def content_key(kind: str, *parts: object, suffix: str = "") -> str:
    """A deterministic key addressed by the content that produced an artifact.

    The digest is the SHA-256 of a canonical JSON of ``kind`` and ``parts``: pydantic
    models via ``model_dump(mode="json")``, mappings with sorted keys, tuples as lists,
    sets sorted, paths as their text (a path stands for its name, not the file's
    content: pass the bytes to key on content), bytes by their own SHA-256, enums by
    value, dataclasses as dicts, dates in ISO 8601. Same inputs give the same key; any
    change gives a different key.

    Args:
        kind: leading folder of the key, e.g. ``"voice"`` or ``"video/final"``.
        parts: everything that determines the artifact (inputs, settings, versions).
        suffix: appended to the key, e.g. ``".mp4"``; empty or starting with ``"."``.

    Returns:
        ``f"{kind}/{digest[:2]}/{digest}{suffix}"`` with the 64-hex-digit digest.

    Raises:
        InvalidKeyError: ``kind`` or ``suffix`` would make an invalid key.
        TypeError: a part has a type with no canonical form (e.g. an arbitrary object).
    """
    validate_key(kind)
    if suffix and (not suffix.startswith(".") or "/" in suffix or suffix == "."):
        raise InvalidKeyError(
            f"{kind}/…{suffix}", f"has suffix {suffix!r}; a suffix starts with '.' and has no '/'"
        )
    document = {"kind": kind, "parts": [_canonical(part) for part in parts]}
    digest = hashlib.sha256(_canonical_json(document).encode("utf-8")).hexdigest()
    return validate_key(f"{kind}/{digest[:2]}/{digest}{suffix}")


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: object) -> Any:
    """``value`` as plain JSON data with one spelling per meaning."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump(mode="json"))
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else _canonical_json(_canonical(key)): _canonical(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(item) for item in value), key=_canonical_json)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(
        f"content_key cannot hash a {type(value).__name__}: pass plain data, a pydantic "
        "model, a dataclass, a Path or bytes"
    )


class LocalStorage:
    """Artifacts as files under a root folder; key ``a/b.mp4`` is ``root/a/b.mp4``.

    ``content_type`` is accepted for interface parity and not stored.
    """

    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r})"

    def _where(self) -> str:
        return f"local storage at {self.root}"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _existing(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ArtifactNotFoundError(key, self.name, self._where())
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        _write_atomically(self._path(key), lambda out: out.write(data))

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        target = self._path(key)
        with open(path, "rb") as source:
            _write_atomically(
                target, lambda out: shutil.copyfileobj(source, out, _COPY_BUFFER_BYTES)
            )

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._existing(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ArtifactNotFoundError(key, self.name, self._where()) from exc

    def download(self, key: str, path: Path) -> Path:
        source_path = self._existing(key)
        path = Path(path)
        if path.resolve() == source_path:
            return path
        with open(source_path, "rb") as source:
            _write_atomically(path, lambda out: shutil.copyfileobj(source, out, _COPY_BUFFER_BYTES))
        return path

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Yields the stored file itself: read it, do not change or move it."""
        yield self._existing(key)

    def copy(self, src_key: str, dst_key: str) -> None:
        target = self._path(dst_key)
        source_path = self._existing(src_key)
        if target == source_path:
            return
        with open(source_path, "rb") as source:
            _write_atomically(
                target, lambda out: shutil.copyfileobj(source, out, _COPY_BUFFER_BYTES)
            )

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            return
        path.unlink(missing_ok=True)

    def size_bytes(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def url(self, key: str, expires_s: int | None = None) -> str:
        """A ``file://`` URI of the key's file (``expires_s`` is ignored; no check it exists)."""
        return self._path(key).as_uri()


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Make ``path`` hold what ``write`` writes, or leave it as it was.

    Writes a temporary file in the same folder (same file system, so the rename is
    atomic), fsyncs it, renames it over ``path`` and fsyncs the folder. On any failure
    the temporary file is removed and the exception propagates.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{uuid.uuid4().hex}.tmp")
    # os.open with 0o666 lets the umask decide permissions, as for any new file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Persist a rename in ``folder`` (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


_TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "ServiceUnavailable",
        "InternalError",
        "OperationAborted",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
    }
)
"""S3 error codes worth a retry whatever their HTTP status."""

_PERMANENT_S3_CODES = frozenset(
    {"BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "NoSuchBucket"}
)
"""S3 error codes never worth a retry, even where their status (409) usually is."""

_NOT_FOUND_S3_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


class S3Storage:
    """Artifacts as objects in an S3 bucket (or any S3-compatible service).

    Args:
        bucket: bucket name.
        prefix: folder inside the bucket that holds every key (``""`` for the root).
        endpoint_url: S3-compatible endpoint (MinIO, moto, …); ``None`` for AWS. With
            an endpoint, path-style addressing is used (``endpoint/bucket/key``).
        region: AWS region of the bucket.
        access_key_id, secret_access_key: credentials; ``None`` uses boto3's default
            chain (environment, ``~/.aws``, instance role).
        url_expiry_s: default lifetime of presigned URLs, in seconds.
        connect_timeout_s, read_timeout_s: socket timeouts per request, in seconds.
        transfer_config: boto3 ``TransferConfig`` for managed uploads, downloads and
            copies (multipart threshold and part size); default: boto3's, with one
            download attempt, since Prefect owns retries.
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        url_expiry_s: int = 3600,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        transfer_config: TransferConfig | None = None,
    ):
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if not bucket:
            raise ConfigError("S3 storage needs a bucket name (set AURA_S3__BUCKET)")
        _check_expiry(url_expiry_s)
        prefix = prefix.strip("/")
        if prefix:
            try:
                validate_key(prefix)
            except InvalidKeyError as exc:
                raise ConfigError(f"S3 prefix {prefix!r} cannot be used: {exc.reason}") from exc
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url = endpoint_url
        self.url_expiry_s = url_expiry_s
        self.transfer_config = transfer_config or TransferConfig(num_download_attempts=1)
        self.region = region
        self._client = _new_s3_client(
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            endpoint_url=endpoint_url,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                # botocore still presigns S3 URLs with the deprecated SigV2 by default.
                signature_version="s3v4",
                connect_timeout=connect_timeout_s,
                read_timeout=read_timeout_s,
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        )

    def __repr__(self) -> str:
        endpoint = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}{endpoint})"

    def _where(self) -> str:
        inside = f" under prefix {self.prefix!r}" if self.prefix else ""
        return f"S3 bucket {self.bucket!r}{inside}"

    def _object_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def create_bucket(self) -> None:
        """Create the bucket if it does not exist yet (tests and first-time setup)."""
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with self._errors("create the bucket", None):
            try:
                self._client.create_bucket(**arguments)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise

    def exists(self, key: str) -> bool:
        try:
            self.size_bytes(key)
        except ArtifactNotFoundError:
            return False
        return True

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = self._content_type_args(key, content_type)
        body = bytes(data)
        self._put_through_temporary(
            key,
            len(body),
            lambda temporary: self._client.put_object(
                Bucket=self.bucket, Key=temporary, Body=body, **extra
            ),
        )

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload a file with boto3's managed transfer (multipart for big files)."""
        self._object_key(key)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, "No such file to upload", str(path))
        extra = self._content_type_args(key, content_type)
        self._put_through_temporary(
            key,
            path.stat().st_size,
            lambda temporary: self._client.upload_file(
                str(path), self.bucket, temporary, ExtraArgs=extra, Config=self.transfer_config
            ),
        )

    def get_bytes(self, key: str) -> bytes:
        object_key = self._object_key(key)
        with self._errors("read", key, reading=True):
            response = self._client.get_object(Bucket=self.bucket, Key=object_key)
            return response["Body"].read()

    def download(self, key: str, path: Path) -> Path:
        """Download with boto3's managed transfer; ``path`` appears only once complete."""
        object_key = self._object_key(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors("download", key, reading=True):
            self._client.download_file(
                self.bucket, object_key, str(path), Config=self.transfer_config
            )
        return path

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Downloads to a temporary file (same file name as the key) removed on exit."""
        self._object_key(key)
        with tempfile.TemporaryDirectory(prefix="aura-s3-") as folder:
            yield self.download(key, Path(folder) / key.rsplit("/", 1)[-1])

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy (multipart above the transfer threshold); metadata is kept."""
        source = {"Bucket": self.bucket, "Key": self._object_key(src_key)}
        target = self._object_key(dst_key)
        with self._errors(f"copy to {dst_key!r} from", src_key, reading=True):
            self._client.copy(source, self.bucket, target, Config=self.transfer_config)

    def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=object_key)

    def size_bytes(self, key: str) -> int:
        object_key = self._object_key(key)
        with self._errors("look up", key, reading=True):
            response = self._client.head_object(Bucket=self.bucket, Key=object_key)
        return int(response["ContentLength"])

    def url(self, key: str, expires_s: int | None = None) -> str:
        """A presigned GET URL valid for ``expires_s`` seconds (default ``url_expiry_s``).

        Signing happens locally: the object's existence is not checked.
        """
        object_key = self._object_key(key)
        expires_s = self.url_expiry_s if expires_s is None else expires_s
        _check_expiry(expires_s)
        with self._errors("sign a URL for", key):
            return self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": object_key},
                ExpiresIn=expires_s,
            )

    def _content_type_args(self, key: str, content_type: str | None) -> dict[str, str]:
        """``ContentType`` as given, else guessed from the key's suffix (``.mp4``, …)."""
        content_type = content_type or mimetypes.guess_type(key)[0]
        return {"ContentType": content_type} if content_type else {}

    def _put_through_temporary(
        self, key: str, size_bytes: int, upload: Callable[[str], object]
    ) -> None:
        """Upload to a fresh ``.tmp/`` key, copy it to ``key``, always delete the temporary.

        The final key therefore only ever holds a complete object. ``size_bytes`` picks
        the copy: one CopyObject below the multipart threshold, else a managed
        (multipart) copy, which CopyObject's 5 GiB limit requires for the biggest files.
        """
        final_key = self._object_key(key)
        temporary = f"{self.prefix}{TMP_SEGMENT}/{uuid.uuid4().hex}"
        source = {"Bucket": self.bucket, "Key": temporary}
        try:
            with self._errors("upload", key):
                upload(temporary)
            with self._errors("publish the upload of", key):
                if size_bytes < self.transfer_config.multipart_threshold:
                    self._client.copy_object(CopySource=source, Bucket=self.bucket, Key=final_key)
                else:
                    self._client.copy(source, self.bucket, final_key, Config=self.transfer_config)
        finally:
            self._delete_temporary(temporary)

    def _delete_temporary(self, temporary: str) -> None:
        # Never raise here: it would hide the upload's own outcome. A leftover temporary
        # object is harmless (a lifecycle rule on ".tmp/" can expire them).
        try:
            self._client.delete_object(Bucket=self.bucket, Key=temporary)
        except (BotoCoreError, ClientError) as exc:
            logger.warning(
                "could not delete temporary upload s3://%s/%s: %s", self.bucket, temporary, exc
            )

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None, *, reading: bool = False) -> Iterator[None]:
        """Translate boto3/botocore failures inside the block into AuraStudio errors."""
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise self._translate(exc, action, key, reading=reading) from exc
        except Exception as exc:
            inner = _boto_cause(exc)
            if inner is None:
                raise
            raise self._translate(inner, action, key, reading=reading) from exc

    def _translate(
        self, exc: BotoCoreError | ClientError, action: str, key: str | None, *, reading: bool
    ) -> AuraError:
        """The one place where S3 failures are classified.

        - 404 / NoSuchKey on a read: :class:`ArtifactNotFoundError`.
        - 429, 5xx (and 408/409/425), SlowDown, RequestTimeout, ServiceUnavailable,
          InternalError: :class:`TransientError`.
        - any other answer (403, 400, NoSuchBucket, …): :class:`PermanentError`.
        - lost or refused connections, timeouts, checksum mismatches: :class:`TransientError`.
        - missing credentials, TLS failures, invalid parameters: :class:`PermanentError`.
        """
        target = f"{key!r} in {self._where()}" if key is not None else self._where()
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            detail = error.get("Message") or ""
            answer = f"HTTP {status}" + (f" {code}" if code and code != str(status) else "")
            answer += f" ({detail})" if detail else ""
            if code == "NoSuchBucket":
                return PermanentError(
                    f"could not {action} {target}: the bucket does not exist",
                    provider="s3",
                    status_code=status,
                )
            if key is not None and reading and (code in _NOT_FOUND_S3_CODES or status == 404):
                return ArtifactNotFoundError(key, self.name, self._where())
            transient = code in _TRANSIENT_S3_CODES or (
                status is not None
                and is_transient_status(int(status))
                and code not in _PERMANENT_S3_CODES
            )
            if transient:
                return TransientError(
                    f"could not {action} {target}: {answer}; this is usually temporary",
                    provider="s3",
                    status_code=status,
                )
            return PermanentError(
                f"refused to {action} {target}: {answer}", provider="s3", status_code=status
            )
        if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return PermanentError(
                f"could not {action} {target}: no usable AWS credentials ({exc}); set "
                "AURA_S3__ACCESS_KEY_ID and AURA_S3__SECRET_ACCESS_KEY or an AWS profile",
                provider="s3",
            )
        if isinstance(exc, SSLError):
            return PermanentError(f"could not {action} {target}: TLS failed ({exc})", provider="s3")
        if isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError):
            return TransientError(
                f"could not {action} {target}: the connection to S3 failed ({exc})",
                provider="s3",
            )
        if isinstance(exc, FlexibleChecksumError):
            return TransientError(
                f"could not {action} {target}: the data arrived damaged ({exc})", provider="s3"
            )
        return PermanentError(f"could not {action} {target}: {exc}", provider="s3")


_boto_session_lock = threading.Lock()
_boto_session: Any = None


def _new_s3_client(**options: Any) -> Any:
    """A boto3 S3 client from one shared session.

    Clients are thread-safe, sessions are not (hence the lock); sharing the session
    lets every S3Storage reuse the loaded service model instead of paying ~0.1-0.2 s.
    """
    global _boto_session
    import boto3

    with _boto_session_lock:
        if _boto_session is None:
            _boto_session = boto3.session.Session()
        return _boto_session.client("s3", **options)


def _boto_cause(exc: BaseException) -> BotoCoreError | ClientError | None:
    """The botocore error that boto3's managed transfers wrap, if any.

    ``upload_file`` raises ``S3UploadFailedError`` (the ClientError is its context) and
    ``download_file`` raises ``RetriesExceededError`` (holding ``last_exception``).
    """
    from boto3.exceptions import RetriesExceededError, S3UploadFailedError
    from s3transfer.exceptions import RetriesExceededError as TransferRetriesExceededError

    inner: BaseException | None = None
    if isinstance(exc, RetriesExceededError | TransferRetriesExceededError):
        inner = exc.last_exception
    elif isinstance(exc, S3UploadFailedError):
        inner = exc.__cause__ or exc.__context__
    if isinstance(inner, BotoCoreError | ClientError):
        return inner
    return None


def _check_expiry(expires_s: int) -> None:
    if not 0 < expires_s <= MAX_URL_EXPIRY_S:
        raise ValueError(
            f"URL lifetime {expires_s} s is out of range: it must be between 1 and "
            f"{MAX_URL_EXPIRY_S} seconds (7 days)"
        )


def get_storage(settings: Settings | None = None) -> Storage:
    """The storage chosen by ``settings.storage`` (default: :func:`get_settings`).

    ``"local"``: a folder at ``settings.storage_dir``; ``"s3"``: a bucket per ``settings.s3``.
    """
    settings = settings or get_settings()
    if settings.storage == "local":
        assert settings.storage_dir is not None, "Settings fills storage_dir"
        return LocalStorage(settings.storage_dir)
    if settings.storage == "s3":
        s3 = settings.s3
        return S3Storage(
            s3.bucket,
            prefix=s3.prefix,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id.get_secret_value() if s3.access_key_id else None,
            secret_access_key=(
                s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
            ),
            url_expiry_s=s3.url_expiry_s,
        )
    raise ConfigError(f"unknown storage {settings.storage!r}: choose 'local' or 's3'")
