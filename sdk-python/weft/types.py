"""Wire types: what the server sends, as frozen dataclasses.

Field names match the server's JSON (snake_case). ``raw`` keeps the whole
object as received, so fields added later on the server stay reachable.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = ["Task", "Run", "Step", "SignalWait", "RunPage", "Deployed", "HeartbeatResult", "TERMINAL_STATUSES"]

#: Run statuses after which nothing happens any more.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "timed_out"})


@dataclass(frozen=True)
class Task:
    """One unit of work handed to a worker by ``POST /api/v1/tasks/poll``.

    ``id`` is stable across redeliveries of the same attempt: use it as an
    idempotency key. ``lease`` is opaque and is sent back unchanged.
    """

    id: str
    lease: str
    run_id: str
    ref: str
    block: str
    version: int
    attempt: int
    input: Any
    deadline: Optional[str] = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Task":
        return cls(
            id=str(d.get("id", "")),
            lease=str(d.get("lease", "")),
            run_id=str(d.get("run_id", "")),
            ref=str(d.get("ref", "")),
            block=str(d.get("block", "")),
            version=int(d.get("version") or 0),
            attempt=int(d.get("attempt") or 1),
            input=d.get("input") if d.get("input") is not None else {},
            deadline=d.get("deadline"),
        )


@dataclass(frozen=True)
class HeartbeatResult:
    cancel_requested: bool
    lease_expires_at: Optional[str]


@dataclass(frozen=True)
class Step:
    """One step of a run (a block instance, by its path). ``attempt`` is the
    current attempt number, ``attempts`` every attempt (number, status,
    worker_id, error, started_at, finished_at). ``status_detail`` says why a
    running step is not progressing ("waiting for cluster capacity: ..."),
    empty otherwise."""

    path: str
    ref: str
    status: str
    input: Any = None
    output: Any = None
    error: Any = None
    attempt: int = 0
    attempts: Tuple[Dict[str, Any], ...] = ()
    block: str = ""
    status_detail: str = ""
    raw: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Step":
        return cls(path=str(d.get("path") or d.get("ref") or ""), ref=str(d.get("ref") or ""),
                   status=str(d.get("status") or ""), input=d.get("input"), output=d.get("output"),
                   error=d.get("error"), attempt=int(d.get("attempt") or 0),
                   attempts=tuple(a for a in (d.get("attempts") or []) if isinstance(a, dict)),
                   block=str(d.get("block") or ""), status_detail=str(d.get("status_detail") or ""), raw=dict(d))


@dataclass(frozen=True)
class SignalWait:
    """A step waiting for a signal (a human step when it names an assignee,
    a form or an SLA), as a run's ``waiting_for`` lists it."""

    path: str
    ref: str
    signal: str
    assignee: str = ""
    form: Any = None
    since: Optional[str] = None
    sla: str = ""
    sla_due_at: Optional[str] = None
    sla_passed: bool = False

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SignalWait":
        return cls(path=str(d.get("path") or ""), ref=str(d.get("ref") or ""), signal=str(d.get("signal") or ""),
                   assignee=str(d.get("assignee") or ""), form=d.get("form"), since=d.get("since"),
                   sla=str(d.get("sla") or ""), sla_due_at=d.get("sla_due_at"), sla_passed=bool(d.get("sla_passed")))


@dataclass(frozen=True)
class Run:
    """A run as the API answers it."""

    id: str
    flow: str
    version: int
    status: str
    input: Any = None
    output: Any = None
    error: Any = None
    idempotency_key: Optional[str] = None
    created_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    steps: Tuple[Step, ...] = ()
    #: The steps waiting for a signal (filled when the run was read with its steps).
    waiting_for: Tuple[SignalWait, ...] = ()
    raw: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Run":
        steps = tuple(Step.from_json(s) for s in (d.get("steps") or []) if isinstance(s, Mapping))
        waits = tuple(SignalWait.from_json(w) for w in (d.get("waiting_for") or []) if isinstance(w, Mapping))
        return cls(id=str(d.get("id", "")), flow=str(d.get("flow") or ""), version=int(d.get("version") or 0),
                   status=str(d.get("status") or ""), input=d.get("input"), output=d.get("output"),
                   error=d.get("error"), idempotency_key=d.get("idempotency_key"),
                   created_at=d.get("created_at"), started_at=d.get("started_at"),
                   finished_at=d.get("finished_at"), steps=steps, waiting_for=waits, raw=dict(d))

    @property
    def finished(self) -> bool:
        """True once the run reached a terminal status."""
        return self.status in TERMINAL_STATUSES

    @property
    def waiting(self) -> bool:
        """True while only signals (people) can move the run on."""
        return self.status == "waiting"

    @property
    def error_message(self) -> str:
        """The run error's message ("" when it has none)."""
        if isinstance(self.error, Mapping):
            return str(self.error.get("message") or "")
        return "" if self.error is None else str(self.error)

    def step(self, path: str) -> Optional[Step]:
        """The step with this path (a ref at top level), or None."""
        for s in self.steps:
            if s.path == path:
                return s
        return None

    def steps_by_status(self, status: str) -> List[Step]:
        return [s for s in self.steps if s.status == status]


@dataclass(frozen=True)
class RunPage:
    runs: Tuple[Run, ...]
    next_cursor: Optional[str]


@dataclass(frozen=True)
class Deployed:
    """Answer of a block or flow upload: ``created`` is False when the
    content was identical to a stored version."""

    name: str
    version: int
    created: bool
