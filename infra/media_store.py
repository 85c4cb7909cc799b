"""The media store's two adapters (port ``ports.media_store.MediaStore``).

* ``FilesystemMediaStore``: a directory (``ROOST_MEDIA_DIR``, ``.roost/media`` by
  default), the development default: ``make up`` needs nothing else. Each object is
  written to a temporary file beside its place, flushed to disk (``fsync``) and
  renamed into place, so a reader never sees half an image and a crash leaves at
  most a temporary file (``*.tmp``, which listing skips and the sweeper leaves).
* ``S3MediaStore``: a bucket of any S3-compatible service (``ROOST_MEDIA_S3_*``),
  for production. boto3 is synchronous: every call runs in a worker thread, so the
  event loop never waits on the network.

Both raise ``ports.errors.DependencyUnavailable`` when the store fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ports.errors import DependencyUnavailable
from ports.media_store import KEY_PATTERN, LIST_PAGE, StoredObject, check_key, content_type_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CACHE_CONTROL = "public, max-age=86400"
"""What the store tells an HTTP cache in front of it (a CDN): one day, so a deleted
post's media, whose objects the sweeper removes, leave every cache within a day."""
DELETE_BATCH = 1000  # S3's DeleteObjects takes at most this many keys (and a list page)
_FANOUT = re.compile(r"[0-9a-f]{2}")  # a directory level of the keys (<aa>/<bb>/)


class FilesystemMediaStore:
    """``MediaStore`` over a local directory; blocking file I/O runs in threads."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        """Write ``data`` atomically and durably under ``key`` (renew its time if there)."""
        path = self._path(key)
        try:
            await asyncio.to_thread(self._put, path, data)
        except OSError as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        if path.exists():  # content-addressed: the same bytes; renew its time only
            os.utime(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None``."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    async def size(self, key: str) -> int | None:
        """The file's size (``stat``), or ``None``."""
        path = self._path(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the files of ``keys``; missing ones are skipped."""
        paths = [self._path(key) for key in keys]

        def unlink_all() -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        try:
            await asyncio.to_thread(unlink_all)
        except OSError as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    async def list_objects(self, after: str = "", limit: int = LIST_PAGE
                           ) -> list[StoredObject]:
        """A page of stored objects after ``after`` (temporary files left by a crash
        are not objects). Walks the ``<aa>/<bb>/`` directories in order, reading one
        directory listing at a time, so memory is bounded by the page and the largest
        directory (about 1/65,536 of the objects), never the whole store."""
        try:
            return await asyncio.to_thread(self._list, after, max(1, limit))
        except OSError as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    @staticmethod
    def _names(directory: Path) -> list[str]:
        """The sorted entries of a directory; none if it is gone or not a directory."""
        try:
            return sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _list(self, after: str, limit: int) -> list[StoredObject]:
        if not self.root.exists():
            return []  # nothing stored yet
        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is not a directory")
        found: list[StoredObject] = []
        for first in self._names(self.root):
            if not _FANOUT.fullmatch(first) or first < after[:2]:
                continue
            for second in self._names(self.root / first):
                if not _FANOUT.fullmatch(second) or f"{first}/{second}" < after[:5]:
                    continue
                for name in self._names(self.root / first / second):
                    key = f"{first}/{second}/{name}"
                    if key <= after or not KEY_PATTERN.fullmatch(key):
                        continue
                    try:
                        stat = (self.root / key).stat()
                    except FileNotFoundError:
                        continue  # removed meanwhile
                    found.append(StoredObject(key, stat.st_size,
                                              datetime.fromtimestamp(stat.st_mtime, UTC)))
                    if len(found) == limit:
                        return found
        return found


class S3MediaStore:
    """``MediaStore`` over one bucket of an S3-compatible service."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, prefix: str = "",
                 timeout_s: float = 10.0) -> None:
        """``prefix`` (``""`` or ending in ``/``) is put before every key; without
        credentials boto3 finds its own (environment, instance role)."""
        self.bucket = bucket
        self.prefix = prefix
        self.client: S3Client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                          retries={"max_attempts": 3, "mode": "standard"}))

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, method), **kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise DependencyUnavailable(f"media store: {error!r}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    async def put(self, key: str, data: bytes) -> None:
        """PutObject (durable once S3 answers); writing again renews LastModified."""
        await self._call("put_object", Bucket=self.bucket, Key=self.prefix + check_key(key),
                         Body=data, ContentType=content_type_of(key),
                         CacheControl=CACHE_CONTROL)

    async def get(self, key: str) -> bytes | None:
        """GetObject's bytes, or ``None`` for a missing key."""
        answer = await self._call("get_object", Bucket=self.bucket,
                                  Key=self.prefix + check_key(key))
        if answer is None:
            return None
        body = answer["Body"]
        try:
            data: bytes = await asyncio.to_thread(body.read)
        except (BotoCoreError, OSError) as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error
        finally:
            body.close()
        return data

    async def size(self, key: str) -> int | None:
        """HeadObject's ``ContentLength``, or ``None`` for a missing key."""
        answer = await self._call("head_object", Bucket=self.bucket,
                                  Key=self.prefix + check_key(key))
        return None if answer is None else int(answer["ContentLength"])

    async def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys a request."""
        names = [self.prefix + check_key(key) for key in keys]
        for start in range(0, len(names), DELETE_BATCH):
            batch = names[start:start + DELETE_BATCH]
            await self._call("delete_objects", Bucket=self.bucket,
                             Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})

    async def list_objects(self, after: str = "", limit: int = LIST_PAGE
                           ) -> list[StoredObject]:
        """ListObjectsV2 over the prefix from ``StartAfter``, until ``limit`` of our
        objects (S3 lists keys in UTF-8 byte order: our keys' order)."""
        return await asyncio.to_thread(self._list, after, max(1, limit))

    def _list(self, after: str, limit: int) -> list[StoredObject]:
        found: list[StoredObject] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix,
                                   "MaxKeys": min(limit, DELETE_BATCH)}
        if after:
            request["StartAfter"] = self.prefix + after
        try:
            while True:
                page = self.client.list_objects_v2(**request)
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix):]
                    if not KEY_PATTERN.fullmatch(key):
                        continue  # not ours (another tool's object under the prefix)
                    found.append(StoredObject(key, item["Size"], item["LastModified"]))
                    if len(found) == limit:
                        return found
                if not page.get("IsTruncated"):
                    return found
                request["ContinuationToken"] = page["NextContinuationToken"]
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"media store: {error!r}") from error

    async def create_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests; production
        buckets are made by their operator)."""
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError:
            await self._call("create_bucket", Bucket=self.bucket)
