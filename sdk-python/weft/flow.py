"""Build Weft blueprints (flow definitions) and block definitions in Python.

    from weft import Flow, Compensate, if_

    f = Flow("house-prices", title="House price model",
             input_schema={"type": "object", "properties": {"dataset_url": {"type": "string"}}})
    load = f.block("load", "data.load_csv", input={"url": f.input["dataset_url"]})
    train = f.fork("train")
    linear = train.branch().block("linear", "model.train", input={"rows": load.output["rows"], "algo": "linear"})
    forest = train.branch().block("forest", "model.train", input={"rows": load.output["rows"], "algo": "forest"})
    best = f.lambda_("best", if_(linear.output["r2"] >= forest.output["r2"], linear.output, forest.output))
    gate = f.decision("gate", if_(best.output["r2"] >= 0.8, "good", "bad"))
    gate.case("good").block("register", "model.register", input={"uri": best.output["model_uri"]},
                            compensate=Compensate("model.unregister", {"uri": best.output["model_uri"]}))
    gate.case("bad").block("notify", "notify.team", input={"text": f"r2={best.output['r2']}"})
    f.output({"r2": best.output["r2"]})
    print(f.to_json())

References read naturally: ``node.output["r2"]``, ``f.input["dataset_url"]``.
In an input value a reference becomes a ``${...}`` template (a value that
is exactly one reference keeps its JSON type; in an f-string it is
interpolated); in ``expr``, ``items`` and ``while`` it is written bare.
Plain strings are written unchanged, so hand-written ``"${...}"`` templates
work too (write ``$${`` for a literal ``${``).

``to_json()`` is deterministic and keeps keys in the order a person writes
them (name, title, description, input_schema, blocks, output, on_failure,
triggers; in a block: ref, type, block, the type's own fields, input, error
handling, nested blocks), not sorted. Dict values keep the order you gave.
"""

import datetime
import json
import re
from typing import Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Set, Tuple, TypeVar, Union

from .errors import Problem, ValidationError
from .expr import Expr, expr, lit, names_in_template

__all__ = [
    "Flow",
    "Sequence",
    "Node",
    "Task",
    "Fork",
    "Decision",
    "Map",
    "Loop",
    "Lambda",
    "Wait",
    "Subflow",
    "Fail",
    "Retry",
    "Compensate",
    "BlockDefinition",
    "FLOW",
    "duration",
]

REF_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

DurationLike = Union[str, int, float, datetime.timedelta]
ExprLike = Union[Expr, str, bool]


