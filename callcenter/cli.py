"""The `callcenter` command line (CONTRACTS.md). Each subcommand lives in
`callcenter.commands.<name>` and is imported only when used (`commands.runner`), so `--help` is fast
and a broken optional part never stops the others."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from callcenter.bench import NAMES as BENCHMARKS
from callcenter.commands import runner
from callcenter.settings import SettingsError, load_settings


def _ami_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ami-host", help="AMI host (default: settings)")
    p.add_argument("--ami-port", type=int, help="AMI port (default: settings)")
    p.add_argument("--ami-user", help="AMI username (default: settings)")
    p.add_argument("--ami-secret", help="AMI secret (default: settings)")


def _rule_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rings", type=int, default=None, help="rings allowed before a violation (3)")
    p.add_argument(
        "--ring-cycle", type=float, default=None, help="seconds per ring cycle (5 for China)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter",
        description="Call-center service: Asterisk AMI/FastAGI, agent console, CRM core.",
    )
    parser.add_argument("--config", help="TOML settings file (also CALLCENTER_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="the whole product on one machine (SQLite + simulator)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--agi-port", type=int, help="FastAGI port (default: settings, 4573; 0: any free port)"
    )
    p.add_argument("--database", help="demo database file (default: var/demo.db)")
    p.add_argument(
        "--database-url",
        help="a database URL instead of the file, e.g. an empty PostgreSQL schema (tests)",
    )
    p.add_argument("--calls-per-minute", type=float, default=6.0, help="simulated inbound traffic")

    p = sub.add_parser("serve", help="production service; settings from CALLCENTER_* / --config")

    p = sub.add_parser("migrate", help="create/upgrade the CRM core schema (Alembic)")
    p.add_argument("--database-url", help="override CALLCENTER_DATABASE_URL")
    p.add_argument("--revision", default="head")

    p = sub.add_parser("user", help="manage users")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["agent", "lead", "manager", "admin"])
    add.add_argument("--team")
    add.add_argument("--interface", help="phone interface, e.g. Local/1001@agents/n")
    add.add_argument("--member-name", help="queue MemberName (default: the display name)")
    add.add_argument("--display-name")
    add.add_argument("--queues", help="comma-separated queue skills")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    p = sub.add_parser("replay", help="replay a recorded AMI session, print finished calls as JSON")
    p.add_argument("file")
    _rule_options(p)

    p = sub.add_parser("watch", help="print finished calls from a live AMI as JSON lines")
    _ami_options(p)
    _rule_options(p)

    p = sub.add_parser("tail", help="print an agent's live console messages as JSON lines")
    p.add_argument("--url", required=True, help="the console's base URL, e.g. http://host:8080/")
    p.add_argument("--user", required=True, help="the login whose live messages to print")
    p.add_argument(
        "--password-env",
        metavar="VAR",
        help="environment variable holding the password (default: ask, or read stdin)",
    )

    p = sub.add_parser("sim", help="run the PBX simulator alone")
    p.add_argument("--ami-port", type=int, default=5038)
    p.add_argument("--control-port", type=int, default=8081)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--agi-url", help="FastAGI server the simulated calls pass through")
    p.add_argument("--calls-per-minute", type=float, default=0.0)
    p.add_argument(
        "--prompts",
        help="sounds directory (as pbx-config installs it): a prompt missing there ends "
        "the AGI session, as on Asterisk (default: every prompt exists)",
    )

    p = sub.add_parser("pbx-config", help="render the Asterisk configuration the service expects")
    p.add_argument("--out", required=True, help="directory to write (etc/, sounds/, data/ …)")
    p.add_argument("--phones", choices=["pjsip", "local"], default="pjsip")
    p.add_argument("--ami-host", default="127.0.0.1", help="address AMI binds to")
    p.add_argument("--ami-port", type=int, help="AMI port (default: settings ami_port)")
    p.add_argument("--agi-host", help="FastAGI host the dialplan calls (default: settings)")
    p.add_argument("--agi-port", type=int, help="FastAGI port (default: settings agi_port)")
    p.add_argument("--root", help="where DIR is mounted on the PBX's host (default: DIR)")

    p = sub.add_parser("bench", help="run a benchmark; last line is one JSON object")
    p.add_argument(
        "name",
        choices=BENCHMARKS,
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.add_argument("--database-url", help="PostgreSQL URL for database benchmarks")
    # bench cluster's own sizes, for tests and experiments (not part of the contract)
    p.add_argument("--consoles", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    p.add_argument("--calls-per-second", type=float, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_file=args.config)
    except SettingsError as exc:
        print(f"callcenter: invalid settings: {exc}", file=sys.stderr)
        return 2
    run = runner(args.command)
    try:
        code = run(args, settings)
    except SettingsError as exc:
        print(f"callcenter: invalid settings: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
