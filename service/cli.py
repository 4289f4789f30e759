"""The ``clearcount`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from service import interrupt, logs
from service.settings import Settings, add_arguments, from_args
from service.sites import Site, load_sites

COMMON = ("data_dir", "lake", "keys", "sites", "log_level")
# A collector started by `clearcount demo` may take a while to boot on a busy machine,
# and its drain on stop loads everything it acknowledged.
DEMO_READY_DEADLINE_S = 120.0
DEMO_STOP_GRACE_S = 180.0


def _site(settings: Settings, site_id: str) -> Site | None:
    """The configured site, or None after saying on stderr that it does not exist."""
    site = load_sites(settings.sites).get(site_id)
    if site is None:
        print(f"no site {site_id!r} in {settings.sites}", file=sys.stderr)
    return site


def _today(args: argparse.Namespace) -> dt.date:
    """``--today`` when given (to measure from another date), else today in UTC."""
    return dt.date.fromisoformat(args.today) if args.today else dt.datetime.now(dt.UTC).date()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from service.serve import serve

    return serve(settings)


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.lake.load import follow, load_once
    from pipelines.lake.tables import ensure_views

    if not args.follow:
        from pipelines.rights import audit

        stats = load_once(settings.data_dir)
        audit.record(
            settings.data_dir,
            "load",
            actor="cli",
            segments=stats.segments,
            rows=dict(stats.rows),
            erasures=len(stats.erasures),
        )
        ensure_views(settings.data_dir)
        print(
            f"loaded {stats.segments} segment(s): "
            + ", ".join(f"{n} {table}" for table, n in sorted(stats.rows.items()))
            if stats.segments
            else "nothing to load"
        )
        return 1 if stats.bad_lines else 0
    stop = threading.Event()
    if args.supervised:
        # Started by `clearcount serve`: a Ctrl-C or SIGTERM sent to the whole group is the
        # supervisor's to act on. It stops the collector first, so that the workers hand
        # over their last segments, and then closes our standard input.
        interrupt.ignore_stop_signals()  # already so from its start; said again for clarity
        threading.Thread(target=_stop_at_end_of_input, args=(stop,), daemon=True).start()
    else:

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    follow(settings.data_dir, settings.load_interval_s, stop, settings.sites)
    return 0


def _stop_at_end_of_input(stop: threading.Event) -> None:
    """Set ``stop`` once standard input closes: the supervisor closed it, or died."""
    while sys.stdin.buffer.read(4096):
        pass
    stop.set()


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    """Accept an erasure like /api/forget does, then complete it at once."""

    from pipelines.lake.load import load_once
    from pipelines.rights import audit
    from pipelines.rights.erasure import request_erasure
    from service.privacy.keys import KeyStore
    from service.privacy.pseudonym import hmac64

    site = _site(settings, args.site)
    if site is None:
        return 2
    keys = KeyStore(settings.keys_location)
    column, identifier = (
        ("user_key", args.user_id) if args.user_id else ("visitor_key", args.visitor_id)
    )
    key = hmac64(keys.site_secret(site.id), identifier)
    request_erasure(
        keys,
        site.id,
        column,
        key,
        block_days=site.erasure_block_days,
        now=dt.datetime.now(dt.UTC),
    )
    audit.record(settings.data_dir, "erasure_requested", actor="cli", site=site.id, column=column)
    stats = load_once(settings.data_dir)
    for receipt in stats.erasures:
        removed = sum(receipt["rows_removed"].values())
        print(
            f"erasure {receipt['request_id']}: {removed} row(s) removed "
            f"from {receipt['partitions_rewritten']} partition(s)"
        )
    if not stats.erasures:
        print("erasure completed by another collector's loader")
    return 0


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.lake.commit import vacuum_all
    from pipelines.lake.tables import ensure_tables
    from pipelines.rights.retention import apply_retention

    today = _today(args)
    lake = ensure_tables(settings.data_dir)
    report = apply_retention(settings.data_dir, lake, load_sites(settings.sites), today)
    vacuum_all(lake)
    for site, counts in report.items():
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to do"
        print(f"{site}: {summary}")
    return 0


def cmd_compact(settings: Settings, args: argparse.Namespace) -> int:
    """Merge small files per partition in one Delta commit per table, then vacuum: files
    replaced longer than the readers' grace ago go now, the rest on a later vacuum."""
    from pipelines.lake.commit import vacuum_all
    from pipelines.lake.compact import compact, record
    from pipelines.lake.tables import ensure_tables

    if args.site and _site(settings, args.site) is None:
        return 2
    lake = ensure_tables(settings.data_dir)
    counts = compact(lake, args.site)
    vacuum_all(lake)
    record(settings.data_dir, counts, actor="cli")
    print(
        f"compacted {counts['partitions']} partition(s): {counts['files_merged']} file(s) "
        f"into {counts['files_written']}, every row unchanged"
        if counts
        else "nothing to compact"
    )
    return 0


