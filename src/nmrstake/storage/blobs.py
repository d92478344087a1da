"""Files by key: the local disk of one machine, or an S3-compatible bucket that every machine of
the service reads and writes (issue 21: the service beyond one machine).

A :class:`BlobStore` maps keys (relative, ``/``-separated paths: ``results/round-3/manifest.json``)
to bytes. Two back ends keep the same contract:

* :class:`LocalBlobs` (the default, no option needed): ``<root>/<key>`` on the local disk. A write
  goes to a temporary file beside the target, is fsynced, renamed into place and the folder
  fsynced, so a reader sees the old file or the whole new one, never a partial one.
* :class:`S3Blobs` (``s3://bucket/prefix``, through boto3): a PUT is atomic on S3 (an object,
  multipart or not, becomes visible whole when it completes). The endpoint is an explicit
  argument or boto3's own ``AWS_ENDPOINT_URL``; credentials come from boto3's chain (the
  environment, a profile, an instance role). :meth:`S3Blobs.fetch` keeps a downloaded copy in a
  cache folder and downloads again only when the object's size or ETag changed.

Keys are checked before any I/O (relative, no empty, ``.`` or ``..`` segment, no segment starting
with ``.``: those are the local back end's temporaries). Errors name the store's URL and the key:
:class:`BlobNotFound` for a missing object, :class:`~nmrstake.errors.ConfigError` for a missing
bucket, refused credentials or an unreachable endpoint.

Content addressing (a key named by the hash of its bytes, as the submission store and the
published inputs are) is the caller's: ``put_file(..., content_addressed=True)`` then skips the
write when an object of the same size is already there, so storing the same bytes twice keeps
the one object (and its identity) that is there. On S3 a file sent in one PUT is not asked for
first: the HEAD would cost what the PUT does, and the same bytes make the same object (the
identity, the ETag, is the MD5 of what is stored, and the same bytes compress the same).
:meth:`BlobStore.move_file` stores a file its caller gives up (a staged upload): the local disk
renames it into place (no copy; the file must be on the store's file system), S3 uploads it,
then it is removed.

On S3 an object is kept compressed when that pays (:func:`encode_object`): a file that zstd makes
at least a tenth smaller is stored as one zstd frame (``Content-Type: application/zstd``) with
its own size in the object's metadata; anything else as its bytes (``binary/octet-stream``). Every
read (:meth:`S3Blobs.get_bytes`, :meth:`S3Blobs.fetch`, :meth:`S3Blobs.stat`) gives the file's
own bytes and size, so callers never see the difference. A prediction CSV shrinks to about half,
which halves a round's bucket and spares the object server compressing the file itself (SeaweedFS
gzips any text it is sent, at twice the CPU of a PUT of bytes). An object without the metadata
(written by a presigned PUT, or by an earlier version) is read as it is.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import urlsplit

from nmrstake.errors import ConfigError, InputError
from nmrstake.fsutil import fsync_dir, make_dirs

#: Seconds a presigned URL is good for unless told otherwise.
PRESIGN_SECONDS = 3600


class BlobNotFound(InputError):
    """No object at a key; the message names the store's URL and the key."""

    def __init__(self, where: str, key: str) -> None:
        super().__init__(f"{where}: no object at key {key!r}")
        self.key = key


@dataclass(frozen=True)
class BlobStat:
    """What is known of an object without reading it: its size, and an identity that changes
    whenever its bytes may have (locally the device, inode, modification and change times; on
    S3 the ETag). Two stats with the same identity and size are the same bytes. `modified`: when
    the object was last written (seconds since the epoch; the store's clock on S3), which a sweep of
    unreferenced objects compares with its grace period."""

    size: int
    identity: str
    modified: float | None = field(default=None, compare=False)  # not the bytes' identity


