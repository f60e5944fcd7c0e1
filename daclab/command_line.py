"""What every ``daclab`` sub-command shares: a user's mistake is one line on stderr and exit code
2, never a traceback. Light on imports, so that quick commands (``daclab runs``) start quickly."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in the command or its files; the message is the one line the user sees."""


class ParserExit(Exception):
    """argparse finished on its own (``--help``); ``status`` is the exit code it wanted."""

    def __init__(self, status: int):
        self.status = status


class CommandParser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line and never calls sys.exit."""

    def error(self, message: str):
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            print(message, file=sys.stderr, end="")
        raise ParserExit(status)