def cmd_migrate_lake(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.lake.migrate import (
        MigrationError,
        confirm,
        migrate,
        move_erasure_queue,
        undo,
    )
    from service.privacy.keys import KeyStore

    location = settings.lake_location
    if location.path is None:
        print("migrate-lake converts a lake on local disk", file=sys.stderr)
        return 2
    try:
        if args.confirm:
            print(confirm(location.path))
        elif args.undo:
            print(undo(location.path))
        else:
            moved = move_erasure_queue(settings.data_dir, KeyStore(settings.keys_location).objects)
            if moved:
                print(
                    f"moved {moved} erasure request(s) and tombstone(s) to {settings.keys_location}"
                )
            try:
                print(migrate(location.path))
            except MigrationError:
                if not moved:
                    raise
    except MigrationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def cmd_rotate_salts(settings: Settings, args: argparse.Namespace) -> int:

    from pipelines.rights import audit
    from service.privacy.keys import KeyStore, fingerprint

    today = _today(args)
    keys = KeyStore(settings.keys_location)
    salt = keys.daily_salt(today)
    destroyed = keys.destroy_expired_salts(today)
    audit.record(
        settings.data_dir,
        "rotate_salts",
        actor="cli",
        salt=fingerprint(salt),
        destroyed=[d.isoformat() for d in destroyed],
    )
    print(f"salt of {today} is {fingerprint(salt)}; destroyed {len(destroyed)} expired salt(s)")
    return 0


def cmd_inventory(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.lake.tables import ensure_views
    from pipelines.rights.inventory import render

    if not settings.duckdb_path.exists():
        ensure_views(settings.data_dir)
    print(render(settings.data_dir, load_sites(settings.sites)))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Send demo traffic to --url, or to a collector started for the purpose."""
    import dataclasses

    from pipelines.analysis.demo import run_demo
    from service.demo_sites import ensure_sites_file
    from service.readiness import address_in_use, start_server, stop_group
    from service.serve import prepare

    ensure_sites_file(settings.sites, settings.bind)
    sites = load_sites(settings.sites)
    now = dt.datetime.now(dt.UTC)
    if args.url:
        plan = run_demo(
            args.url, sites, events=args.events, days=args.days, seed=args.seed, now=now
        )
    else:
        own = dataclasses.replace(settings, backfill=True, trusted_proxies=1, rate_limit=0)
        base = f"http://{own.bind}"
        if address_in_use(own.bind):
            print(
                f"{own.bind} is in use (is `make run` still running?): stop it, pass --bind "
                "with a free address, or --url to send to the running collector",
                file=sys.stderr,
            )
            return 2
        server = start_server(
            [sys.executable, "-m", "service.cli", "serve"],
            ready_url=base + "/healthz",
            deadline_s=DEMO_READY_DEADLINE_S,
            env=prepare(own),
        )
        try:
            plan = run_demo(
                base, sites, events=args.events, days=args.days, seed=args.seed, now=now
            )
        finally:
            # SIGTERM: serve drains the spool into the lake before it exits.
            stop_group(server, grace_s=DEMO_STOP_GRACE_S)
    sent = sum(plan.events.values())
    print(
        f"sent {sent} events in {plan.requests['event']} requests, "
        f"{plan.requests['/api/pixel.gif']} pixel opens, {plan.requests['/r']} redirect clicks"
    )
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipelines.analysis.report import build_report
    from pipelines.lake.tables import ensure_views
    from pipelines.rights import audit

    site = _site(settings, args.site)
    if site is None:
        return 2
    date_from, date_to = dt.date.fromisoformat(args.date_from), dt.date.fromisoformat(args.date_to)
    if not settings.duckdb_path.exists():
        ensure_views(settings.data_dir)
    tables = build_report(
        settings.data_dir,
        site,
        date_from,
        date_to,
        Path(args.out),
        epsilon=args.epsilon,
        engine=args.engine,
        spark_master=args.spark_master,
    )
    audit.record(
        settings.data_dir,
        "report",
        actor="cli",
        site=site.id,
        tables=len(tables),
        date_from=args.date_from,
        date_to=args.date_to,
    )
    print(f"wrote {len(tables)} tables and report.html to {args.out}")
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
            "public_url",
            "trusted_proxies",
            "rate_limit",
            "rate_limit_storage",
            "rate_limit_ipv6_prefix",
            "workers",
            "threads",
            "header_timeout_s",
            "body_timeout_s",
            "pin_workers",
            "warm_up",
            "segment_max_bytes",
            "segment_max_age_s",
            "spool_max_bytes",
            "min_free_bytes",
            "load_interval_s",
            "max_loader_lag_s",
            "dashboard_session_hours",
            "forget_rate_limit",
            "login_rate_limit",
            "reader_grace_s",
            "demo",
            "backfill",
        ),
    )
    serve.set_defaults(func=cmd_serve)

    load = sub.add_parser("load", help="drain the spool into the lake once")
    add_arguments(load, (*COMMON, "load_interval_s", "reader_grace_s"))
    load.add_argument("--follow", action="store_true", help="keep loading until stopped")
    # `clearcount serve`'s own loader: stops when its standard input closes, not on signals.
    load.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    load.set_defaults(func=cmd_load)

    erase = sub.add_parser("erase", help="erase one visitor's or user's rows everywhere")
    add_arguments(erase, (*COMMON, "reader_grace_s"))
    erase.add_argument("--site", required=True, help="the site id")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--visitor-id", help="the beacon's visitor_id (granted consent)")
    who.add_argument("--user-id", help="the site's own signed-in user id")
    erase.set_defaults(func=cmd_erase)

    retention = sub.add_parser("retention", help="apply retention_days and pseudonym_days")
    add_arguments(retention, (*COMMON, "reader_grace_s"))
    retention.add_argument("--today", help="the date to measure ages from (default: today, UTC)")
    retention.set_defaults(func=cmd_retention)

    migrate = sub.add_parser(
        "migrate-lake", help="convert a Parquet lake of an earlier version to Delta tables"
    )
    add_arguments(migrate, COMMON)
    step = migrate.add_mutually_exclusive_group()
    step.add_argument(
        "--confirm", action="store_true", help="delete what undoing the conversion would need"
    )
    step.add_argument("--undo", action="store_true", help="put the Parquet lake back as it was")
    migrate.set_defaults(func=cmd_migrate_lake)

    compact = sub.add_parser("compact", help="merge each partition's small files")
    add_arguments(compact, (*COMMON, "reader_grace_s"))
    compact.add_argument("--site", help="only this site (default: every site)")
    compact.set_defaults(func=cmd_compact)

    rotate = sub.add_parser("rotate-salts", help="create today's salt, destroy expired ones")
    add_arguments(rotate, COMMON)
    rotate.add_argument("--today", help="the date to rotate for (default: today, UTC)")
    rotate.set_defaults(func=cmd_rotate_salts)

    inventory = sub.add_parser(
        "inventory", help="print which personal data exists, where, how long"
    )
    add_arguments(inventory, COMMON)
    inventory.set_defaults(func=cmd_inventory)

    demo = sub.add_parser("demo", help="send realistic synthetic traffic through the HTTP API")
    add_arguments(demo, (*COMMON, "bind"))
    demo.add_argument(
        "--url",
        help="a running collector (started with --backfill --trusted-proxies 1); "
        "default: start one on --bind for the run",
    )
    demo.add_argument("--events", type=int, default=5000, help="how many events to send")
    demo.add_argument("--days", type=int, default=7, help="spread the events over this many days")
    demo.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed, the same traffic"
    )
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="aggregate report: CSV, Parquet and HTML, k-suppressed")
    add_arguments(report, COMMON)
    report.add_argument("--site", required=True)
    report.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="date_to", required=True, help="last day, YYYY-MM-DD")
    report.add_argument("--out", required=True, help="directory for the tables and report.html")
    report.add_argument(
        "--epsilon", type=float, help="add differential-privacy noise, epsilon per published count"
    )
    report.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="run the aggregates on DuckDB (default) or PySpark",
    )
    report.add_argument(
        "--spark-master",
        default="local[2]",
        help="with --engine spark: local[N] here, or a cluster URL",
    )
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = from_args(args)
    # Lake writers read these from the environment, wherever they run.
    os.environ["CLEARCOUNT_READER_GRACE_S"] = str(settings.reader_grace_s)
    os.environ["CLEARCOUNT_LAKE"] = settings.lake_location.uri
    os.environ["CLEARCOUNT_KEYS"] = settings.keys_location.uri
    logs.configure(settings.log_level)
    func: Command = args.func
    from pipelines.lake.load import LoadError
    from pipelines.lake.tables import LakeError
    from service.extras import MissingExtra
    from service.serve import StartError

    try:
        return func(settings, args)
    except (LakeError, LoadError, StartError, MissingExtra) as exc:
        print(f"clearcount: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
