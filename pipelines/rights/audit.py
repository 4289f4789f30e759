"""The audit trail: who did what, when, and to how many rows; never to whom.

One JSON object a line in ``audit.jsonl``, appended and fsynced, so a breach
review can reconstruct every export, erasure and administrative run.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import orjson


def record(data_dir: Path, action: str, *, actor: str, **facts: Any) -> None:
    entry = {
        "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "action": action,
        "actor": actor,
        **facts,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "audit.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, orjson.dumps(entry) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
