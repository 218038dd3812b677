"""polylens command line: a thin binding of the job configs in ``polylens.pipelines``.

Every option is a field of a job's config; ``--config FILE.toml`` gives the same fields from a
file (its ``[command]`` table or top-level keys); flags given explicitly override the file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import NoReturn

from polylens.errors import ConfigError, ToolkitError
from polylens.pipelines import COMMANDS, GROUPS
from polylens.pipelines.config import add_arguments, from_args, load_config_file


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one-line ConfigErrors (caught in :func:`main`)."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage and exiting."""
        raise ConfigError(message)


class StdoutHandler(logging.Handler):
    """Print pipeline progress messages to the current ``sys.stdout``, flushed."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print one message."""
        print(self.format(record), flush=True)


def _doc(cls: type) -> str:
    """The first line of a config class docstring: its command's help."""
    return (cls.__doc__ or "").strip().splitlines()[0]


def build_parser() -> argparse.ArgumentParser:
    """The parser: one sub-command per entry of ``COMMANDS``, one option per config field."""
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    subs = {"": parser.add_subparsers(dest="command", required=True, metavar="COMMAND")}
    for path, (cls, _, _) in COMMANDS.items():
        *group, name = path.split()
        for depth in range(1, len(group) + 1):
            key = " ".join(group[:depth])
            if key not in subs:
                parent = subs[" ".join(group[: depth - 1])]
                p = parent.add_parser(group[depth - 1], help=GROUPS[key], description=GROUPS[key])
                subs[key] = p.add_subparsers(dest=f"{key}_command", required=True, metavar="COMMAND")
        p = subs[" ".join(group)].add_parser(name, help=_doc(cls), description=cls.__doc__)
        p.add_argument(
            "--config", type=Path, default=None, metavar="FILE.toml", help="read options from a TOML file"
        )
        add_arguments(p, cls)
        p.set_defaults(command_path=path)
    return parser


def execute(argv: list[str] | None) -> int:
    """Parse, resolve the config, run the job, print its summary; returns the exit status."""
    args = build_parser().parse_args(argv)
    cls, run, summary = COMMANDS[args.command_path]
    file_values = load_config_file(args.config, args.command_path) if args.config else {}
    result = run(from_args(cls, args, file_values))
    text = summary(result)
    if text:
        print(text)
    if getattr(result, "error", None):
        raise result.error
    return int(getattr(result, "exit_code", 0))


def main(argv: list[str] | None = None) -> int:
    """Entry point (``polylens`` / ``python cli.py``): user errors are one line on stderr, exit 2."""
    log = logging.getLogger("polylens.pipelines")
    if not any(isinstance(h, StdoutHandler) for h in log.handlers):
        log.addHandler(StdoutHandler())
        log.setLevel(logging.INFO)
    argv = sys.argv[1:] if argv is None else argv
    try:
        return execute(argv)
    except ToolkitError as exc:
        if "--debug" in argv:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
