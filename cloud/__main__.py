"""`batchmeter-cloud <subcommand>`: the cloud side's one command line.

Each subcommand lives in its own module, which provides `HELP: str`,
`configure(parser: argparse.ArgumentParser) -> None` and `execute(args) -> int`.
Registering one is a one-line addition to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from config.loader import ConfigError

SUBCOMMANDS: list[tuple[str, str]] = [
    ("run", "cloud.run"),
    ("gaps", "cloud.gaps"),
    ("report", "cloud.cli_report"), ("attribute", "cloud.cli_attribute"),
    ("serve", "cloud.cli_serve"), ("settle", "cloud.cli_settle"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchmeter-cloud", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(execute=module.execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.execute(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
