"""The ``clearcount`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from service import logs
from service.settings import Settings, add_arguments, from_args

COMMON = ("data_dir", "sites", "log_level")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from service.serve import serve

    return serve(settings)


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.lake import ensure_views
    from pipelines.load import follow, load_once

    if not args.follow:
        stats = load_once(settings.data_dir)
        ensure_views(settings.data_dir)
        print(
            f"loaded {stats.segments} segment(s): "
            + ", ".join(f"{n} {table}" for table, n in sorted(stats.rows.items()))
            if stats.segments
            else "nothing to load"
        )
        return 1 if stats.bad_lines else 0
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    follow(settings.data_dir, settings.load_interval_s, stop)
    return 0


Command = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clearcount", description="Consent-respecting first-party web analytics."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="collector (gunicorn) and loader, with embedded storage")
    add_arguments(
        serve,
        (
            *COMMON,
            "bind",
            "trusted_proxies",
            "rate_limit",
            "rate_limit_storage",
            "workers",
            "threads",
            "segment_max_bytes",
            "segment_max_age_s",
            "spool_max_bytes",
            "load_interval_s",
            "max_loader_lag_s",
            "demo",
        ),
    )
    serve.set_defaults(func=cmd_serve)

    load = sub.add_parser("load", help="drain the spool into the lake once")
    add_arguments(load, (*COMMON, "load_interval_s"))
    load.add_argument("--follow", action="store_true", help="keep loading until stopped")
    load.set_defaults(func=cmd_load)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = from_args(args)
    logs.configure(settings.log_level)
    func: Command = args.func
    return func(settings, args)


if __name__ == "__main__":
    sys.exit(main())
