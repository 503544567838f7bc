"""The ``ordersync`` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from streams import logs
from streams.errors import OrdersyncError
from streams.settings import Settings


def _stack(settings: Settings, action: str) -> int:
    from streams.local.stack import Stack
    from streams.topics import ensure_topics

    stack = Stack(settings)
    if action == "up":
        stack.up()
        created = ensure_topics(settings)
        if created:
            print(f"created topics: {', '.join(sorted(created))}")
    elif action == "down":
        stack.down()
    for status in stack.status():
        state = f"running (pid {status.pid})" if status.running else "stopped"
        print(f"{status.name:<9} {state:<22} {status.address}")
    return 0


def _integrations(settings: Settings, args: argparse.Namespace) -> int:
    from streams.ops.client import http_json
    from streams.ops.integrations import apply_configs, load_configs

    if args.action == "apply":
        count = apply_configs(settings, load_configs(Path(args.file), settings.allowed_networks))
        print(f"applied {count} integration(s) to {settings.topic('integrations.config')}")
        return 0
    if settings.client_token is None:
        print("ordersync: set ORDERSYNC_CLIENT_TOKEN to a token of the worker API", file=sys.stderr)
        return 2
    configs = http_json(
        f"http://127.0.0.1:{settings.worker_port}/api/integrations",
        token=settings.client_token.reveal(),
    )
    if args.json:
        print(json.dumps(configs, indent=2))
        return 0
    print(
        f"{'integration':<24} {'tenant':<12} {'platform':<12} {'on':<3} {'upd':<4} {'canc':<5} {'deliv':<6} fulfillment"
    )
    for c in configs:
        print(
            f"{c['integration_id']:<24} {c['tenant']:<12} {c['platform']:<12} "
            f"{'y' if c['enabled'] else 'n':<3} {'y' if c['send_order_updates'] else 'n':<4} "
            f"{'y' if c['send_cancellations'] else 'n':<5} {'y' if c['send_delivery_info'] else 'n':<6} "
            f"{'y' if c['fulfillment_mode'] else 'n'}"
        )
    return 0


def _resend(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from streams.ops.client import http_json

    body = {
        "event_ids": args.event_ids,
        "order": args.order,
        "integration": args.integration,
        "tenant": args.tenant,
        "outcomes": args.outcomes,
        "reason": args.reason,
        "since": args.since,
        "until": args.until,
        "limit": args.limit,
        "dry_run": args.dry_run,
        "force": args.force,
        "operator": getpass.getuser(),
    }
    if settings.client_token is None:
        print(
            "ordersync: set ORDERSYNC_CLIENT_TOKEN to an operator token of the history API",
            file=sys.stderr,
        )
        return 1
    report = http_json(
        f"http://127.0.0.1:{settings.history_port}/api/resend",
        body,
        timeout=120,
        token=settings.client_token.reveal(),
    )
    verb = "would resend" if report["dry_run"] else "resent"
    print(f"{verb} {report['resent']} of {report['selected']} selected event(s)")
    for event_id in report["event_ids"]:
        print(f"  {event_id}")
    if report.get("pending"):
        print(f"{len(report['pending'])} already resent, waiting for their outcome: not sent again")
    if report["missing"]:
        print(
            f"{len(report['missing'])} original(s) no longer in Kafka: {', '.join(report['missing'])}"
        )
    return 0 if not report["missing"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ordersync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="local Kafka and schema registry")
    stack.add_argument("action", choices=["up", "down", "status"])

    integrations = sub.add_parser("integrations", help="integration configs")
    isub = integrations.add_subparsers(dest="action", required=True)
    apply = isub.add_parser("apply", help="publish configs from a YAML or JSON file")
    apply.add_argument("file")
    listing = isub.add_parser("list", help="show what the running worker holds")
    listing.add_argument("--json", action="store_true")

    publish = sub.add_parser("publish", help="validate and publish order events (JSON Lines)")
    publish.add_argument("file", help="a .jsonl file, or - for standard input")
    mode = publish.add_mutually_exclusive_group()
    mode.add_argument(
        "--strict",
        dest="strict",
        action="store_true",
        default=True,
        help="publish nothing if any line is invalid (default)",
    )
    mode.add_argument(
        "--skip-invalid",
        dest="strict",
        action="store_false",
        help="publish the valid lines and list the invalid ones",
    )

    resend = sub.add_parser(
        "resend", help="resend events (by default: open errors) through the history process"
    )
    resend.add_argument("--event-id", action="append", default=[], dest="event_ids")
    resend.add_argument("--order", help="platform order id")
    resend.add_argument("--integration")
    resend.add_argument("--tenant")
    resend.add_argument(
        "--outcome",
        action="append",
        default=[],
        dest="outcomes",
        help="latest outcome to select (default: DEAD_LETTERED, INVALID)",
    )
    resend.add_argument("--reason", help="reason code of the latest outcome")
    resend.add_argument("--since", help="ISO-8601 date-time")
    resend.add_argument("--until", help="ISO-8601 date-time")
    resend.add_argument("--limit", type=int, default=1000)
    resend.add_argument("--dry-run", action="store_true", help="list what would be resent")
    resend.add_argument(
        "--force",
        action="store_true",
        help="send even if a newer update of the same kind was delivered",
    )

    dlt = sub.add_parser("dlt", help="the dead-letter topic")
    dsub = dlt.add_subparsers(dest="action", required=True)
    replay = dsub.add_parser("replay", help="republish dead-lettered events onto orders.events")
    replay.add_argument("--integration")
    replay.add_argument("--tenant")
    replay.add_argument("--reason", help="reason code in the dead letter's headers")
    replay.add_argument("--since", help="ISO-8601: last failure at or after")
    replay.add_argument("--until", help="ISO-8601: last failure before")
    replay.add_argument("--limit", type=int)
    replay.add_argument("--dry-run", action="store_true")

    sub.add_parser("worker", help="run a dispatch worker")
    sub.add_parser("history", help="run the history sink and the report API")
    sub.add_parser("sandbox", help="run the sandbox platform server")
    sub.add_parser("demo", help="run the whole product on this machine (make demo)")
    sub.add_parser("topics", help="create the topics ordersync needs")
    sub.add_parser("reasons", help="print the reason codes as a Markdown table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        logs.quiet_libraries()
        return _dispatch(settings, args)
    except OrdersyncError as exc:
        print(f"ordersync: {exc}", file=sys.stderr)
        return 1


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    match args.command:
        case "stack":
            return _stack(settings, args.action)
        case "integrations":
            return _integrations(settings, args)
        case "publish":
            from streams.ops.publish import main_publish

            return main_publish(settings, args.file, args.strict)
        case "resend":
            return _resend(settings, args)
        case "dlt":
            from streams.ops.dlt import main_replay

            return main_replay(settings, args)
        case "worker":
            from streams.faust_app import run
            from streams.worker.app import build_worker, hand_over_the_interpreter_often

            hand_over_the_interpreter_often()
            run(build_worker(settings), settings)
            return 0
        case "history":
            from streams.faust_app import run
            from streams.history.app import build_history

            run(build_history(settings), settings)
            return 0
        case "sandbox":
            from streams.local import serve_sandbox

            serve_sandbox(settings)
            return 0
        case "demo":
            from streams.local.demo import main as demo_main

            return demo_main(settings)
        case "topics":
            from streams.topics import ensure_topics

            print("\n".join(ensure_topics(settings)) or "all topics exist")
            return 0
        case "reasons":
            from streams.reasons import markdown_table

            print(markdown_table())
            return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