def check_key(key: str, *, where: str) -> str:
    """`key` if it is a relative, normalised, ``/``-separated path, else InputError naming
    `where` (the store's URL) and the key."""
    if not isinstance(key, str) or not key:
        raise InputError(f"{where}: key {key!r}: expected a non-empty relative path")
    problem = None
    if key.startswith("/"):
        problem = "must be relative (no leading /)"
    elif "\\" in key or "\0" in key:
        problem = "must not hold a backslash or a NUL"
    else:
        for part in key.split("/"):
            if part in ("", ".", ".."):
                problem = "must not have an empty, '.' or '..' segment"
                break
            if part.startswith("."):
                problem = f"segment {part!r} must not start with '.'"
                break
    if problem:
        raise InputError(f"{where}: key {key!r}: {problem}")
    return key


def check_prefix(prefix: str, *, where: str) -> str:
    """A listing prefix: empty, or a key's beginning (checked as a key, a trailing ``/`` allowed)."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix, where=where)
    return prefix


class BlobStore(ABC):
    """Files by key (see the module's docstring). ``url`` names the store in every error."""

    url: str

    @abstractmethod
    def put_file(self, key: str, path: Path, *, content_addressed: bool = False) -> BlobStat:
        """Store the file at `path` under `key`, whole or not at all. `content_addressed`: the key
        names the bytes, so an object of the same size already there is kept as it is."""

    def move_file(self, key: str, path: Path, *, content_addressed: bool = False) -> BlobStat:
        """Store the file at `path` under `key` as :meth:`put_file` does, then remove `path`: the
        caller's staged copy, given up once the object is complete (on a crash in between, the
        staged file is left where it was, for its owner to clear)."""
        st = self.put_file(key, path, content_addressed=content_addressed)
        Path(path).unlink(missing_ok=True)
        return st

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> BlobStat:
        """Store `data` under `key`, whole or not at all."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; BlobNotFound if there is none."""

    @abstractmethod
    def fetch(self, key: str) -> Path:
        """A local file holding the object's bytes (read it, do not change it): locally the file
        itself, on S3 a cached download. BlobNotFound if there is no object."""

    @abstractmethod
    def local_path(self, key: str) -> Path:
        """Where :meth:`fetch` gives the object on this machine, without any I/O: locally the file
        itself, on S3 its place in the cache (a copy there only once fetched)."""

    @abstractmethod
    def stat(self, key: str) -> BlobStat | None:
        """The object's size and identity, or None if there is none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; nothing happens if there is none."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """The keys that start with `prefix`, sorted."""

    def check(self) -> None:
        """ConfigError unless the store can be used (S3: the bucket exists, the endpoint answers and
        takes the credentials); a command checks its store so when it starts. The local disk has
        nothing to check before it writes."""
        return None

    def where(self, key: str) -> str:
        """The object's address, for messages."""
        return f"{self.url.rstrip('/')}/{key}"


# ------------------------------------------------------------------------------------------ the local disk


def _local_stat(st: os.stat_result) -> BlobStat:
    return BlobStat(st.st_size, f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}", st.st_mtime)


class LocalBlobs(BlobStore):
    """``<root>/<key>`` on the local disk: the single-host default."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key, where=self.url)

    def local_path(self, key: str) -> Path:
        return self.path(key)

    @contextmanager
    def _writing(self, key: str) -> Iterator[IO[bytes]]:
        """A temporary file beside the target to write into; on a clean exit it is fsynced,
        renamed to the key's path and the folder fsynced. Any failure leaves no file behind."""
        target = self.path(key)
        try:
            make_dirs(target.parent)  # new folders durable before the file in them is
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise ConfigError(f"{self.where(key)}: cannot write ({exc.strerror or exc})") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise ConfigError(f"{self.where(key)}: cannot write ({exc.strerror or exc})") from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_file(self, key: str, path: Path, *, content_addressed: bool = False) -> BlobStat:
        if content_addressed:
            there = self.stat(key)
            if there is not None and there.size == Path(path).stat().st_size:
                return there
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        with source, self._writing(key) as handle:
            shutil.copyfileobj(source, handle, 1 << 20)
        return self._stat_or_fail(key)

    def move_file(self, key: str, path: Path, *, content_addressed: bool = False) -> BlobStat:
        """Rename the file at `path` to the key's path (no copy): the file is fsynced, the new
        folders and the target's folder are fsynced around the rename. Same bytes under a
        content-addressed key replace the same bytes. A file on another file system is copied
        (:meth:`put_file`), then removed."""
        target = self.path(key)
        try:
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
            make_dirs(target.parent)
            os.replace(path, target)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return super().move_file(key, path, content_addressed=content_addressed)
            raise ConfigError(f"{self.where(key)}: cannot write ({exc.strerror or exc})") from None
        fsync_dir(target.parent)
        return self._stat_or_fail(key)

    def put_bytes(self, key: str, data: bytes) -> BlobStat:
        with self._writing(key) as handle:
            handle.write(data)
        return self._stat_or_fail(key)

    def _stat_or_fail(self, key: str) -> BlobStat:
        st = self.stat(key)
        if st is None:  # pragma: no cover - removed by someone else right after the write
            raise BlobNotFound(self.url, key)
        return st

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(self.url, key) from None
        except OSError as exc:
            raise ConfigError(f"{self.where(key)}: cannot read ({exc.strerror or exc})") from None

    def fetch(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise BlobNotFound(self.url, key)
        return path

    def stat(self, key: str) -> BlobStat | None:
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ConfigError(f"{self.where(key)}: cannot read ({exc.strerror or exc})") from None
        return _local_stat(st) if stat.S_ISREG(st.st_mode) else None

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"{self.where(key)}: cannot delete ({exc.strerror or exc})") from None
        fsync_dir(path.parent)

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix, where=self.url)
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue  # a temporary being written (keys never start a segment with '.')
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


