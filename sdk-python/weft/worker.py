"""Run block handlers as a Weft worker.

    worker = Worker("http://127.0.0.1:8080", concurrency=4)

    @worker.block("model.train")
    def train(input, ctx):
        ctx.log.info("training", extra={"algo": input["algo"]})
        if bad(input):
            raise BlockError("dataset is empty", retryable=False)
        return {"model_uri": "...", "r2": 0.91}

    worker.run()          # until SIGINT/SIGTERM or worker.stop()

How it works:

* One thread long-polls ``POST /api/v1/tasks/poll`` for all the worker's
  queues (by default each registered block's name, or ``queue=`` given to
  :meth:`Worker.block`; ``queues=`` replaces the list) and asks for at most
  as many tasks as it has free slots (``concurrency``, one thread per task).
* A heartbeat thread extends every running task's lease: first right after
  the task starts, then every third of the time left on the lease (at most
  ``heartbeat_interval`` seconds). When the server answers
  ``cancel_requested`` the handler sees ``ctx.cancel_requested`` (and
  ``ctx.sleep()`` returns early); the handler should stop and return or
  raise; its report is then refused or ignored by the server.
* A report refused with 409 (``lease_conflict``: the lease lapsed and the
  task went to another worker, or the run was cancelled) is logged and
  dropped. Transient HTTP errors (connection errors, 429/5xx) are retried
  with back-off, for polls, heartbeats and reports alike.
* A handler's return value (a JSON value; ``None`` gives ``{}``) completes
  the step. ``raise BlockError(msg, retryable=False)`` fails it without
  retry; any other exception fails it as retryable (the block's retry
  policy decides), with the exception type recorded.
* Graceful stop (SIGINT/SIGTERM, or :meth:`Worker.stop`): polling stops at
  once (a pending long-poll is aborted), ``ctx.stopping`` turns True, and
  running tasks get ``shutdown_timeout`` seconds to finish and report (their
  leases are kept alive meanwhile). A task still running after that is
  handed back by not reporting it: its heartbeats stop, the lease lapses
  and the engine delivers it again per the block's retry policy. Tasks a
  last poll returned after the stop began are never started, so they too
  come back after their lease. A second signal stops at once.
* Delivery is at-least-once: the task ``id`` is stable across redeliveries
  of one attempt, use it as an idempotency key for side effects.

* Step logs: while a handler runs, what its thread logs through ``logging``
  (``ctx.log`` included) and prints to stdout/stderr is kept as the step's
  log on the server (stderr at level error), sent in batches about every
  second and before the task's report. Records below the root logger's level
  are not seen: an unconfigured root logger is lowered to ``log_level``
  (INFO) so they are. Threads a handler starts are not captured. A log that
  cannot be sent never fails the task. ``capture_logs=False`` turns it off.

Logs go to the ``weft.worker`` logger with extra fields (``worker_id``,
``task_id``, ``run_id``, ``ref``, ``block``, ``attempt``);
:func:`configure_logging` prints them as JSON lines.
"""

import datetime
import http.client
import inspect
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _logs
from . import artifacts as _artifacts
from ._http import Transport
from .artifacts import Artifact
from .errors import APIError, BlockError, LeaseConflict, NotFound, TransportError, WeftError
from .types import HeartbeatResult, Task

__all__ = ["Worker", "TaskContext", "Handler", "configure_logging", "JsonFormatter"]

Handler = Callable[..., Any]

_STD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        d: Dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                d[k] = v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
        if record.exc_info:
            d["error"] = self.formatException(record.exc_info)
        return json.dumps(d, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = "%s %-5s %s %s" % (self.formatTime(record, "%H:%M:%S"), record.levelname, record.name,
                                  record.getMessage())
        extras = ["%s=%s" % (k, v) for k, v in vars(record).items() if k not in _STD_ATTRS and not k.startswith("_")]
        if extras:
            base += " " + " ".join(extras)
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def configure_logging(level: int = logging.INFO, json_lines: Optional[bool] = None,
                      stream: Any = None) -> None:
    """Log ``weft.*`` records to stderr, as JSON lines when json_lines (default:
    $WEFT_LOG_FORMAT == "json"), else as text with key=value extras."""
    if json_lines is None:
        json_lines = os.environ.get("WEFT_LOG_FORMAT", "") == "json"
    h = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(JsonFormatter() if json_lines else _TextFormatter())
    root = logging.getLogger("weft")
    root.handlers[:] = [h]
    root.setLevel(level)
    root.propagate = False


class _Adapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: Any) -> Any:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_time(s: Optional[str]) -> Optional[float]:
    """An RFC 3339 time as a POSIX timestamp (None when absent or unreadable)."""
    if not s or not isinstance(s, str):
        return None
    t = s.strip().replace("Z", "+00:00").replace("z", "+00:00")
    t = _FRACTION.sub(lambda m: m.group(1), t, count=1)
    try:
        dt = datetime.datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


