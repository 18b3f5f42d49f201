"""Step logs: what a handler logs and prints, shipped to the server.

While a task runs, its thread is bound to a :class:`TaskLog`. A logging
handler on the root logger (and on ``weft``, whose records may not
propagate) and a wrapper around ``sys.stdout``/``sys.stderr`` add what that
thread logs or prints to the bound TaskLog; other threads are not touched
(a handler's own threads are not captured). Lines are sent in batches to
``POST /api/v1/tasks/{id}/logs`` under the task's lease: by the worker's
heartbeat thread about every second, by the task's thread when the batch is
full, and a last time before the task's report. The buffer is bounded; a
line that does not fit is counted and reported as dropped. Shipping never
fails a task: errors are logged to ``weft.worker`` (outside any capture)
and the lines are dropped.
"""

import datetime
import logging
import sys
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional

from .errors import APIError, LeaseConflict, NotFound, TransportError

__all__ = ["TaskLog", "install", "uninstall"]

_local = threading.local()

#: a batch is sent when it holds this many lines or bytes
BATCH_LINES = 500
BATCH_BYTES = 256 << 10
#: lines kept while the server cannot be reached; more are dropped
MAX_BUFFERED = 20000
#: how often the heartbeat thread ships what a task logged
INTERVAL = 1.0