# ------------------------------------------------------------------------------------------ S3


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``, parsed."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise InputError(f"store URL {url!r}: expected s3://bucket[/prefix]")
        if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
            raise InputError(f"store URL {url!r}: expected s3://bucket[/prefix] (no credentials, port, query or "
                             "fragment: the endpoint is --endpoint-url or AWS_ENDPOINT_URL)")
        prefix = parts.path.strip("/")
        if prefix:
            check_key(prefix, where=f"store URL {url!r}")
        return cls(parts.netloc, prefix)


#: Files below this size go to S3 in one PUT; larger ones through boto3's multipart transfer (its
#: own threshold is 8 MiB, so this is the size it would send in one request anyway).
SINGLE_PUT_BYTES = 8 * 1024 * 1024


#: zstd's level for objects kept compressed: its fastest (a 120 kB prediction CSV in 0.3 ms, to
#: about half; level 3 takes twice the time for 4 % less).
ZSTD_LEVEL = 1
#: The object metadata (``x-amz-meta-...``) of a compressed object: its encoding, and the size of the
#: bytes it holds.
ENCODING_META = "nmrstake-encoding"
SIZE_META = "nmrstake-size"
ZSTD = "zstd"
#: The Content-Type of a compressed object, and of one kept as its bytes (S3's own default type:
#: the object server takes it as opaque bytes and does not try to compress it).
ZSTD_CONTENT_TYPE = "application/zstd"
BYTES_CONTENT_TYPE = "binary/octet-stream"


@dataclass(frozen=True)
class EncodedObject:
    """What :func:`encode_object` stores for some bytes: the body and the PUT's headers."""

    body: bytes
    content_type: str
    metadata: dict[str, str]


def _pays(compressed: int, size: int) -> bool:
    """Whether a frame of `compressed` bytes is worth keeping for `size` bytes: a tenth smaller."""
    return compressed * 10 <= size * 9


def _frame_metadata(size: int) -> dict[str, str]:
    """The object metadata of a zstd frame holding `size` bytes."""
    return {ENCODING_META: ZSTD, SIZE_META: str(size)}


def encode_object(data: bytes) -> EncodedObject:
    """`data` as one zstd frame (with its size in the metadata) if that is at most nine tenths of
    it, else as it is. Deterministic: the same bytes give the same object (and ETag)."""
    import zstandard

    frame = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    if _pays(len(frame), len(data)):
        return EncodedObject(frame, ZSTD_CONTENT_TYPE, _frame_metadata(len(data)))
    return EncodedObject(data, BYTES_CONTENT_TYPE, {})


