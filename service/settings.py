"""Process-wide settings, read once from flags and ``CLEARCOUNT_*`` variables.

Every field carries its flag, environment variable and one line of help; the
CLI builds its options from this table and a test checks the README names
every one of them, so a setting cannot exist undocumented.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.storage.location import Location


def _setting(default: Any, env: str, help: str, *, flag: str | None = None) -> Any:
    return field(default=default, metadata={"env": env, "help": help, "flag": flag})


@dataclass(frozen=True)
class Settings:
    """Everything a clearcount process needs to know about its deployment."""

    data_dir: Path = _setting(
        Path("./data"), "CLEARCOUNT_DATA_DIR", "where the spool, lake, keys and DuckDB file live"
    )
    lake: str = _setting(
        "",
        "CLEARCOUNT_LAKE",
        "where the lake's Delta tables live: a directory or s3://bucket/prefix (AWS_* "
        "variables configure S3); empty means <data-dir>/lake",
    )
    keys: str = _setting(
        "",
        "CLEARCOUNT_KEYS",
        "where site secrets, daily salts and the erasure queue live, shared by every "
        "collector: a directory or s3://bucket/prefix; empty means <data-dir>/keys",
    )
    sites: Path = _setting(
        Path("./sites.toml"), "CLEARCOUNT_SITES", "the sites configuration file (TOML)"
    )
    bind: str = _setting("127.0.0.1:8000", "CLEARCOUNT_BIND", "host:port the collector listens on")
    public_url: str = _setting(
        "",
        "CLEARCOUNT_PUBLIC_URL",
        "the collector's address as browsers reach it, for the absolute URLs it prints (the "
        "landing page's beacon tag, the start banner); empty means http://<bind>",
    )
    trusted_proxies: int = _setting(
        0,
        "CLEARCOUNT_TRUSTED_PROXIES",
        "how many proxies' X-Forwarded-For entries to trust (0: the socket peer is the client)",
    )
    rate_limit: int = _setting(
        600,
        "CLEARCOUNT_RATE_LIMIT",
        "requests per minute per client (keyed by a keyed hash of its IP); 0 turns it off",
    )
    rate_limit_storage: str = _setting(
        "memory://",
        "CLEARCOUNT_RATE_LIMIT_STORAGE",
        "where rate-limit counters live: memory:// (per worker) or redis://host:port (global)",
    )
    rate_limit_ipv6_prefix: int = _setting(
        64,
        "CLEARCOUNT_RATE_LIMIT_IPV6_PREFIX",
        "IPv6 clients share one rate-limit bucket per network of this prefix length (a /64 is "
        "one subscriber's, whose addresses rotate); IPv4 clients are keyed by their address",
    )
    workers: int = _setting(2, "CLEARCOUNT_WORKERS", "gunicorn worker processes")
    # A request waits for its group commit's fdatasync; the more requests a worker
    # holds at once, the more share each sync. On the 2-core benchmark machine 16
    # against 8 gives about 6 % more single events a second, and the bare endpoint
    # plus a durable append goes from 0.72x to 0.82x the bare endpoint alone.
    threads: int = _setting(16, "CLEARCOUNT_THREADS", "threads per gunicorn worker")
    header_timeout_s: float = _setting(
        5.0,
        "CLEARCOUNT_HEADER_TIMEOUT_S",
        "seconds a client has to send a request's headers (from connecting, or from going "
        "quiet on a kept-alive connection) before the connection is dropped",
    )
    body_timeout_s: float = _setting(
        10.0,
        "CLEARCOUNT_BODY_TIMEOUT_S",
        "seconds a client has to send a request's body after its headers before the "
        "connection is dropped",
    )
    pin_workers: bool = _setting(
        True,
        "CLEARCOUNT_PIN_WORKERS",
        "pin each gunicorn worker to one CPU, spreading workers over the CPUs (0 lets them float)",
        flag="--no-pin-workers",
    )
    warm_up: bool = _setting(
        True,
        "CLEARCOUNT_WARM_UP",
        "read the User-Agent rule files in gunicorn's master, once, before it forks the "
        "workers (0: each file on the first request that needs it, in each worker)",
        flag="--no-warm-up",
    )
    segment_max_bytes: int = _setting(
        4 * 1024 * 1024, "CLEARCOUNT_SEGMENT_MAX_BYTES", "spool segment size that triggers rotation"
    )
    segment_max_age_s: float = _setting(
        2.0, "CLEARCOUNT_SEGMENT_MAX_AGE_S", "seconds after which an open spool segment rotates"
    )
    spool_max_bytes: int = _setting(
        1024 * 1024 * 1024,
        "CLEARCOUNT_SPOOL_MAX_BYTES",
        "spool backlog above which the collector answers 503 until the loader catches up",
    )
    min_free_bytes: int = _setting(
        64 * 1024 * 1024,
        "CLEARCOUNT_MIN_FREE_BYTES",
        "free space the data directory's filesystem must keep: below it ingest answers 503 and "
        "/readyz reports not ready, so the loader still has room to write the lake",
    )
    load_interval_s: float = _setting(
        1.0,
        "CLEARCOUNT_LOAD_INTERVAL_S",
        "how often the loader started by serve looks for segments",
    )
    max_loader_lag_s: float = _setting(
        120.0,
        "CLEARCOUNT_MAX_LOADER_LAG_S",
        "/readyz answers 503 when the oldest closed segment waits longer than this",
    )
    dashboard_session_hours: int = _setting(
        12,
        "CLEARCOUNT_DASHBOARD_SESSION_HOURS",
        "hours a dashboard login lasts before the site's stats_token is asked for again",
    )
    forget_rate_limit: int = _setting(
        10,
        "CLEARCOUNT_FORGET_RATE_LIMIT",
        "erasure requests (POST /api/forget) per minute per client network, counted across "
        "every worker and collector sharing the keys, before it answers 429; 0 turns it off",
    )
    login_rate_limit: int = _setting(
        10,
        "CLEARCOUNT_LOGIN_RATE_LIMIT",
        "wrong dashboard tokens per minute per client network, counted across every worker "
        "and collector sharing the keys, before its logins answer 429; 0 turns it off",
    )
    reader_grace_s: float = _setting(
        30.0,
        "CLEARCOUNT_READER_GRACE_S",
        "seconds a file replaced by erasure, retention or compaction stays for queries that "
        "started before the change; an erasure completes about this long after its request",
    )
    backfill: bool = _setting(
        False,
        "CLEARCOUNT_BACKFILL",
        "take each event's time from its ts (within the last 400 days), for imports and demo data",
    )
    log_level: str = _setting("info", "CLEARCOUNT_LOG_LEVEL", "debug, info, warning or error")
    demo: bool = _setting(
        False, "CLEARCOUNT_DEMO", "serve the demo page at /demo (make run turns it on)"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``CLEARCOUNT_*`` variables, then explicit overrides (flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.default, raw, f.metadata["env"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def lake_location(self) -> Location:
        return Location.parse(self.lake, self.data_dir / "lake")

    @property
    def keys_location(self) -> Location:
        return Location.parse(self.keys, self.data_dir / "keys")

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "clearcount.duckdb"


def _coerce(default: Any, raw: str, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, Path):
            return Path(raw)
        return type(default)(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}: cannot read {raw!r} as {type(default).__name__}") from exc


def add_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """Add ``--flag`` options for the named settings; unset flags fall back to the environment."""
    by_name = {f.name: f for f in dataclasses.fields(Settings)}
    for name in names:
        f = by_name[name]
        flag = f.metadata["flag"] or "--" + name.replace("_", "-")
        help_text = f"{f.metadata['help']} (env {f.metadata['env']}, default {f.default})"
        if isinstance(f.default, bool):
            # A flag flips the default: --demo turns on, --no-pin-workers turns off.
            const = not f.default
            parser.add_argument(flag, dest=name, action="store_const", const=const, help=help_text)
        else:
            kind = Path if isinstance(f.default, Path) else type(f.default)
            parser.add_argument(flag, dest=name, type=kind, default=None, help=help_text)


def from_args(args: argparse.Namespace) -> Settings:
    names = {f.name for f in dataclasses.fields(Settings)}
    return Settings.from_env(**{k: v for k, v in vars(args).items() if k in names})


def documented_fields() -> list[tuple[str, str, str]]:
    """(flag, environment variable, help) for every setting, for docs and the README test."""
    out = []
    for f in dataclasses.fields(Settings):
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        out.append((flag, f.metadata["env"], f.metadata["help"]))
    return out


def to_env(settings: Settings) -> dict[str, str]:
    """The settings as ``CLEARCOUNT_*`` variables, for the processes serve starts."""
    out = {}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, Path):
            value = str(value.resolve())
        elif f.name in ("lake", "keys") and value:
            value = getattr(settings, f"{f.name}_location").uri
        out[f.metadata["env"]] = str(value)
    return out