def _level(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def _ts(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


class TaskLog:
    """The log lines of one task, waiting to be sent."""

    def __init__(self, transport: Any, task_id: str, lease: str, log: logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
        self._http = transport
        self._path = "/api/v1/tasks/%s/logs" % urllib.parse.quote(task_id, safe="")
        self._lease = lease
        self._log = log
        self._lock = threading.Lock()   # guards the buffer
        self._send = threading.Lock()   # one batch in flight, so lines stay in order
        self._lines: List[Dict[str, str]] = []
        self._bytes = 0
        self._dropped = 0
        self._closed = False
        self.last_sent = time.monotonic()
        self.sent = 0

    def add(self, level: str, created: float, message: str) -> None:
        full = False
        with self._lock:
            if self._closed:
                return
            if len(self._lines) >= MAX_BUFFERED:
                self._dropped += 1
                return
            self._lines.append({"ts": _ts(created), "level": level, "message": message})
            self._bytes += len(message)
            full = len(self._lines) >= BATCH_LINES or self._bytes >= BATCH_BYTES
        if full:
            self.flush()

    def pending(self) -> bool:
        with self._lock:
            return bool(self._lines) or self._dropped > 0

    def flush(self, final: bool = False) -> None:
        """Send what is buffered (the task's thread, or the heartbeat
        thread). Never raises."""
        with self._send:
            while True:
                with self._lock:
                    if final:
                        self._closed = True
                    if self._dropped:
                        self._lines.append({"ts": _ts(time.time()), "level": "warning",
                                            "message": "[weft] %d log line(s) dropped: the worker's log buffer was full "
                                                       "while the server could not be reached" % self._dropped})
                        self._dropped = 0
                    batch = self._lines[:BATCH_LINES]
                    if not batch:
                        return
                    self._lines = self._lines[len(batch):]
                    self._bytes -= sum(len(x["message"]) for x in batch)
                if not self._post(batch, final):
                    return

    def _post(self, batch: List[Dict[str, str]], final: bool) -> bool:
        """True when sent; on failure the batch is put back for a later try
        (or dropped, when final or the lease is gone)."""
        prev = getattr(_local, "shipping", False)
        _local.shipping = True  # what sending logs is not captured
        try:
            self._http.request("POST", self._path, {"lease": self._lease, "lines": batch},
                               retries=2 if final else 0, timeout=10.0)
            self.sent += len(batch)
            self.last_sent = time.monotonic()
            return True
        except (LeaseConflict, NotFound) as e:
            self._close("the lease is no longer current (%s)" % e.code)
        except APIError as e:
            if e.status == 409 or (e.status < 500 and e.status != 429):
                self._close("the server refused them: %s" % e)
            elif final:
                self._log.warning("step log: %d line(s) not sent: %s" % (len(batch), e))
            else:
                self._put_back(batch)
        except (TransportError, OSError) as e:
            if final:
                self._log.warning("step log: %d line(s) not sent: %s" % (len(batch), e))
            else:
                self._put_back(batch)
        except Exception as e:  # never fail the task over its log
            self._log.warning("step log: %d line(s) not sent: %s: %s" % (len(batch), type(e).__name__, e))
        finally:
            _local.shipping = prev
        return False

    def _put_back(self, batch: List[Dict[str, str]]) -> None:
        self.last_sent = time.monotonic()  # wait an interval before trying again
        with self._lock:
            keep = max(0, MAX_BUFFERED - len(self._lines))
            self._dropped += len(batch) - min(keep, len(batch))
            self._lines[:0] = batch[:keep]
            self._bytes += sum(len(x["message"]) for x in batch[:keep])

    def _close(self, why: str) -> None:
        with self._lock:
            self._closed = True
            n = len(self._lines)
            self._lines = []
            self._bytes = 0
        self._log.warning("step log: lines not sent, %s; %d more dropped" % (why, n))


def bind(tl: Optional[TaskLog]) -> None:
    """Capture what this thread logs and prints into tl (None: stop)."""
    _local.log = tl
    _local.partial = {}


def _current() -> Optional[TaskLog]:
    if getattr(_local, "shipping", False):
        return None
    return getattr(_local, "log", None)


class _Capture(logging.Handler):
    """Adds the bound thread's records to its TaskLog. On the root logger it
    also stands in for Python's last-resort handler, so installing it does
    not silence warnings nobody else would have printed."""

    def __init__(self, root: bool) -> None:
        super().__init__(logging.DEBUG)
        self.root = root
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        tl = _current()
        if tl is not None and getattr(_local, "last", None) is not record:
            _local.last = record  # a record seen on "weft" and again on the root
            try:
                tl.add(_level(record.levelno), record.created, self.format(record))
            except Exception:
                self.handleError(record)
        if self.root and logging.lastResort is not None and record.levelno >= logging.lastResort.level \
                and not _others(record.name):
            prev = getattr(_local, "shipping", False)
            _local.shipping = True  # it writes to sys.stderr: not a second copy
            try:
                logging.lastResort.handle(record)
            finally:
                _local.shipping = prev


def _others(name: str) -> bool:
    """Whether a handler other than ours sees records of logger name."""
    c: Optional[logging.Logger] = logging.getLogger(name)
    while c is not None:
        if any(not isinstance(h, _Capture) for h in c.handlers):
            return True
        if not c.propagate:
            return False
        c = c.parent  # type: ignore[assignment]
    return False


class _Tee:
    """sys.stdout or sys.stderr: writes through, and keeps the bound
    thread's complete lines."""

    def __init__(self, stream: Any, level: str) -> None:
        self._stream = stream
        self._level = level

    def write(self, s: str) -> int:
        tl = _current()
        if tl is not None and isinstance(s, str):
            partial: Dict[str, str] = getattr(_local, "partial", None) or {}
            _local.partial = partial
            text = partial.get(self._level, "") + s
            *lines, rest = text.split("\n")
            partial[self._level] = rest
            now = time.time()
            for line in lines:
                tl.add(self._level, now, line)
        return self._stream.write(s)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def end_partial(tl: TaskLog) -> None:
    """Adds what the thread printed without a final newline."""
    partial: Dict[str, str] = getattr(_local, "partial", None) or {}
    now = time.time()
    for level, rest in sorted(partial.items()):
        if rest:
            tl.add(level, now, rest)
    _local.partial = {}


_install_lock = threading.Lock()
_installed: Dict[str, Any] = {"count": 0}


def install(level: int = logging.INFO) -> None:
    """Start capturing (once for every worker in the process). When the root
    logger is unconfigured (no handler) and its level would hide records at
    level, it is lowered to level; a configured root logger is left alone."""
    with _install_lock:
        _installed["count"] += 1
        if _installed["count"] > 1:
            return
        root = logging.getLogger()
        weft = logging.getLogger("weft")
        hs = (_Capture(True), _Capture(False))
        _installed.update(handlers=hs, root_level=root.level, stdout=sys.stdout, stderr=sys.stderr)
        if not root.handlers and root.getEffectiveLevel() > level:
            root.setLevel(level)
        root.addHandler(hs[0])
        weft.addHandler(hs[1])
        sys.stdout = _Tee(sys.stdout, "info")  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, "error")  # type: ignore[assignment]


def uninstall() -> None:
    with _install_lock:
        if _installed["count"] == 0:
            return
        _installed["count"] -= 1
        if _installed["count"] > 0:
            return
        root = logging.getLogger()
        hs = _installed["handlers"]
        root.removeHandler(hs[0])
        logging.getLogger("weft").removeHandler(hs[1])
        if isinstance(sys.stdout, _Tee):
            sys.stdout = _installed["stdout"]
        if isinstance(sys.stderr, _Tee):
            sys.stderr = _installed["stderr"]
        if root.handlers == [] and root.level != _installed["root_level"]:
            root.setLevel(_installed["root_level"])
