"""Small shared objects: key material and the erasure queue, on disk or on S3.

Every collector of a deployment reads and writes the same objects, so the one
operation that matters is *create once*: two collectors racing to create a
site secret or a day's salt must end up with the same bytes. On disk that is
an atomic ``link`` of a fully written file; on S3 a conditional ``PUT`` with
``If-None-Match: *``, which fails for everyone but the first writer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from service.ingest.spool import fsync_dir, write_durably
from service.storage.location import Location, s3_endpoint, s3_region


class Objects(Protocol):
    """Named byte strings under one location; names are ``/``-separated relative paths."""

    where: str

    def get(self, name: str) -> bytes | None: ...

    def create(self, name: str, data: bytes) -> bool:
        """Store ``data`` unless ``name`` exists; True when this call created it."""
        ...

    def put(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> None: ...

    def list(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (a folder such as ``erasure/pending``), sorted."""
        ...


def create_or_read(objects: Objects, name: str, data: bytes, attempts: int = 10) -> bytes:
    """The bytes stored under ``name``: ``data`` if this call created it, else the winner's.

    A create that lost to a write still in flight (S3 answers 409 then) finds nothing
    to read yet: it waits a moment and tries again.
    """
    for attempt in range(attempts):
        existing = objects.get(name)
        if existing is not None:
            return existing
        objects.create(name, data)
        stored = objects.get(name)
        if stored is not None:
            return stored
        time.sleep(0.05 * (attempt + 1))
    raise FileNotFoundError(name)


class LocalObjects:
    """Files under a directory, mode 0600 in folders of mode 0700, each write fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def _path(self, name: str) -> Path:
        return self.root / name

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def create(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        self._folder(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails when another process won the race; theirs is kept
            created = True
        except FileExistsError:
            created = False
        finally:
            tmp.unlink()
        fsync_dir(path.parent)
        return created

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        self._folder(path.parent)
        write_durably(path, data)

    def _folder(self, folder: Path) -> None:
        """Create the folder and make each new level durable in its parent."""
        missing = []
        while not folder.exists() and folder != self.root:
            missing.append(folder)
            folder = folder.parent
        for level in reversed(missing):
            level.mkdir(mode=0o700, exist_ok=True)
            fsync_dir(level.parent)

    def delete(self, name: str) -> None:
        path = self._path(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            fsync_dir(path.parent)

    def list(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            return []
        with entries:
            return sorted(
                f"{prefix.rstrip('/')}/{e.name}".lstrip("/")
                for e in entries
                if e.is_file() and not e.name.startswith(".")
            )


class S3Objects:
    """Objects under ``s3://bucket/prefix`` through boto3, configured by ``AWS_*``."""

    def __init__(self, location: Location) -> None:
        self.bucket, self.prefix = location.bucket, location.prefix
        self.where = location.uri
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    # botocore reads no AWS_REGION: the same region and endpoint as delta-rs.
                    self._client = boto3.client(
                        "s3", region_name=s3_region(), endpoint_url=s3_endpoint()
                    )
        return self._client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def get(self, name: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = response["Body"].read()
        return body

    def create(self, name: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # 412: another writer created it first; 409: another write is in flight.
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def list(self, prefix: str) -> list[str]:
        inner = prefix.strip("/")
        folder = "/".join(p for p in (self.prefix, inner) if p) + "/"
        names: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="" if folder == "/" else folder, Delimiter="/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(folder) if folder != "/" else 0 :]
                names.append(f"{inner}/{name}" if inner else name)
        return sorted(names)


def objects_at(location: Location) -> Objects:
    if location.path is not None:
        return LocalObjects(location.path)
    return S3Objects(location)
