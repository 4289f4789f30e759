"""Where the lake and the keys live: a local directory or an ``s3://bucket/prefix``.

Settings name both as text (``--lake``, ``--keys``); an empty value means the
default under the data directory. Object storage is configured the way every
AWS tool is, with the standard ``AWS_*`` variables (``AWS_ENDPOINT_URL``
included, for S3-compatible stores); nothing here reads credentials itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class Location:
    """A local directory (``path``) or an S3 bucket and key prefix (``bucket``, ``prefix``)."""

    path: Path | None = None
    bucket: str = ""
    prefix: str = ""

    @classmethod
    def parse(cls, text: str | Path, default: Path) -> Location:
        raw = str(text).strip()
        if not raw:
            return cls(path=default.resolve())
        if raw.startswith(S3_SCHEME):
            bucket, _, prefix = raw[len(S3_SCHEME) :].partition("/")
            if not bucket:
                raise ValueError(f"{raw!r} names no bucket")
            return cls(bucket=bucket, prefix=prefix.strip("/"))
        if "://" in raw:
            raise ValueError(f"{raw!r}: a location is a directory or s3://bucket/prefix")
        return cls(path=Path(raw).resolve())

    @property
    def is_s3(self) -> bool:
        return self.path is None

    @property
    def uri(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def child(self, *parts: str) -> Location:
        if self.path is not None:
            return Location(path=self.path.joinpath(*parts))
        return Location(bucket=self.bucket, prefix="/".join(p for p in (self.prefix, *parts) if p))

    def __str__(self) -> str:
        return self.uri


def s3_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def s3_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def storage_options(location: Location) -> dict[str, str]:
    """delta-rs options for the location: on S3, the endpoint and region from ``AWS_*``
    (delta-rs reads the credentials itself), and plain HTTP allowed only for an
    ``http://`` endpoint, which is what a local S3 API such as moto serves."""
    if not location.is_s3:
        return {}
    options = {"AWS_REGION": s3_region()}
    endpoint = s3_endpoint()
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options