class TaskContext:
    """What a handler gets besides its input."""

    def __init__(self, worker: "Worker", task: Task) -> None:
        self.task = task
        self.worker_id = worker.worker_id
        self._worker = worker
        self._cancel = threading.Event()
        self._lost = threading.Event()
        self.log = _Adapter(worker.log.logger, {"worker_id": worker.worker_id, "task_id": task.id,
                                                "run_id": task.run_id, "ref": task.ref, "block": task.block,
                                                "attempt": task.attempt})
        self.lease_expires_at: Optional[float] = parse_time(task.deadline)
        self.next_beat = time.monotonic()  # first heartbeat right away
        self._finishing = False  # the handler returned; a report is being sent
        self._tasklog: Optional[_logs.TaskLog] = None  # its log, while it runs
        #: The input's artifacts by name (the input holds their local paths).
        self.input_artifacts: Dict[str, Artifact] = {}

    @property
    def run_id(self) -> str:
        return self.task.run_id

    @property
    def ref(self) -> str:
        return self.task.ref

    @property
    def attempt(self) -> int:
        return self.task.attempt

    @property
    def cancel_requested(self) -> bool:
        """True once the run was cancelled (or the lease was lost): stop working."""
        return self._cancel.is_set()

    @property
    def lease_lost(self) -> bool:
        """True when the server refused a heartbeat: the result will not be accepted."""
        return self._lost.is_set()

    @property
    def stopping(self) -> bool:
        """True once the worker is shutting down: finish quickly if you can."""
        return self._worker._stopping.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to seconds; returns True early when cancellation is requested."""
        return self._cancel.wait(seconds)

    def heartbeat(self) -> bool:
        """Send a heartbeat now; returns cancel_requested."""
        self._worker._beat(self)
        return self.cancel_requested

    def save_artifact(self, name: str, source: "Union[str, os.PathLike[str], bytes]") -> Artifact:
        """Store a file (streamed from its path) or bytes as this step's artifact name.

        Downstream steps read it as ``${REF.artifacts.NAME}``; the answer's
        ``ref()`` may also go into the output.
        """
        return _artifacts.upload(self._worker.http, self.task.id, self.task.lease, name, source)


class Worker:
    """See the module documentation."""

    def __init__(self, url: Optional[str] = None, queues: Optional[Sequence[str]] = None, *,
                 worker_id: Optional[str] = None, concurrency: int = 4, token: Optional[str] = None,
                 poll_wait: float = 20.0, resources: Optional[Mapping[str, float]] = None,
                 shutdown_timeout: float = 30.0, heartbeat_interval: float = 10.0,
                 logger: Optional[logging.Logger] = None, capture_logs: bool = True,
                 log_level: int = logging.INFO) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        url = url or os.environ.get("WEFT_URL") or "http://127.0.0.1:8080"
        token = token if token is not None else os.environ.get("WEFT_TOKEN")
        self.http = Transport(url, token=token, timeout=30.0, retries=4)
        self.worker_id = worker_id or "%s-%d-%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:6])
        self.concurrency = concurrency
        self.poll_wait = max(1.0, min(float(poll_wait), 60.0))
        self.resources = dict(resources) if resources else None
        self.shutdown_timeout = shutdown_timeout
        self.heartbeat_interval = heartbeat_interval
        self.capture_logs = capture_logs
        self.log_level = log_level
        self._capturing = False
        self._queues = list(queues) if queues else None
        self._handlers: Dict[str, Handler] = {}
        self._handler_queues: List[str] = []
        self.log = _Adapter(logger or logging.getLogger("weft.worker"), {"worker_id": self.worker_id})
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._done = threading.Event()
        self._cond = threading.Condition()
        self._active: Dict[str, TaskContext] = {}
        self._threads: List[threading.Thread] = []
        self._poll_conn: Optional[http.client.HTTPConnection] = None
        self._conn_lock = threading.Lock()
        self._finish_lock = threading.Lock()
        self._finished: Optional[bool] = None
        self._stats_lock = threading.Lock()
        # chained: tasks leased by a report's answer instead of a poll.
        self.stats = {"completed": 0, "failed": 0, "dropped": 0, "handed_back": 0, "polls": 0, "chained": 0}

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    # registration ----------------------------------------------------------
    def block(self, name: str, queue: Optional[str] = None) -> Callable[[Handler], Handler]:
        """Decorator: ``@worker.block("model.train")``. The handler is
        ``fn(input)`` or ``fn(input, ctx)``."""

        def register(fn: Handler) -> Handler:
            self.register(name, fn, queue=queue)
            return fn

        return register

    def register(self, name: str, fn: Handler, queue: Optional[str] = None) -> None:
        if name in self._handlers:
            raise ValueError("block %r already has a handler" % name)
        self._handlers[name] = _with_ctx(fn)
        q = queue or name
        if q not in self._handler_queues:
            self._handler_queues.append(q)

    @property
    def queues(self) -> List[str]:
        return list(self._queues) if self._queues else list(self._handler_queues)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._active)

    # lifecycle -----------------------------------------------------------------
    def start(self) -> "Worker":
        """Start polling in background threads and return (see :meth:`run`)."""
        if not self.queues:
            raise ValueError("the worker has no queues: register a block handler or pass queues=")
        if self.capture_logs and not self._capturing:
            _logs.install(self.log_level)
            self._capturing = True
        self.log.info("worker started", extra={"queues": ",".join(self.queues), "concurrency": self.concurrency,
                                               "url": self.http.base})
        for target, name in ((self._poll_loop, "weft-poll"), (self._beat_loop, "weft-heartbeat")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def run(self, install_signals: bool = True) -> None:
        """Poll and run tasks until stopped; on SIGINT/SIGTERM stop gracefully."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
        self.start()
        while not self._done.wait(0.5):
            if self._stopping.is_set() and not self._threads[0].is_alive():
                self._finish()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping.is_set():
            self.log.warning("second signal: stopping now, running tasks are handed back")
            self._abandon.set()
            self._done.set()
            return
        self.log.info("signal received: stopping", extra={"signal": signum})
        self._request_stop()

    def _request_stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        with self._conn_lock:
            conn = self._poll_conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop gracefully and wait (up to ``shutdown_timeout``, or timeout) for
        running tasks; returns True when none had to be handed back."""
        self._request_stop()
        return self._finish(timeout)

    def _finish(self, timeout: Optional[float] = None) -> bool:
        with self._finish_lock:
            if self._finished is not None:
                return self._finished
            self._finished = self._drain(timeout)
            return self._finished

    def _drain(self, timeout: Optional[float]) -> bool:
        bound = self.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + bound
        with self._cond:
            while self._active and time.monotonic() < deadline and not self._abandon.is_set():
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            left = list(self._active.values())
        clean = not left
        if left:
            self._abandon.set()
            for ctx in left:
                self._count("handed_back", 1)
                ctx.log.warning("task still running at shutdown: handed back (not reported; "
                                "it is delivered again when its lease lapses)")
        self._done.set()
        for t in self._threads:
            t.join(timeout=2.0)
        if self._capturing:
            _logs.uninstall()
            self._capturing = False
        self.log.info("worker stopped", extra=dict(self.stats))
        return clean

    # polling ---------------------------------------------------------------------
    def _poll_loop(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            with self._cond:
                while len(self._active) >= self.concurrency and not self._stopping.is_set():
                    self._cond.wait(0.5)
                free = self.concurrency - len(self._active)
            if self._stopping.is_set():
                break
            try:
                self._count("polls", 1)
                tasks = self._poll(min(free, 100))
                backoff = 0.5
            except Exception as e:  # connection trouble: back off, keep going
                if self._stopping.is_set():
                    break
                self.log.warning("poll failed: %s; retrying in %.1fs" % (e, backoff))
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if self._stopping.is_set():
                if tasks:
                    self._count("handed_back", len(tasks))
                    self.log.info("stopping: %d task(s) from the last poll not started, they come back "
                                  "after their lease" % len(tasks))
                break
            for t in tasks:
                self._launch(t)

    def _poll(self, max_tasks: int) -> List[Task]:
        body: Dict[str, Any] = {"worker_id": self.worker_id, "queues": self.queues, "max": max_tasks,
                                "wait": "%ds" % int(self.poll_wait)}
        if self.resources:
            body["resources"] = self.resources
        u = urllib.parse.urlsplit(self.http.base)
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = cls(u.hostname or "127.0.0.1", u.port, timeout=self.poll_wait + 15)
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "weft-python"}
        if self.http.token:
            headers["Authorization"] = "Bearer " + self.http.token
        with self._conn_lock:
            self._poll_conn = conn
        try:
            if self._stopping.is_set():
                return []
            conn.request("POST", (u.path or "") + "/api/v1/tasks/poll", json.dumps(body), headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
        finally:
            with self._conn_lock:
                self._poll_conn = None
            conn.close()
        if status >= 400:
            from ._http import _api_error

            raise _api_error(status, raw, "POST", self.http.base + "/api/v1/tasks/poll")
        data = json.loads(raw.decode("utf-8") or "{}")
        return [Task.from_json(t) for t in (data.get("tasks") or [])]

    def _launch(self, task: Task) -> None:
        ctx = TaskContext(self, task)
        with self._cond:
            self._active[task.id] = ctx
        t = threading.Thread(target=self._execute, args=(ctx,), name="weft-task-" + task.ref, daemon=True)
        t.start()

    # running -----------------------------------------------------------------------
    def _execute(self, ctx: Optional[TaskContext]) -> None:
        # Each report asks for the worker's next task, which the server
        # leases in the report's own transaction: a busy worker goes from
        # task to task in this thread, one request per task.
        while ctx is not None:
            try:
                nxt = self._run_one(ctx)
            finally:
                with self._cond:
                    self._active.pop(ctx.task.id, None)
                    ctx = None
                    if nxt is not None:
                        if self._stopping.is_set():
                            self._count("handed_back", 1)
                            self.log.info("stopping: a task from the last report not started, it comes back "
                                          "after its lease")
                        else:
                            ctx = TaskContext(self, nxt)
                            self._active[nxt.id] = ctx
                    self._cond.notify_all()

    def _next_request(self) -> Optional[Dict[str, Any]]:
        if self._stopping.is_set():
            return None
        body: Dict[str, Any] = {"worker_id": self.worker_id, "queues": self.queues, "max": 1}
        if self.resources:
            body["resources"] = self.resources
        return body

    def _run_one(self, ctx: TaskContext) -> Optional[Task]:
        """Runs one task and reports it; returns the next task the report leased."""
        task = ctx.task
        started = time.monotonic()
        nxt: List[Task] = []
        handler = self._handlers.get(task.block)
        if self._capturing:
            ctx._tasklog = _logs.TaskLog(self.http, task.id, task.lease, ctx.log)
            _logs.bind(ctx._tasklog)
        ctx.log.info("task started")
        if handler is None:
            return self._fail(ctx, "this worker has no handler for block %r (it handles: %s)"
                              % (task.block, ", ".join(sorted(self._handlers))), "no_handler", False)
        try:
            inp = _artifacts.resolve(self.http, task.input, ctx.input_artifacts)
        except (APIError, TransportError, WeftError) as e:
            ctx.log.warning("input artifact not available: %s" % e)
            return self._fail(ctx, "input artifact not available: %s" % e, "artifact_unavailable", True)
        try:
            out = handler(inp, ctx)
            if out is None:
                out = {}
            json.dumps(out)
        except BlockError as e:
            ctx.log.warning("task failed: %s" % e.message, extra={"retryable": e.retryable})
            return self._fail(ctx, e.message, e.type, e.retryable)
        except (TypeError, ValueError) as e:
            if "JSON" in str(e) or "serializable" in str(e):
                return self._fail(ctx, "the handler's result is not JSON: %s" % e, "bad_output", False)
            ctx.log.exception("task raised %s" % type(e).__name__)
            return self._fail(ctx, "%s: %s" % (type(e).__name__, e), type(e).__name__, True)
        except Exception as e:
            ctx.log.error("task raised %s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
            return self._fail(ctx, "%s: %s" % (type(e).__name__, e), type(e).__name__, True)
        if self._report(ctx, "complete", {"lease": task.lease, "output": out}, nxt):
            self._count("completed", 1)
            ctx.log.info("task completed", extra={"seconds": round(time.monotonic() - started, 3)})
        return nxt[0] if nxt else None

    def _fail(self, ctx: TaskContext, message: str, kind: str, retryable: bool) -> Optional[Task]:
        body = {"lease": ctx.task.lease, "error": {"message": message, "type": kind}, "retryable": retryable}
        nxt: List[Task] = []
        if self._report(ctx, "fail", body, nxt):
            self._count("failed", 1)
        return nxt[0] if nxt else None

    def _report(self, ctx: TaskContext, what: str, body: Dict[str, Any], nxt: Optional[List[Task]] = None) -> bool:
        """Delivers a report; tasks the server leased with it are appended to nxt."""
        ctx._finishing = True
        self._ship_log(ctx)
        if self._abandon.is_set():
            ctx.log.warning("worker stopped before the task ended: %s not reported" % what)
            return False
        if ctx.lease_lost:
            self._count("dropped", 1)
            ctx.log.warning("lease lost: %s dropped (the task was handed to another worker or cancelled)" % what)
            return False
        path = "/api/v1/tasks/%s/%s" % (urllib.parse.quote(ctx.task.id, safe=""), what)
        delay = 0.25
        for attempt in range(1, 9):
            # Only the first delivery asks for the next task: a retry after
            # a lost answer must not lease a task nobody will run.
            send = dict(body)
            want = self._next_request() if nxt is not None and attempt == 1 else None
            if want is not None:
                send["next"] = want
            try:
                _, answer = self.http.request("POST", path, send, retries=0)
                if nxt is not None and isinstance(answer, dict):
                    nxt.extend(Task.from_json(t) for t in (answer.get("tasks") or []))
                    self._count("chained", len(nxt))
                return True
            except (LeaseConflict, NotFound) as e:
                self._count("dropped", 1)
                ctx.log.warning("%s refused: %s (lease no longer current: dropped)" % (what, e.code))
                return False
            except APIError as e:
                if e.status == 409:
                    self._count("dropped", 1)
                    ctx.log.warning("%s refused with 409 %s: dropped" % (what, e.code))
                    return False
                if e.status < 500 and e.status != 429:
                    ctx.log.error("%s rejected: %s" % (what, e))
                    return False
                err: Exception = e
            except TransportError as e:
                err = e
            if self._abandon.is_set():
                return False
            ctx.log.warning("%s failed (attempt %d): %s; retrying" % (what, attempt, err))
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        ctx.log.error("%s could not be delivered; the task comes back after its lease" % what)
        return False

    def _ship_log(self, ctx: TaskContext) -> None:
        """Ends the task's log capture and sends what is left, before the report."""
        tl = ctx._tasklog
        if tl is None:
            return
        ctx._tasklog = None
        _logs.end_partial(tl)
        _logs.bind(None)
        if not self._abandon.is_set():
            tl.flush(final=True)

    # heartbeats -------------------------------------------------------------------
    def _beat_loop(self) -> None:
        while not self._done.is_set() and not self._abandon.is_set():
            now = time.monotonic()
            with self._cond:
                due = [c for c in self._active.values() if c.next_beat <= now and not c.lease_lost]
                logs = [c._tasklog for c in self._active.values() if c._tasklog is not None]
            for ctx in due:
                if self._abandon.is_set():
                    return
                self._beat(ctx)
            for tl in logs:
                if tl.pending() and now - tl.last_sent >= _logs.INTERVAL:
                    tl.flush()
            self._done.wait(0.05 if due else 0.1)

    def _beat(self, ctx: TaskContext) -> Optional[HeartbeatResult]:
        path = "/api/v1/tasks/%s/heartbeat" % urllib.parse.quote(ctx.task.id, safe="")
        try:
            _, body = self.http.request("POST", path, {"lease": ctx.task.lease}, retries=2, timeout=10.0)
        except APIError as e:
            if isinstance(e, (LeaseConflict, NotFound)) or e.status == 409:
                if ctx._finishing:
                    ctx.log.debug("heartbeat refused after the task ended (%s)" % e.code)
                    return None
                ctx._lost.set()
                ctx._cancel.set()
                ctx.log.warning("heartbeat refused (%s): the lease is gone, stop the task" % e.code)
                return None
            ctx.log.warning("heartbeat failed: %s" % e)
            ctx.next_beat = time.monotonic() + 1.0
            return None
        except TransportError as e:
            ctx.log.warning("heartbeat failed: %s" % e)
            ctx.next_beat = time.monotonic() + 1.0
            return None
        body = body if isinstance(body, dict) else {}
        res = HeartbeatResult(bool(body.get("cancel_requested")), body.get("lease_expires_at"))
        if res.cancel_requested and not ctx._cancel.is_set():
            ctx.log.info("cancel requested")
            ctx._cancel.set()
        expires = parse_time(res.lease_expires_at)
        interval = self.heartbeat_interval
        if expires is not None:
            ctx.lease_expires_at = expires
            left = expires - time.time()
            interval = max(0.2, min(interval, left / 3.0))
        ctx.next_beat = time.monotonic() + interval
        return res


def _with_ctx(fn: Handler) -> Callable[[Any, TaskContext], Any]:
    """Adapt fn(input) or fn(input, ctx) to fn(input, ctx)."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        params = []
    takes_ctx = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
    if takes_ctx:
        return fn
    return lambda input, ctx: fn(input)
