"""Exceptions raised by the Weft SDK."""

from typing import Any, Dict, List, Optional

__all__ = [
    "WeftError",
    "BlockError",
    "APIError",
    "TransportError",
    "ValidationError",
    "Problem",
    "LeaseConflict",
    "NotFound",
]


class WeftError(Exception):
    """Base class of every error the SDK raises."""


class BlockError(WeftError):
    """Raise inside a block handler to fail the step with a clear message.

    ``retryable=False`` (the default) tells the engine not to try again;
    ``retryable=True`` lets the block's retry policy decide. ``type`` is a
    short machine-readable kind recorded with the error.
    """

    def __init__(self, message: str, retryable: bool = False, type: str = "block_error") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.type = type


class Problem:
    """One validation problem: a JSON pointer and a plain message."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __repr__(self) -> str:
        return "Problem(%r, %r)" % (self.path, self.message)

    def __str__(self) -> str:
        return "%s: %s" % (self.path or "/", self.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.path, self.message) == (other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class ValidationError(WeftError):
    """A blueprint or block definition is invalid; ``problems`` lists every problem."""

    def __init__(self, problems: List[Problem], what: str = "blueprint") -> None:
        self.problems = list(problems)
        lines = ["%s is invalid (%d problem%s):" % (what, len(self.problems), "" if len(self.problems) == 1 else "s")]
        lines += ["  " + str(p) for p in self.problems]
        super().__init__("\n".join(lines))


class TransportError(WeftError):
    """The server could not be reached (after retries)."""


class APIError(WeftError):
    """The server answered with an error.

    ``status`` is the HTTP status, ``code``/``message``/``details`` come from
    the server's ``{"error": {...}}`` body.
    """

    def __init__(self, status: int, code: str, message: str, details: Optional[List[Dict[str, Any]]] = None,
                 method: str = "", url: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])
        self.method = method
        self.url = url
        text = "%s %s: %d %s: %s" % (method, url, status, code, message) if method else "%d %s: %s" % (status, code, message)
        for d in self.details:
            if isinstance(d, dict):
                text += "\n  %s: %s" % (d.get("path", ""), d.get("message", ""))
        super().__init__(text)

    @property
    def problems(self) -> List[Problem]:
        """The details as validation problems."""
        return [Problem(str(d.get("path", "")), str(d.get("message", ""))) for d in self.details if isinstance(d, dict)]


class NotFound(APIError):
    """404: the run, flow or block does not exist."""


class LeaseConflict(APIError):
    """409 lease_conflict: a report on a lease that is no longer current."""
