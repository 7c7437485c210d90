"""`ocr-stack`: run the stack locally (`up`) and operate a running one (`status`, `jobs`, `show`, `retry`)."""

from __future__ import annotations

import argparse
import sys

from services.common.errors import PipelineError
from services.common.job import JobState, Stage

from . import ops
from .client import CliConfig, CliError, SidecarClient
from .launcher import up

DEFAULT_JOBS_LIMIT = 50
DEFAULT_RETRY_WAIT_S = 10.0
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-stack", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="the sidecar (default $SIDECAR_URL, else http://127.0.0.1:$ORCHESTRATOR_PORT)")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="run the whole stack on $DATA_DIR (default ./data) until Ctrl-C")
    up_parser.add_argument("--no-samples", action="store_true", help="do not add sample documents on first run")
    up_parser.add_argument("--no-restart", action="store_true", help="do not restart a service that exits")
    sub.add_parser("status", help="one screen of what the sidecar knows: counts, liveness, latest errors")
    jobs = sub.add_parser("jobs", help="list jobs, newest first")
    jobs.add_argument("--state", choices=[s.value for s in JobState])
    jobs.add_argument("--stage", choices=[s.value for s in Stage])
    jobs.add_argument("--name", help="input file name contains this (ignoring case)")
    jobs.add_argument("--since", help="updated after this RFC 3339 time, e.g. 2026-11-29T07:40:12Z")
    jobs.add_argument("--limit", type=int, default=DEFAULT_JOBS_LIMIT, help=f"most jobs shown ({DEFAULT_JOBS_LIMIT})")
    jobs.add_argument("--json", action="store_true", help="one JSON object per line")
    show = sub.add_parser("show", help="one job: state, error, attempts, history")
    show.add_argument("key")
    show.add_argument("--json", action="store_true", help="the state.json as the sidecar serves it")
    retry = sub.add_parser("retry", help="run failed (ERROR) jobs again, keeping their history and name")
    retry.add_argument("keys", nargs="*", metavar="KEY")
    retry.add_argument("--failed", action="store_true", help="every job in ERROR")
    retry.add_argument("--type", dest="error_type", help="with --failed: only jobs whose error.type is this")
    retry.add_argument("--wait", type=float, default=DEFAULT_RETRY_WAIT_S, help="seconds to wait for the orchestrator")
    return parser


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "up":
        return up(no_samples=args.no_samples, no_restart=args.no_restart)
    config = CliConfig.from_env()
    if args.url:
        config = CliConfig(config.paths, args.url.rstrip("/"), config.token)
    client = SidecarClient(config)
    if args.command == "status":
        return ops.status(client)
    if args.command == "jobs":
        names = ("state", "stage", "name", "since")
        filters = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
        return ops.jobs(client, filters, max(1, args.limit), args.json)
    if args.command == "show":
        return ops.show(client, args.key, args.json)
    if bool(args.keys) == args.failed or (args.error_type and not args.failed):
        parser.error("retry takes KEY... or --failed [--type T]")
    return ops.retry(client, ops.retry_targets(client, args.keys, args.failed, args.error_type), args.wait)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code = run(args, parser)
    except (CliError, PipelineError, OSError) as e:
        print(f"ocr-stack: {e}", file=sys.stderr)
        code = EXIT_USAGE
    sys.exit(code)