def duration(d: Optional[DurationLike]) -> Optional[str]:
    """A duration as the server writes it: "30s", "5m", "24h", "1500ms".

    Accepts a string (kept as written), seconds as a number, or a timedelta."""
    if d is None:
        return None
    if isinstance(d, str):
        if not d:
            raise ValueError("a duration must not be empty: write \"30s\", \"5m\" or \"2h\"")
        return d
    if isinstance(d, datetime.timedelta):
        seconds = d.total_seconds()
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        seconds = float(d)
    else:
        raise TypeError("a duration is a string such as \"30s\", a number of seconds or a timedelta")
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    ms = int(round(seconds * 1000))
    if ms % 3600000 == 0 and ms:
        return "%dh" % (ms // 3600000)
    if ms % 60000 == 0 and ms:
        return "%dm" % (ms // 60000)
    if ms % 1000 == 0:
        return "%ds" % (ms // 1000)
    return "%dms" % ms


class _Scope:
    """The names a flow offers to expressions: ``flow.input``, ``flow.run_id``..."""

    @property
    def input(self) -> Expr:
        return Expr("flow.input", names=("flow",))

    @property
    def run_id(self) -> Expr:
        return Expr("flow.run_id", names=("flow",))

    @property
    def name(self) -> Expr:
        return Expr("flow.name", names=("flow",))

    @property
    def version(self) -> Expr:
        return Expr("flow.version", names=("flow",))

    @property
    def error(self) -> Expr:
        return Expr("flow.error", names=("flow",))


#: ``FLOW.input``, ``FLOW.run_id``, ``FLOW.name``, ``FLOW.version``, ``FLOW.error``.
FLOW = _Scope()


class Retry:
    """A retry policy (overrides the block definition's when set on a block)."""

    def __init__(self, max_attempts: Optional[int] = None, backoff: Optional[str] = None,
                 initial_interval: Optional[DurationLike] = None, max_interval: Optional[DurationLike] = None) -> None:
        if backoff not in (None, "fixed", "exponential"):
            raise ValueError("backoff is \"fixed\" or \"exponential\", not %r" % backoff)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.initial_interval = duration(initial_interval)
        self.max_interval = duration(max_interval)

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        for k in ("max_attempts", "backoff", "initial_interval", "max_interval"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


class Compensate:
    """The block run to undo a completed block when the run fails (saga)."""

    def __init__(self, block: str, input: Optional[Mapping[str, Any]] = None) -> None:
        self.block = block
        self.input = dict(input) if input is not None else None

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"block": self.block}
        if self.input is not None:
            d["input"] = _value(self.input)
        return d


def _value(v: Any) -> Any:
    """An input value with expressions turned into ${} templates."""
    if isinstance(v, Expr):
        return v.template()
    if isinstance(v, Node):
        raise TypeError("block %r cannot be used as a value: use its .output (or .input, .status, .error)" % v.ref)
    if isinstance(v, Mapping):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise TypeError("input keys must be strings, got %r" % (k,))
            out[k] = _value(x)
        return out
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    raise TypeError("cannot write %r (%s) in a blueprint" % (v, type(v).__name__))


def _expr_source(e: ExprLike) -> str:
    if isinstance(e, Expr):
        return e.source
    if isinstance(e, bool):
        return "true" if e else "false"
    if isinstance(e, str):
        if not e.strip():
            raise ValueError("an expression must not be empty")
        return e
    return lit(e).source


def _expr_names(e: Any) -> FrozenSet[str]:
    if isinstance(e, Expr):
        return e.names
    if isinstance(e, str):
        return expr(e).names
    try:
        return lit(e).names
    except (TypeError, ValueError):
        return frozenset()


def _value_names(v: Any) -> Set[str]:
    out: Set[str] = set()
    if isinstance(v, Expr):
        out |= v.names
    elif isinstance(v, str):
        out |= names_in_template(v)
    elif isinstance(v, Mapping):
        for x in v.values():
            out |= _value_names(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            out |= _value_names(x)
    return out


_N = TypeVar("_N", bound="Node")

TRIGGER_RULES = ("all_success", "all_done", "all_failed", "one_success", "one_failed", "none_failed", "always")


class Node:
    """One block instance. Read its results with ``.output``, ``.input``,
    ``.status``, ``.attempts`` and ``.error``."""

    type = ""  # the blueprint's "type" ("" = an external block)

    def __init__(self, owner: "Sequence", ref: str) -> None:
        self.ref = ref
        self._flow = owner._flow
        self.retry: Optional[Retry] = None
        self.timeout: Optional[str] = None
        self.optional = False
        self.compensate: Optional[Compensate] = None
        self._catch: Optional[Sequence] = None
        self.depends_on: Optional[List[str]] = None
        self.trigger_rule: Optional[str] = None

    # references ----------------------------------------------------------
    def _attr(self, name: str) -> Expr:
        return Expr(self.ref + "." + name, names=(self.ref,))

    @property
    def output(self) -> Expr:
        return self._attr("output")

    @property
    def input(self) -> Expr:
        return self._attr("input")

    @property
    def status(self) -> Expr:
        return self._attr("status")

    @property
    def attempts(self) -> Expr:
        return self._attr("attempts")

    @property
    def artifacts(self) -> Expr:
        """The artifacts the block stored, by name: ``load.artifacts["dataset"]``
        is ``{"artifact": {...}}``, which a worker receives as a local path."""
        return self._attr("artifacts")

    @property
    def error(self) -> Expr:
        return self._attr("error")

    # DAG form ----------------------------------------------------------------
    def after(self: "_N", *nodes: Union["Node", str], trigger_rule: Optional[str] = None) -> "_N":
        """Run this block after ``nodes`` (blocks of the same list), making
        the list a DAG: ``train.after(prep, stats)``. ``after()`` with no
        node starts it at once. ``trigger_rule`` is one of
        ``TRIGGER_RULES`` (default all_success)."""
        refs = list(self.depends_on or [])
        for n in nodes:
            ref = n.ref if isinstance(n, Node) else n
            if not isinstance(ref, str):
                raise TypeError("after() takes blocks or refs, not %r" % (n,))
            if ref not in refs:
                refs.append(ref)
        self.depends_on = refs
        if trigger_rule is not None:
            if trigger_rule not in TRIGGER_RULES:
                raise ValueError("trigger_rule %r: use one of %s" % (trigger_rule, ", ".join(TRIGGER_RULES)))
            self.trigger_rule = trigger_rule
        return self

    # error handling --------------------------------------------------------
    def catch(self) -> "Sequence":
        """The blocks run when this block finally fails (the failure is then handled)."""
        if self._catch is None:
            self._catch = Sequence(self._flow, self)
        return self._catch

    def _options(self, retry: Any, timeout: Optional[DurationLike], optional: bool,
                 compensate: Optional[Compensate]) -> None:
        if isinstance(retry, Mapping):
            retry = Retry(**retry)
        self.retry = retry
        self.timeout = duration(timeout)
        self.optional = optional
        self.compensate = compensate

    # serialisation ---------------------------------------------------------
    def _fields(self) -> List[Tuple[str, Any]]:
        return []

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"ref": self.ref}
        if self.type:
            d["type"] = self.type
        for k, v in self._fields():
            d[k] = v
        if self.retry is not None:
            d["retry"] = self.retry.to_dict()
        if self.timeout is not None:
            d["timeout"] = self.timeout
        if self.optional:
            d["optional"] = True
        if self.depends_on is not None:
            d["depends_on"] = list(self.depends_on)
        if self.trigger_rule is not None:
            d["trigger_rule"] = self.trigger_rule
        for k, v in self._nested():
            d[k] = v
        if self._catch is not None and self._catch.nodes:
            d["catch"] = self._catch.to_list()
        if self.compensate is not None:
            d["compensate"] = self.compensate.to_dict()
        return d

    def _nested(self) -> List[Tuple[str, Any]]:
        return []

    def _children(self) -> Iterator[Tuple[str, "Sequence"]]:
        """Nested sequences with their JSON pointer suffix."""
        if False:  # pragma: no cover
            yield "", Sequence(self._flow)

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.ref)


class Task(Node):
    """An external block: ``block`` is "name" or "name@version"."""

    def __init__(self, owner: "Sequence", ref: str, block: str, input: Optional[Mapping[str, Any]]) -> None:
        super().__init__(owner, ref)
        if not block:
            raise ValueError("block %r: name the block definition, such as \"model.train\"" % ref)
        self.block = block
        self.input_value = dict(input) if input is not None else None

    def _fields(self) -> List[Tuple[str, Any]]:
        out: List[Tuple[str, Any]] = [("block", self.block)]
        if self.input_value is not None:
            out.append(("input", _value(self.input_value)))
        return out


class Lambda(Node):
    type = "lambda"

    def __init__(self, owner: "Sequence", ref: str, expression: Any) -> None:
        super().__init__(owner, ref)
        self.expr = expression

    def _fields(self) -> List[Tuple[str, Any]]:
        return [("expr", _expr_source(_as_expr(self.expr)))]


class Wait(Node):
    type = "wait"

    def __init__(self, owner: "Sequence", ref: str, signal: Optional[str], duration_: Optional[DurationLike],
                 until: Any, assignee: Optional[str] = None, form: Optional[Mapping[str, Any]] = None,
                 sla: Optional[DurationLike] = None) -> None:
        super().__init__(owner, ref)
        if signal is None and duration_ is None and until is None:
            raise ValueError("wait %r: give a signal, a duration or until" % ref)
        if signal is None and (assignee is not None or form is not None or sla is not None):
            raise ValueError("wait %r: assignee, form and sla apply to a wait for a signal" % ref)
        self.signal = signal
        self.duration = duration(duration_)
        self.until = until
        self.assignee = assignee
        self.form = dict(form) if form is not None else None
        self.sla = duration(sla)
        #: Blocks that run once when the SLA passes while the step still waits.
        self.on_sla: Optional["Sequence"] = None

    def escalate(self) -> "Sequence":
        """The on_sla blocks (run once when the SLA passes while still waiting)."""
        if self.sla is None:
            raise ValueError("wait %r: on_sla needs an sla" % self.ref)
        if self.on_sla is None:
            self.on_sla = Sequence(self._flow, self)
        return self.on_sla

    def _fields(self) -> List[Tuple[str, Any]]:
        out: List[Tuple[str, Any]] = []
        if self.signal is not None:
            out.append(("signal", self.signal))
        if self.assignee is not None:
            out.append(("assignee", self.assignee))
        if self.form is not None:
            out.append(("form", self.form))
        if self.sla is not None:
            out.append(("sla", self.sla))
        if self.duration is not None:
            out.append(("duration", self.duration))
        if self.until is not None:
            out.append(("until", _value(self.until)))
        return out

    def _nested(self) -> List[Tuple[str, Any]]:
        if self.on_sla is not None and self.on_sla.nodes:
            return [("on_sla", self.on_sla.to_list())]
        return []

    def _children(self) -> Iterator[Tuple[str, "Sequence"]]:
        if self.on_sla is not None and self.on_sla.nodes:
            yield "/on_sla", self.on_sla


class Subflow(Node):
    type = "subflow"

    def __init__(self, owner: "Sequence", ref: str, flow: str, input: Optional[Mapping[str, Any]]) -> None:
        super().__init__(owner, ref)
        self.flow = flow
        self.input_value = dict(input) if input is not None else None

    def _fields(self) -> List[Tuple[str, Any]]:
        out: List[Tuple[str, Any]] = [("flow", self.flow)]
        if self.input_value is not None:
            out.append(("input", _value(self.input_value)))
        return out


class Fail(Node):
    type = "fail"

    def __init__(self, owner: "Sequence", ref: str, message: Any) -> None:
        super().__init__(owner, ref)
        self.message = message

    def _fields(self) -> List[Tuple[str, Any]]:
        return [("message", _value(self.message))]


class Sequence:
    """An ordered list of blocks. ``with`` is optional sugar:
    ``with gate.case("good") as good: good.block(...)``."""

    def __init__(self, flow: Optional["Flow"], parent: Optional[Node] = None) -> None:
        self._flow = flow if flow is not None else self  # type: ignore[assignment]
        self.parent = parent
        self.nodes: List[Node] = []

    def __enter__(self) -> "Sequence":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def _add(self, node: Node) -> Any:
        self._flow._register(node)
        self.nodes.append(node)
        return node

    # block constructors --------------------------------------------------
    def block(self, ref: str, block: str, input: Optional[Mapping[str, Any]] = None, *,
              retry: Union[Retry, Mapping[str, Any], None] = None, timeout: Optional[DurationLike] = None,
              optional: bool = False, compensate: Optional[Compensate] = None) -> Task:
        """An external block instance (a block definition by name)."""
        n = Task(self, ref, block, input)
        n._options(retry, timeout, optional, compensate)
        return self._add(n)

    task = block

    def lambda_(self, ref: str, expression: Any, **options: Any) -> Lambda:
        """Evaluate an expression in the engine; its value is the output."""
        n = Lambda(self, ref, expression)
        n._options(options.pop("retry", None), options.pop("timeout", None), options.pop("optional", False),
                   options.pop("compensate", None))
        _no_more(options)
        return self._add(n)

    def wait(self, ref: str, *, signal: Optional[str] = None, duration: Optional[DurationLike] = None,
             until: Any = None, timeout: Optional[DurationLike] = None, optional: bool = False,
             assignee: Optional[str] = None, form: Optional[Mapping[str, Any]] = None,
             sla: Optional[DurationLike] = None) -> Wait:
        """Wait for a named signal (human approval), a duration or a time. A
        human step may name an ``assignee``, a ``form`` (JSON Schema of the
        payload) and an ``sla``; ``.escalate()`` holds its on_sla blocks."""
        n = Wait(self, ref, signal, duration, until, assignee, form, sla)
        n._options(None, timeout, optional, None)
        return self._add(n)

    def subflow(self, ref: str, flow: str, input: Optional[Mapping[str, Any]] = None, *,
                retry: Union[Retry, Mapping[str, Any], None] = None, timeout: Optional[DurationLike] = None,
                optional: bool = False, compensate: Optional[Compensate] = None) -> Subflow:
        """Start another flow ("name" or "name@version") and wait for it."""
        n = Subflow(self, ref, flow, input)
        n._options(retry, timeout, optional, compensate)
        return self._add(n)

    def fail(self, ref: str, message: Any) -> Fail:
        """End the run as failed with message (may hold templates)."""
        return self._add(Fail(self, ref, message))

    def fork(self, ref: str, *, join: Optional[str] = None, timeout: Optional[DurationLike] = None,
             optional: bool = False) -> "Fork":
        """Parallel branches: add each with ``.branch()``."""
        n = Fork(self, ref, join)
        n._options(None, timeout, optional, None)
        return self._add(n)

    def decision(self, ref: str, expression: Any, *, timeout: Optional[DurationLike] = None,
                 optional: bool = False) -> "Decision":
        """Runs ``case(name)`` for the name the expression yields, else ``default()``."""
        n = Decision(self, ref, expression)
        n._options(None, timeout, optional, None)
        return self._add(n)

    def map(self, ref: str, items: Any, *, concurrency: Optional[int] = None,
            timeout: Optional[DurationLike] = None, optional: bool = False) -> "Map":
        """Runs the body once per element of items (``.item``/``.index`` inside)."""
        n = Map(self, ref, items, concurrency)
        n._options(None, timeout, optional, None)
        return self._add(n)

    def loop(self, ref: str, *, max_iterations: int, while_: Any = None, timeout: Optional[DurationLike] = None,
             optional: bool = False) -> "Loop":
        """Runs the body, then again while ``while_`` holds (set it later with
        ``.while_(...)`` when it reads the body's refs), at most max_iterations."""
        n = Loop(self, ref, max_iterations, while_)
        n._options(None, timeout, optional, None)
        return self._add(n)

    def to_list(self) -> List[Dict[str, Any]]:
        return [n.to_dict() for n in self.nodes]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


def _no_more(options: Mapping[str, Any]) -> None:
    if options:
        raise TypeError("unknown option(s): %s" % ", ".join(sorted(options)))


def _as_expr(e: Any) -> Any:
    return e


class _Body(Sequence):
    """A control block whose body is itself (map, loop)."""


class Fork(Node):
    type = "fork"

    def __init__(self, owner: Sequence, ref: str, join: Optional[str]) -> None:
        super().__init__(owner, ref)
        if join not in (None, "all", "any"):
            raise ValueError("fork %r: join is \"all\" or \"any\", not %r" % (ref, join))
        self.join = join
        self.branches: List[Sequence] = []

    def branch(self) -> Sequence:
        """A new parallel branch."""
        s = Sequence(self._flow, self)
        self.branches.append(s)
        return s

    def __enter__(self) -> "Fork":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def _fields(self) -> List[Tuple[str, Any]]:
        return [("join", self.join)] if self.join else []

    def _nested(self) -> List[Tuple[str, Any]]:
        return [("branches", [b.to_list() for b in self.branches])]

    def _children(self) -> Iterator[Tuple[str, Sequence]]:
        for i, b in enumerate(self.branches):
            yield "/branches/%d" % i, b


class Decision(Node):
    type = "decision"

    def __init__(self, owner: Sequence, ref: str, expression: Any) -> None:
        super().__init__(owner, ref)
        self.expr = expression
        self.cases: Dict[str, Sequence] = {}
        self._default: Optional[Sequence] = None

    def case(self, name: str) -> Sequence:
        """The blocks run when the expression yields name."""
        if name not in self.cases:
            self.cases[name] = Sequence(self._flow, self)
        return self.cases[name]

    def default(self) -> Sequence:
        """The blocks run when no case matches."""
        if self._default is None:
            self._default = Sequence(self._flow, self)
        return self._default

    def _fields(self) -> List[Tuple[str, Any]]:
        return [("expr", _expr_source(self.expr))]

    def _nested(self) -> List[Tuple[str, Any]]:
        out: List[Tuple[str, Any]] = [("cases", {k: v.to_list() for k, v in self.cases.items()})]
        if self._default is not None:
            out.append(("default", self._default.to_list()))
        return out

    def _children(self) -> Iterator[Tuple[str, Sequence]]:
        for k, v in self.cases.items():
            yield "/cases/" + k.replace("~", "~0").replace("/", "~1"), v
        if self._default is not None:
            yield "/default", self._default


class _Looping(Node):
    def __init__(self, owner: Sequence, ref: str) -> None:
        super().__init__(owner, ref)
        self.body = Sequence(self._flow, self)

    # the body's constructors, so ``with f.map(...) as each: each.block(...)``
    def __getattr__(self, name: str) -> Any:
        if name in ("block", "task", "lambda_", "wait", "subflow", "fail", "fork", "decision", "map", "loop"):
            return getattr(self.__dict__["body"], name)
        raise AttributeError(name)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def _nested(self) -> List[Tuple[str, Any]]:
        return [("do", self.body.to_list())]

    def _children(self) -> Iterator[Tuple[str, Sequence]]:
        yield "/do", self.body


class Map(_Looping):
    type = "map"

    def __init__(self, owner: Sequence, ref: str, items: Any, concurrency: Optional[int]) -> None:
        super().__init__(owner, ref)
        self.items = items
        self.concurrency = concurrency

    @property
    def item(self) -> Expr:
        """The current element (inside the body)."""
        return Expr("item", names=("item",))

    @property
    def index(self) -> Expr:
        """The current element's index (inside the body)."""
        return Expr("index", names=("index",))

    def _fields(self) -> List[Tuple[str, Any]]:
        out: List[Tuple[str, Any]] = [("items", _expr_source(self.items))]
        if self.concurrency is not None:
            out.append(("concurrency", self.concurrency))
        return out


class Loop(_Looping):
    type = "loop"

    def __init__(self, owner: Sequence, ref: str, max_iterations: int, while_: Any) -> None:
        super().__init__(owner, ref)
        if not isinstance(max_iterations, int) or max_iterations < 1:
            raise ValueError("loop %r: max_iterations must be a positive integer" % ref)
        self.max_iterations = max_iterations
        self._while = while_

    @property
    def iteration(self) -> Expr:
        """Iterations done so far (in ``while``)."""
        return Expr("iteration", names=("iteration",))

    def while_(self, condition: Any) -> "Loop":
        """Set the condition evaluated after each iteration."""
        self._while = condition
        return self

    def _fields(self) -> List[Tuple[str, Any]]:
        if self._while is None:
            raise ValueError("loop %r has no while condition: call .while_(...)" % self.ref)
        return [("while", _expr_source(self._while)), ("max_iterations", self.max_iterations)]


class Flow(Sequence):
    """A blueprint under construction. Its own blocks are a :class:`Sequence`."""

    def __init__(self, name: str, *, title: Optional[str] = None, description: Optional[str] = None,
                 input_schema: Optional[Mapping[str, Any]] = None, timeout: Optional[DurationLike] = None,
                 version: Optional[int] = None) -> None:
        self._refs: Dict[str, Node] = {}
        super().__init__(self)
        self._flow = self
        self.name = name
        self.title = title
        self.description = description
        self.input_schema = dict(input_schema) if input_schema is not None else None
        self.timeout = duration(timeout)
        self.version = version
        self._output: Any = None
        self._on_failure = Sequence(self)
        self.triggers: List[Dict[str, Any]] = []

    def _register(self, node: Node) -> None:
        if not isinstance(node.ref, str) or not REF_PATTERN.match(node.ref):
            raise ValueError("ref %r must match %s (lower case, digits and _, starting with a letter)"
                             % (node.ref, REF_PATTERN.pattern))
        if node.ref in self._refs:
            raise ValueError("ref %r is used twice; every ref must be unique in the flow" % node.ref)
        if node.ref in ("flow", "item", "index", "iteration", "secrets"):
            raise ValueError("ref %r is a reserved name of the expression language" % node.ref)
        self._refs[node.ref] = node

    # scope ---------------------------------------------------------------
    @property
    def input(self) -> Expr:  # type: ignore[override]
        """``flow.input``."""
        return FLOW.input

    @property
    def run_id(self) -> Expr:
        return FLOW.run_id

    @property
    def error(self) -> Expr:
        return FLOW.error

    def node(self, ref: str) -> Node:
        """The block with this ref."""
        return self._refs[ref]

    # flow-level parts ----------------------------------------------------------
    def output(self, value: Any) -> "Flow":  # type: ignore[override]
        """The run's output (templates allowed)."""
        self._output = value
        return self

    def on_failure(self) -> Sequence:
        """Blocks run last when the run fails."""
        return self._on_failure

    def trigger(self, cron: str, input: Optional[Mapping[str, Any]] = None) -> "Flow":
        """Start runs on a cron schedule."""
        t: Dict[str, Any] = {"cron": cron}
        if input is not None:
            t["input"] = _value(input)
        self.triggers.append(t)
        return self

    # output ------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name}
        if self.version is not None:
            d["version"] = self.version
        if self.title is not None:
            d["title"] = self.title
        if self.description is not None:
            d["description"] = self.description
        if self.input_schema is not None:
            d["input_schema"] = self.input_schema
        if self.timeout is not None:
            d["timeout"] = self.timeout
        d["blocks"] = self.to_list()
        if self._output is not None:
            d["output"] = _value(self._output)
        if self._on_failure.nodes:
            d["on_failure"] = self._on_failure.to_list()
        if self.triggers:
            d["triggers"] = list(self.triggers)
        return d

    def to_json(self, indent: Optional[int] = 2) -> str:
        """The blueprint as JSON text (stable: same flow, same bytes)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + ("\n" if indent else "")

    # validation -----------------------------------------------------------------
    def validate(self, schema: Optional[Mapping[str, Any]] = None) -> List[Problem]:
        """Every problem found locally: the shipped JSON Schema, refs, and refs
        read where they are not in scope. An empty list means valid here
        (the server also checks block names and input schemas)."""
        from .schema import flow_schema, validate as schema_validate

        problems: List[Problem] = []
        try:
            doc = self.to_dict()
        except (TypeError, ValueError) as e:
            return [Problem("", str(e))]
        sch = schema if schema is not None else flow_schema()
        if sch is not None:
            problems.extend(schema_validate(doc, sch))
        problems.extend(self._scope_problems())
        return problems

    def check(self) -> "Flow":
        """Raise :class:`ValidationError` listing every problem, else return self."""
        problems = self.validate()
        if problems:
            raise ValidationError(problems, "blueprint %r" % self.name)
        return self

    def _scope_problems(self) -> List[Problem]:
        out: List[Problem] = []
        base = frozenset({"flow"})
        visible = _check_seq(self, "/blocks", base, out)
        if self._output is not None:
            _check_names(_value_names(self._output), visible, "/output", out)
        _check_seq(self._on_failure, "/on_failure", visible, out)
        return out


def _exports(node: Node) -> Set[str]:
    """Refs visible after node in its sequence."""
    out = {node.ref}
    if isinstance(node, Fork):
        for b in node.branches:
            for n in b.nodes:
                out |= _exports(n)
    return out


def _check_seq(seq: Sequence, ptr: str, visible: FrozenSet[str], out: List[Problem]) -> FrozenSet[str]:
    if any(n.depends_on is not None for n in seq.nodes):
        return _check_dag(seq, ptr, visible, out)
    vis = set(visible)
    for i, n in enumerate(seq.nodes):
        _check_node(n, "%s/%d" % (ptr, i), frozenset(vis), out)
        vis |= _exports(n)
    return frozenset(vis)


def _check_dag(seq: Sequence, ptr: str, visible: FrozenSet[str], out: List[Problem]) -> FrozenSet[str]:
    """A DAG list: each block sees what it depends on, directly or not."""
    index = {n.ref: i for i, n in enumerate(seq.nodes)}
    seen: Dict[str, Set[str]] = {}
    pending = list(seq.nodes)
    while pending:
        left = []
        for n in pending:
            deps = [d for d in (n.depends_on or []) if d in index]
            if any(d not in seen for d in deps):
                left.append(n)
                continue
            vis: Set[str] = set()
            for d in deps:
                vis |= seen[d]
            _check_node(n, "%s/%d" % (ptr, index[n.ref]), frozenset(visible | vis), out)
            seen[n.ref] = vis | _exports(n)
        if len(left) == len(pending):
            out.append(Problem(ptr, "cycle among %s: blocks that wait for each other never start"
                               % ", ".join(n.ref for n in left)))
            break
        pending = left
    for n in seq.nodes:
        for d in n.depends_on or []:
            if d not in index:
                out.append(Problem("%s/%d/depends_on" % (ptr, index[n.ref]),
                                   "%r is not a block of this list" % d))
    vis_all = set(visible)
    for n in seq.nodes:
        vis_all |= _exports(n)
    return frozenset(vis_all)


def _check_node(n: Node, p: str, vis: FrozenSet[str], out: List[Problem]) -> None:
    if isinstance(n, (Task, Subflow)) and n.input_value is not None:
        _check_names(_value_names(n.input_value), vis, p + "/input", out)
    elif isinstance(n, (Lambda, Decision)):
        _check_names(_expr_names(n.expr), vis, p + "/expr", out)
    elif isinstance(n, Map):
        _check_names(_expr_names(n.items), vis, p + "/items", out)
    elif isinstance(n, Fail):
        _check_names(_value_names(n.message), vis, p + "/message", out)
    elif isinstance(n, Wait) and n.until is not None:
        _check_names(_value_names(n.until), vis, p + "/until", out)
    inner = vis
    if isinstance(n, Map):
        inner = vis | {"item", "index"}
    elif isinstance(n, Loop):
        inner = vis | {"iteration"}
    for suffix, seq in n._children():
        done = _check_seq(seq, p + suffix, inner, out)
        if isinstance(n, Loop) and n._while is not None:
            _check_names(_expr_names(n._while), done, p + "/while", out)
    if n._catch is not None:
        _check_seq(n._catch, p + "/catch", vis | {n.ref}, out)
    if n.compensate is not None and n.compensate.input is not None:
        _check_names(_value_names(n.compensate.input), vis | {n.ref}, p + "/compensate/input", out)


def _check_names(names: Iterable[str], vis: FrozenSet[str], p: str, out: List[Problem]) -> None:
    for name in sorted(set(names) - vis):
        if name == "secrets":
            out.append(Problem(p, "secrets are only available in a block definition's dispatch"))
        else:
            out.append(Problem(p, "%r is not in scope here: only earlier blocks of the same sequence, "
                                  "refs inside earlier forks, and the enclosing map/loop's item/index/"
                                  "iteration can be read (read a control block's own output instead)" % name))


class BlockDefinition:
    """A block definition (``PUT /api/v1/blocks``).

    ``dispatch`` is ``{"kind": "worker", "queue": ...}`` or ``{"kind": "http",
    "url": ..., ...}``; use :meth:`worker` / :meth:`http` to build it."""

    def __init__(self, name: str, *, dispatch: Optional[Mapping[str, Any]] = None, version: Optional[int] = None,
                 title: Optional[str] = None, description: Optional[str] = None,
                 input_schema: Optional[Mapping[str, Any]] = None, output_schema: Optional[Mapping[str, Any]] = None,
                 retry: Union[Retry, Mapping[str, Any], None] = None, timeout: Optional[DurationLike] = None,
                 heartbeat_timeout: Optional[DurationLike] = None, concurrency: Optional[int] = None,
                 resources: Optional[Mapping[str, float]] = None) -> None:
        self.name = name
        self.version = version
        self.title = title
        self.description = description
        self.dispatch = dict(dispatch) if dispatch is not None else {"kind": "worker"}
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.retry = Retry(**retry) if isinstance(retry, Mapping) else retry
        self.timeout = duration(timeout)
        self.heartbeat_timeout = duration(heartbeat_timeout)
        self.concurrency = concurrency
        self.resources = dict(resources) if resources is not None else None

    @staticmethod
    def worker(queue: Optional[str] = None) -> Dict[str, Any]:
        d: Dict[str, Any] = {"kind": "worker"}
        if queue:
            d["queue"] = queue
        return d

    @staticmethod
    def http(url: str, *, method: Optional[str] = None, headers: Optional[Mapping[str, str]] = None,
             body: Optional[str] = None, timeout: Optional[DurationLike] = None) -> Dict[str, Any]:
        d: Dict[str, Any] = {"kind": "http", "url": url}
        if method:
            d["method"] = method
        if body:
            d["body"] = body
        if headers:
            d["headers"] = dict(headers)
        if timeout is not None:
            d["timeout"] = duration(timeout)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BlockDefinition":
        known = {"name", "version", "title", "description", "dispatch", "input_schema", "output_schema", "retry",
                 "timeout", "heartbeat_timeout", "concurrency", "resources"}
        unknown = set(d) - known
        if unknown:
            raise ValueError("unknown key(s) in block definition: %s" % ", ".join(sorted(unknown)))
        args = {k: v for k, v in d.items() if k != "name"}
        return cls(str(d["name"]), **args)

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name}
        for k in ("version", "title", "description"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        d["dispatch"] = self.dispatch
        for k in ("input_schema", "output_schema"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.retry is not None:
            d["retry"] = self.retry.to_dict()
        for k in ("timeout", "heartbeat_timeout", "concurrency", "resources"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + ("\n" if indent else "")


# A callable building a flow (for ``python -m weft build module:function``).
FlowFactory = Callable[[], Flow]
