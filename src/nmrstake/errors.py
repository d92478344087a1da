"""Errors of the nmrstake package.

Every error the package raises on purpose is an :class:`NmrstakeError` whose message is one line
meant for the user (the CLI prints it as is, without a traceback). Subclasses say whose fault it is:

* :class:`InputError`: a bad file or argument. The message names the file, the row or the argument.
* :class:`ChainError`: the chain refused, reverted or disagrees with what we expected.
* :class:`ConfigError`: missing or inconsistent configuration (accounts, networks, deployments).
* :class:`RequestError`: the tournament service refused a request; carries the HTTP status and a
  short problem type (RFC 9457), and the field it is about.
"""

from __future__ import annotations

__all__ = ["NmrstakeError", "InputError", "ChainError", "UnknownRoundError", "ConfigError", "RequestError"]


class NmrstakeError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    #: Process exit status a command-line front end may use for this kind of error.
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        # One line: collapse any whitespace run containing a newline into a single space.
        self.message: str = " ".join(str(message).split()) if "\n" in str(message) else str(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class InputError(NmrstakeError):
    """A bad file or argument; the message names the file, the row or the argument."""

    exit_code = 2


class ChainError(NmrstakeError):
    """The chain refused a transaction or holds something other than what we expected."""

    exit_code = 3


class UnknownRoundError(ChainError):
    """The round has never been opened on this deployment."""


class ConfigError(NmrstakeError):
    """Missing or inconsistent configuration (accounts, networks, deployments, directories)."""

    exit_code = 4


class RequestError(NmrstakeError):
    """A request the tournament service refuses (or refused, seen from a client): ``status`` is the
    HTTP status, ``kind`` a short problem type (``bad-signature``, ``round-closed``, ...),
    ``field`` the request field it is about, if any. Nothing was stored or changed."""

    exit_code = 2

    def __init__(self, status: int, kind: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.field = field