def _is_compressed(metadata: dict[str, str] | None) -> bool:
    return metadata is not None and ENCODING_META in metadata


def _object_size(metadata: dict[str, str] | None, stored: int, where: str) -> int:
    """The size of the bytes an object holds: its metadata's for a compressed one, else `stored`."""
    if metadata is None or not _is_compressed(metadata):
        return stored
    encoding, size = metadata.get(ENCODING_META), metadata.get(SIZE_META, "")
    if encoding != ZSTD or not size.isdigit():
        raise ConfigError(f"{where}: an object this store cannot read (encoding {encoding!r}, size {size!r})")
    return int(size)


def decode_object(body: bytes, metadata: dict[str, str] | None, where: str) -> bytes:
    """The bytes an object holds, from its stored `body` and `metadata`; ConfigError naming
    `where` if a compressed object's frame is damaged or not of the size it states."""
    size = _object_size(metadata, len(body), where)
    if not _is_compressed(metadata):
        return body
    import zstandard

    try:
        data = zstandard.ZstdDecompressor().decompress(body, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise ConfigError(f"{where}: a damaged compressed object ({exc})") from None
    if len(data) != size:
        raise ConfigError(f"{where}: the compressed object holds {len(data)} bytes, its metadata says {size}")
    return data


def _timestamp(value: Any) -> float | None:
    """An S3 answer's LastModified (a datetime) in seconds since the epoch."""
    return float(value.timestamp()) if value is not None else None


class S3Blobs(BlobStore):
    """Objects in an S3-compatible bucket, ``s3://bucket/prefix`` (see the module's docstring).

    `endpoint_url`: the S3 endpoint (None: boto3's default, or ``AWS_ENDPOINT_URL``); `cache`: the
    folder :meth:`fetch` keeps its downloads in; `client`: a boto3 S3 client to use instead of
    making one (its endpoint and credentials are then its own)."""

    def __init__(self, url: str, *, cache: Path, endpoint_url: str | None = None, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.location = S3Location.parse(url)
        self.url = url.rstrip("/")
        self.cache = Path(cache)
        if client is None:
            # Few retries: an endpoint that refuses or does not answer is reported in seconds.
            config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self.client = client
        self.endpoint = str(client.meta.endpoint_url)
        self._bucket_checked = False

    # -- names and errors

    def object_key(self, key: str) -> str:
        check_key(key, where=self.url)
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def _fail(self, exc: Exception, key: str | None) -> NoReturn:
        """The boto3 error `exc` as the package's error, naming the URL (and the key)."""
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        where = self.url if key is None else self.where(key)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            raise ConfigError(f"{where}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                              f"AWS_PROFILE): {exc}") from None
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionError):
            raise ConfigError(f"{where}: cannot reach the S3 endpoint {self.endpoint} ({exc})") from None
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                raise ConfigError(f"{self.url}: bucket {self.location.bucket!r} does not exist at "
                                  f"{self.endpoint}") from None
            if code in ("NoSuchKey", "404", "NotFound") and key is not None:
                self._check_bucket()
                raise BlobNotFound(self.url, key) from None
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden",
                        "InvalidToken", "ExpiredToken") or status == 403:
                raise ConfigError(f"{where}: the S3 endpoint {self.endpoint} refused the credentials "
                                  f"({code}: {error.get('Message', 'forbidden')})") from None
            raise ConfigError(f"{where}: S3 error {code or status} ({error.get('Message', exc)})") from None
        raise exc

    def check(self) -> None:
        self._check_bucket()

    def _check_bucket(self) -> None:
        """ConfigError unless the bucket exists and the credentials may use it (asked once: a
        HEAD of a missing object answers 404 whether or not the bucket exists)."""
        if self._bucket_checked:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise ConfigError(f"{self.url}: bucket {self.location.bucket!r} does not exist at "
                                  f"{self.endpoint}") from None
            self._fail(exc, None)
        except BotoCoreError as exc:
            self._fail(exc, None)
        self._bucket_checked = True

    def _call(self, key: str | None, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, key)

    # -- the contract

    def put_file(self, key: str, path: Path, *, content_addressed: bool = False) -> BlobStat:
        self.object_key(key)  # the key checked before any I/O
        self._check_bucket()  # some servers (SeaweedFS) would make a missing bucket on a PUT
        if not Path(path).is_file():
            raise InputError(f"{path}: not a file")
        size = Path(path).stat().st_size
        if content_addressed and size >= SINGLE_PUT_BYTES:
            # Worth a HEAD only when it may spare a large transfer: a small file's PUT costs one
            # request, as the HEAD would, and puts the same bytes under a key that names them.
            there = self.stat(key)
            if there is not None and there.size == size:
                return there
        if size < SINGLE_PUT_BYTES:
            # One PUT, whose answer carries the ETag: no transfer manager (its threads) and no HEAD
            # after it, which cost an upload as much CPU as the PUT itself.
            return self._put(key, Path(path).read_bytes())
        return self._put_large(key, Path(path), size)

    def _put(self, key: str, data: bytes) -> BlobStat:
        stored = encode_object(data)
        answer = self._call(key, self.client.put_object, Bucket=self.location.bucket, Key=self.object_key(key),
                            Body=stored.body, ContentType=stored.content_type, Metadata=stored.metadata)
        return BlobStat(len(data), str(answer["ETag"]))

    def _put_large(self, key: str, path: Path, size: int) -> BlobStat:
        """A large file through boto3's multipart transfer (still one object, visible when
        complete): compressed into a temporary file in the cache folder first, kept when it is at
        most nine tenths of the file."""
        import zstandard

        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache, prefix=".put.", suffix=".zst")
        except OSError as exc:
            raise ConfigError(f"{self.cache}: cannot write the compressed copy of {path} "
                              f"({exc.strerror or exc})") from None
        try:
            with os.fdopen(fd, "wb") as frame, open(path, "rb") as source:
                zstandard.ZstdCompressor(level=ZSTD_LEVEL).copy_stream(source, frame, size=size)
                compressed = frame.tell()
            if _pays(compressed, size):
                upload, extra = tmp, {"ContentType": ZSTD_CONTENT_TYPE, "Metadata": _frame_metadata(size)}
            else:
                upload, extra = str(path), {"ContentType": BYTES_CONTENT_TYPE}
            self._call(key, self.client.upload_file, Filename=upload, Bucket=self.location.bucket,
                       Key=self.object_key(key), ExtraArgs=extra)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return self._stat_or_fail(key)

    def put_bytes(self, key: str, data: bytes) -> BlobStat:
        self.object_key(key)
        self._check_bucket()  # some servers (SeaweedFS) would make a missing bucket on a PUT
        return self._put(key, data)

    def _stat_or_fail(self, key: str) -> BlobStat:
        st = self.stat(key)
        if st is None:  # pragma: no cover - deleted by someone else right after the write
            raise BlobNotFound(self.url, key)
        return st

    def get_bytes(self, key: str) -> bytes:
        answer = self._call(key, self.client.get_object, Bucket=self.location.bucket, Key=self.object_key(key))
        with answer["Body"] as body:
            data: bytes = body.read()
        return decode_object(data, answer.get("Metadata"), self.where(key))

    def stat(self, key: str) -> BlobStat | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
                self._check_bucket()
                return None
            self._fail(exc, key)
        except BotoCoreError as exc:
            self._fail(exc, key)
        return BlobStat(_object_size(head.get("Metadata"), int(head["ContentLength"]), self.where(key)),
                        str(head["ETag"]), _timestamp(head.get("LastModified")))

    def cache_path(self, key: str) -> Path:
        """Where :meth:`fetch` keeps the object's bytes."""
        return self.cache / self.location.bucket / self.object_key(key)

    def local_path(self, key: str) -> Path:
        return self.cache_path(key)

    def fetch(self, key: str) -> Path:
        """The object in the cache folder: downloaded when the cached copy's size or ETag is not the
        object's (one HEAD otherwise), into a temporary file renamed into place; the ETag it was
        downloaded at is kept beside it (``.<name>.etag``)."""
        st = self.stat(key)
        if st is None:
            raise BlobNotFound(self.url, key)
        target = self.cache_path(key)
        tag = target.with_name(f".{target.name}.etag")
        try:
            if target.is_file() and target.stat().st_size == st.size and tag.read_text() == st.identity:
                return target
        except OSError:
            pass  # no tag yet: download
        answer = self._call(key, self.client.get_object, Bucket=self.location.bucket, Key=self.object_key(key))
        with answer["Body"] as body:
            metadata = answer.get("Metadata")
            expected = _object_size(metadata, int(answer["ContentLength"]), self.where(key))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            except OSError as exc:
                raise ConfigError(f"{self.cache}: cannot write the cache of {self.where(key)} "
                                  f"({exc.strerror or exc})") from None
            try:
                self._download(key, body, fd, expected, compressed=_is_compressed(metadata))
                os.replace(tmp, target)
                tag.write_text(str(answer["ETag"]))
            finally:
                Path(tmp).unlink(missing_ok=True)
        return target

    def _download(self, key: str, body: IO[bytes], fd: int, expected: int, *, compressed: bool) -> None:
        """The object's bytes from `body` into the file `fd`, decompressed if `compressed`: ConfigError
        naming the object unless they are `expected` bytes (a frame that would give more stops there)."""
        import zstandard

        where = self.where(key)
        written = 0
        with os.fdopen(fd, "wb") as handle:
            source = zstandard.ZstdDecompressor().stream_reader(body) if compressed else body
            try:
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    if written > expected:
                        raise ConfigError(f"{where}: the object holds more than the {expected} bytes it states")
                    handle.write(chunk)
            except zstandard.ZstdError as exc:
                raise ConfigError(f"{where}: a damaged compressed object ({exc})") from None
        if written != expected:
            raise ConfigError(f"{where}: downloaded {written} bytes, the object holds {expected}")

    def delete(self, key: str) -> None:
        self._call(key, self.client.delete_object, Bucket=self.location.bucket, Key=self.object_key(key))

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix, where=self.url)
        base = f"{self.location.prefix}/" if self.location.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=base + prefix):
                keys.extend(str(item["Key"])[len(base):] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, None)
        return sorted(keys)

    def presign_get(self, key: str, *, seconds: int = PRESIGN_SECONDS) -> str:
        """A URL that GETs the object without credentials for `seconds`."""
        return str(self._call(key, self.client.generate_presigned_url, ClientMethod="get_object",
                              Params={"Bucket": self.location.bucket, "Key": self.object_key(key)},
                              ExpiresIn=seconds))

    def presign_put(self, key: str, *, seconds: int = PRESIGN_SECONDS) -> str:
        """A URL that PUTs the object (the request's body) without credentials for `seconds`."""
        return str(self._call(key, self.client.generate_presigned_url, ClientMethod="put_object",
                              Params={"Bucket": self.location.bucket, "Key": self.object_key(key)},
                              ExpiresIn=seconds))


def open_blobs(url: str | None, *, root: Path, cache: Path, endpoint_url: str | None = None) -> BlobStore:
    """The store at `url`: None (or empty) is the local disk at `root`, ``s3://bucket/prefix`` a
    bucket (endpoint: `endpoint_url`, else boto3's ``AWS_ENDPOINT_URL``; downloads kept in
    `cache`). Anything else is an InputError naming the URL."""
    if not url:
        return LocalBlobs(root)
    if url.startswith("s3://"):
        return S3Blobs(url, cache=cache, endpoint_url=endpoint_url)
    raise InputError(f"store URL {url!r}: expected s3://bucket[/prefix] (or no URL: the local disk)")
