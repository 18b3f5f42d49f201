"""Components and pipelines, Kubeflow style.

``@component`` turns a typed Python function into a block definition (its
input and output schemas come from the type hints) and the worker handler
that runs it; ``@pipeline`` turns a function that calls components into a
blueprint in DAG form by tracing the calls::

    from weft.components import component, pipeline, Input, Output, Dataset, Model

    @component
    def prepare(rows: int, data: Output[Dataset]) -> int:
        with open(data.path, "w") as f:
            f.write("...")
        return rows

    @component(name="model.fit", queue="gpu")
    def fit(data: Input[Dataset], epochs: int = 3, model: Output[Model] = None) -> float:
        ...

    @pipeline(name="train-pipeline")
    def train_pipeline(rows: int = 100):
        prep = prepare(rows=rows)
        fit(data=prep.outputs["data"], epochs=5)

Inside a pipeline a call returns a :class:`TaskCall`: ``.output`` is the
function's return value, ``.outputs[name]`` a field of a NamedTuple return
or an ``Output[...]`` artifact, and ``.after(other)`` adds an ordering
dependency. ``with Condition(expr):`` runs the calls inside only when expr
holds (a decision block) and ``with ParallelFor(items) as item:`` runs them
once per item (a map block). A call waits for the calls whose values it
reads. ``python -m weft compile module:pipeline -o DIR`` writes the
blueprint and the block definitions; ``python -m weft serve-components
module`` runs the handlers as a worker.

Refused when decorating: a parameter without a type hint, and a type that
has no JSON form (the message names the parameter). Refused when compiling:
a value from another pipeline's trace, and an argument that is not JSON.
"""

import inspect
import json
import os
import re
import tempfile
import typing
from typing import Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, Tuple, TypeVar, Union

from .expr import Expr, lit
from .flow import BlockDefinition, Flow, Node, Sequence

__all__ = [
    "Artifact", "Condition", "Component", "Dataset", "Input", "Metrics", "Model", "Output", "ParallelFor",
    "Pipeline", "TaskCall", "component", "components_of", "pipeline",
]

T = TypeVar("T")


class Artifact:
    """A file a component reads or writes; ``path`` is where it is on disk."""

    kind = "artifact"

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return "%s(%r)" % (type(self).__name__, self.path)

    def __fspath__(self) -> str:
        return self.path


class Dataset(Artifact):
    kind = "dataset"


class Model(Artifact):
    kind = "model"


class Metrics(Artifact):
    kind = "metrics"


class Input(Generic[T]):
    """``Input[Dataset]``: an artifact another component wrote, as a local file."""


class Output(Generic[T]):
    """``Output[Model]``: an artifact this component writes to ``.path``; it is
    stored under the parameter's name when the function returns."""


_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


def _schema(tp: Any, where: str) -> Dict[str, Any]:
    """The JSON Schema of a Python type hint; TypeError names where."""
    if tp is inspect.Parameter.empty:
        raise TypeError("%s has no type hint: annotate it (int, float, str, bool, list, dict, "
                        "Input[Dataset], Output[Model]...)" % where)
    if tp is Any:
        return {}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is type(None):
        return {"type": "null"}
    if tp is list:
        return {"type": "array"}
    if tp is dict:
        return {"type": "object"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, List):
        return {"type": "array", "items": _schema(args[0], where)} if args else {"type": "array"}
    if origin in (dict, Dict):
        if args and args[0] is not str:
            raise TypeError("%s: %s has keys that are not str; JSON objects have string keys" % (where, _tname(tp)))
        return {"type": "object", "additionalProperties": _schema(args[1], where)} if args else {"type": "object"}
    if origin is Union:
        return {"anyOf": [_schema(a, where) for a in args]}
    if _is_namedtuple(tp):
        hints = typing.get_type_hints(tp)
        return {"type": "object", "required": list(tp._fields),
                "properties": {f: _schema(hints.get(f, inspect.Parameter.empty), "%s field %s" % (where, f))
                               for f in tp._fields}}
    raise TypeError("%s has type %s, which has no JSON form: use int, float, str, bool, list, dict, "
                    "List[...], Dict[str, ...], Optional[...], a NamedTuple, or Input/Output[...] for files"
                    % (where, _tname(tp)))


def _tname(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def _artifact(tp: Any) -> Optional[Tuple[str, type]]:
    """("in" | "out", artifact class) for Input[X] / Output[X]."""
    origin = typing.get_origin(tp)
    if origin in (Input, Output):
        (cls,) = typing.get_args(tp) or (Artifact,)
        if not (isinstance(cls, type) and issubclass(cls, Artifact)):
            raise TypeError("%s[...] takes an artifact type (Dataset, Model, Metrics, Artifact), not %s"
                            % (origin.__name__, _tname(cls)))
        return ("in" if origin is Input else "out"), cls
    return None


class Component:
    """A typed function made a block: ``definition`` is its block definition
    and ``handler`` the worker handler; calling it inside a ``@pipeline``
    adds a block to the pipeline."""

    def __init__(self, fn: Callable[..., Any], name: Optional[str] = None, queue: Optional[str] = None,
                 retry: Optional[Mapping[str, Any]] = None, timeout: Optional[str] = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        if not _NAME.match(self.name):
            raise ValueError("component name %r: use lower case letters, digits, '.', '_' and '-'" % self.name)
        self.queue = queue
        sig = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn)
        except Exception as e:  # a hint that does not resolve
            raise TypeError("component %s: its type hints do not resolve: %s" % (self.name, e))
        self.params: List[inspect.Parameter] = []
        self.inputs: Dict[str, Dict[str, Any]] = {}
        self.required: List[str] = []
        self.artifacts_in: Dict[str, type] = {}
        self.artifacts_out: Dict[str, type] = {}
        for p in sig.parameters.values():
            where = "component %s: parameter %r" % (self.name, p.name)
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError("%s: *args and **kwargs cannot be typed inputs; name each parameter" % where)
            tp = hints.get(p.name, inspect.Parameter.empty)
            art = _artifact(tp) if tp is not inspect.Parameter.empty else None
            self.params.append(p)
            if art and art[0] == "out":
                self.artifacts_out[p.name] = art[1]
                continue
            if art:
                self.artifacts_in[p.name] = art[1]
                self.inputs[p.name] = {"description": "artifact (%s)" % art[1].kind}
            else:
                self.inputs[p.name] = _schema(tp, where)
                if p.default is not p.empty:
                    try:
                        json.dumps(p.default)
                    except (TypeError, ValueError):
                        raise TypeError("%s: its default %r is not JSON" % (where, p.default))
                    self.inputs[p.name]["default"] = p.default
            if p.default is p.empty:
                self.required.append(p.name)
        ret = hints.get("return", inspect.Parameter.empty)
        if ret is inspect.Parameter.empty and sig.return_annotation is inspect.Signature.empty:
            ret = type(None)
        self.returns = ret
        self.output_schema = _schema(ret, "component %s: the return value" % self.name)
        self.retry, self.timeout = retry, timeout
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    @property
    def definition(self) -> BlockDefinition:
        doc = inspect.getdoc(self.fn) or ""
        title, _, desc = doc.partition("\n")
        inp: Dict[str, Any] = {"type": "object", "properties": dict(sorted(self.inputs.items())),
                               "additionalProperties": False}
        if self.required:
            inp["required"] = sorted(r for r in self.required if r in self.inputs)
        return BlockDefinition(self.name, title=title.strip() or None, description=desc.strip() or None,
                               dispatch=BlockDefinition.worker(self.queue), input_schema=inp,
                               output_schema=self.output_schema or None, retry=self.retry, timeout=self.timeout)

    def handler(self, input: Mapping[str, Any], ctx: Any) -> Any:
        """Runs the function on a task's input: input artifacts come as local
        paths, output artifacts get a fresh path and are stored on return."""
        kwargs: Dict[str, Any] = {}
        tmp = None
        for p in self.params:
            if p.name in self.artifacts_out:
                if tmp is None:
                    tmp = tempfile.mkdtemp(prefix="weft-component-")
                kwargs[p.name] = self.artifacts_out[p.name](os.path.join(tmp, p.name))
            elif p.name in self.artifacts_in:
                if p.name in input:
                    kwargs[p.name] = self.artifacts_in[p.name](input[p.name])
            elif p.name in input:
                kwargs[p.name] = input[p.name]
        result = self.fn(**kwargs)
        for name in sorted(self.artifacts_out):
            art = kwargs[name]
            if not os.path.exists(art.path):
                raise RuntimeError("component %s did not write its output artifact %r to %s"
                                   % (self.name, name, art.path))
            ctx.save_artifact(name, art.path)
        if _is_namedtuple(type(result)):
            return dict(result._asdict())
        return result

    def __call__(self, **kwargs: Any) -> "TaskCall":
        tr = _Trace.current()
        if tr is None:
            raise RuntimeError("component %s is called outside a @pipeline; call %s.fn(...) to run the function"
                               % (self.name, self.name))
        return tr.call(self, kwargs)

    def __repr__(self) -> str:
        return "<component %s>" % self.name


def component(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None, queue: Optional[str] = None,
              retry: Optional[Mapping[str, Any]] = None, timeout: Optional[str] = None) -> Any:
    """Make a typed function a component (a block definition and its handler).
    ``@component`` or ``@component(name="model.fit", queue="gpu")``."""
    def wrap(f: Callable[..., Any]) -> Component:
        return Component(f, name=name, queue=queue, retry=retry, timeout=timeout)
    return wrap(fn) if fn is not None else wrap


class _Traced(Expr):
    """An expression handed out by a pipeline's trace, which it remembers."""

    def __init__(self, source: str, names: Tuple[str, ...], trace: "_Trace") -> None:
        super().__init__(source, names=names)
        self.trace = trace


class _Outputs:
    def __init__(self, call: "TaskCall") -> None:
        self._call = call

    def __getitem__(self, name: str) -> Expr:
        c, comp = self._call, self._call.component
        if name in comp.artifacts_out:
            return c._ref_expr("artifacts." + name)
        if _is_namedtuple(comp.returns) and name in comp.returns._fields:
            return c._ref_expr("output." + name)
        have = sorted(comp.artifacts_out) + (list(comp.returns._fields) if _is_namedtuple(comp.returns) else [])
        raise KeyError("component %s has no output %r; it has: %s (and .output, its return value)"
                       % (comp.name, name, ", ".join(have) or "none"))


class TaskCall:
    """A component's call inside a pipeline: one block of the blueprint."""

    def __init__(self, trace: "_Trace", comp: Component, ref: str, node: Node) -> None:
        self.trace, self.component, self.ref, self.node = trace, comp, ref, node

    def _ref_expr(self, path: str) -> Expr:
        return _Traced(self.ref + "." + path, (self.ref,), self.trace)

    @property
    def output(self) -> Expr:
        """The function's return value."""
        return self._ref_expr("output")

    @property
    def outputs(self) -> _Outputs:
        """``outputs["name"]``: an Output[...] artifact or a NamedTuple field."""
        return _Outputs(self)

    @property
    def status(self) -> Expr:
        return self._ref_expr("status")

    def after(self, *calls: "TaskCall", trigger_rule: Optional[str] = None) -> "TaskCall":
        """Run after calls (even if no value passes between them)."""
        for c in calls:
            if not isinstance(c, TaskCall):
                raise TypeError("after() takes calls of components in this pipeline, not %r" % (c,))
            if c.trace is not self.trace:
                raise ValueError("%s.after(%s): %s belongs to another pipeline" % (self.ref, c.ref, c.ref))
            self.trace.dep(self, c.ref)
        if trigger_rule is not None:
            self.node.after(trigger_rule=trigger_rule)
        return self

    def __repr__(self) -> str:
        return "<call %s of %s>" % (self.ref, self.component.name)


class _Scope:
    """A list being traced: the pipeline's, a condition's or a loop's."""

    def __init__(self, seq: Sequence, owner: Optional[Node], parent: Optional["_Scope"]) -> None:
        self.seq, self.owner, self.parent = seq, owner, parent
        self.refs: List[str] = []


class _Trace:
    _stack: List["_Trace"] = []

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.scope = _Scope(flow, None, None)
        self.where: Dict[str, _Scope] = {}  # ref -> the scope holding it
        self.used: Dict[str, int] = {}
        self.components: Dict[str, Component] = {}

    @classmethod
    def current(cls) -> Optional["_Trace"]:
        return cls._stack[-1] if cls._stack else None

    def new_ref(self, base: str) -> str:
        base = re.sub(r"[^a-z0-9_]", "_", base.lower()).strip("_") or "step"
        if not base[0].isalpha():
            base = "c_" + base
        n = self.used.get(base, 0) + 1
        self.used[base] = n
        return base if n == 1 else "%s_%d" % (base, n)

    def value(self, v: Any, where: str) -> Any:
        """A call's argument as a blueprint value; refuses other traces and non-JSON."""
        if isinstance(v, TaskCall):
            raise TypeError("%s: pass %s.output (or .outputs[...]) rather than the call itself" % (where, v.ref))
        if isinstance(v, Expr):
            t = v.trace if isinstance(v, _Traced) else self
            foreign = [n for n in sorted(v.names) if n not in self.where and n not in ("flow", "item", "index")]
            if t is not self or foreign:
                t = t if t is not self else None
                raise ValueError("%s: the value %s comes from another pipeline (%s); a pipeline can pass on only "
                                 "values of its own calls and parameters" % (where, v.source, t.flow.name if t else "not this one"))
            return v
        if isinstance(v, Mapping):
            out = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise TypeError("%s: key %r is not a string; JSON objects have string keys" % (where, k))
                out[k] = self.value(x, "%s[%r]" % (where, k))
            return out
        if isinstance(v, (list, tuple)):
            return [self.value(x, "%s[%d]" % (where, i)) for i, x in enumerate(v)]
        if v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and v == v and abs(v) != float("inf")):
            return v
        raise TypeError("%s: %r (%s) is not a JSON value; pass numbers, strings, booleans, None, lists, dicts, "
                        "pipeline parameters or outputs of other calls" % (where, v, type(v).__name__))

    def refs_of(self, v: Any) -> List[str]:
        out: List[str] = []
        if isinstance(v, Expr):
            out += [n for n in sorted(v.names) if n in self.where]
        elif isinstance(v, Mapping):
            for x in v.values():
                out += self.refs_of(x)
        elif isinstance(v, list):
            for x in v:
                out += self.refs_of(x)
        return out

    def dep(self, dependant: Any, ref: str) -> None:
        """dependant (a call or a control node) reads ref: the block of ref's
        list that holds dependant waits for ref."""
        node = dependant.node if isinstance(dependant, TaskCall) else dependant
        here, there = self.where[node.ref], self.where[ref]
        if there not in self._ancestors(here):
            raise ValueError("%s reads %s, which runs inside a Condition or ParallelFor that %s is not in; "
                             "read the value inside it" % (node.ref, ref, node.ref))
        cur, s = node, here
        while s is not there:
            assert s.owner is not None and s.parent is not None
            cur, s = s.owner, s.parent
        if cur.ref != ref and ref not in (cur.depends_on or []):
            cur.after(ref)

    def _ancestors(self, s: Optional[_Scope]) -> List[_Scope]:
        out = []
        while s is not None:
            out.append(s)
            s = s.parent
        return out

    def call(self, comp: Component, kwargs: Mapping[str, Any]) -> TaskCall:
        known = {p.name for p in comp.params}
        for k in kwargs:
            if k not in known:
                raise TypeError("component %s has no parameter %r; it takes: %s" % (comp.name, k, ", ".join(sorted(known))))
            if k in comp.artifacts_out:
                raise TypeError("component %s: %r is an Output[...] the component writes; do not pass it" % (comp.name, k))
        missing = [r for r in comp.required if r not in kwargs and r not in comp.artifacts_out]
        if missing:
            raise TypeError("component %s: missing argument %s" % (comp.name, ", ".join(repr(m) for m in missing)))
        other = self.components.get(comp.name)
        if other is not None and other is not comp:
            raise ValueError("two components are named %r in pipeline %s" % (comp.name, self.flow.name))
        self.components[comp.name] = comp
        inp = {k: self.value(kwargs[k], "component %s argument %r" % (comp.name, k)) for k in sorted(kwargs)}
        ref = self.new_ref(comp.fn.__name__)
        node = self.scope.seq.block(ref, comp.name, inp)
        node.after()
        self.where[ref] = self.scope
        self.scope.refs.append(ref)
        call = TaskCall(self, comp, ref, node)
        for r in sorted(set(self.refs_of(inp))):
            self.dep(call, r)
        return call


class Condition:
    """``with Condition(expr):`` — the calls inside run only when expr holds
    (a decision block whose other case does nothing)."""

    def __init__(self, cond: Any, name: Optional[str] = None) -> None:
        self.cond, self.name = cond, name

    def __enter__(self) -> "Condition":
        tr = _Trace.current()
        if tr is None:
            raise RuntimeError("Condition is used outside a @pipeline")
        c = tr.value(lit(self.cond), "Condition")
        ref = tr.new_ref(self.name or "condition")
        from .expr import if_
        node = tr.scope.seq.decision(ref, if_(c, "then", "else"))
        node.default()
        node.after()
        tr.where[ref] = tr.scope
        for r in sorted(set(tr.refs_of(c))):
            tr.dep(node, r)
        self._saved = tr.scope
        tr.scope = _Scope(node.case("then"), node, tr.scope)
        self._node, self._tr = node, tr
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tr.scope = self._saved

    @property
    def output(self) -> Expr:
        """The output of the last call inside, when the condition held (else null)."""
        return _Traced(self._node.ref + ".output", (self._node.ref,), self._tr)


class ParallelFor:
    """``with ParallelFor(items) as item:`` — the calls inside run once per
    element of items, side by side (a map block); ``item`` is the element."""

    def __init__(self, items: Any, concurrency: Optional[int] = None, name: Optional[str] = None) -> None:
        self.items, self.concurrency, self.name = items, concurrency, name

    def __enter__(self) -> Expr:
        tr = _Trace.current()
        if tr is None:
            raise RuntimeError("ParallelFor is used outside a @pipeline")
        items = tr.value(lit(self.items), "ParallelFor items")
        ref = tr.new_ref(self.name or "for_each")
        node = tr.scope.seq.map(ref, items, concurrency=self.concurrency)
        node.after()
        tr.where[ref] = tr.scope
        for r in sorted(set(tr.refs_of(items))):
            tr.dep(node, r)
        self._saved, self._tr, self._node = tr.scope, tr, node
        tr.scope = _Scope(node.body, node, tr.scope)
        return node.item

    def __exit__(self, *exc: Any) -> None:
        self._tr.scope = self._saved

    @property
    def output(self) -> Expr:
        """The list, in item order, of each iteration's output."""
        return _Traced(self._node.ref + ".output", (self._node.ref,), self._tr)


class Pipeline:
    """A function traced into a blueprint in DAG form (``@pipeline``)."""

    def __init__(self, fn: Callable[..., Any], name: Optional[str] = None, description: Optional[str] = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.description = description or (inspect.getdoc(fn) or "").strip() or None
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
        self.props: Dict[str, Dict[str, Any]] = {}
        self.required: List[str] = []
        for p in sig.parameters.values():
            where = "pipeline %s: parameter %r" % (self.name, p.name)
            s = _schema(hints.get(p.name, inspect.Parameter.empty), where)
            if p.default is not p.empty:
                try:
                    json.dumps(p.default)
                except (TypeError, ValueError):
                    raise TypeError("%s: its default %r is not JSON" % (where, p.default))
                s["default"] = p.default
            else:
                self.required.append(p.name)
            self.props[p.name] = s
        self._last: Optional[Tuple[Flow, List[Component]]] = None

    def trace(self) -> Tuple[Flow, List[Component]]:
        """The blueprint and the components it calls, in name order."""
        schema: Dict[str, Any] = {"type": "object", "properties": self.props}
        if self.required:
            schema["required"] = list(self.required)
        f = Flow(self.name, description=self.description, input_schema=schema)
        tr = _Trace(f)
        args = {}
        for name in self.props:
            args[name] = _Traced("flow.input." + name, ("flow",), tr)
        _Trace._stack.append(tr)
        try:
            out = self.fn(**args)
        finally:
            _Trace._stack.pop()
        if out is not None:
            f.output(tr.value(out if not isinstance(out, TaskCall) else out.output, "pipeline %s: its return value" % self.name))
        problems = f.validate()
        if problems:
            raise ValueError("pipeline %s does not make a valid blueprint: %s"
                             % (self.name, "; ".join("%s: %s" % (p.path, p.message) for p in problems)))
        comps = [tr.components[k] for k in sorted(tr.components)]
        return f, comps

    def flow(self) -> Flow:
        return self.trace()[0]

    def components(self) -> List[Component]:
        return self.trace()[1]

    def compile(self, directory: str) -> List[str]:
        """Writes DIR/NAME.json (the blueprint) and DIR/blocks/COMPONENT.json;
        returns the paths written."""
        f, comps = self.trace()
        os.makedirs(os.path.join(directory, "blocks"), exist_ok=True)
        paths = []
        p = os.path.join(directory, self.name + ".json")
        with open(p, "w", encoding="utf-8") as out:
            out.write(f.to_json())
        paths.append(p)
        for c in comps:
            p = os.path.join(directory, "blocks", c.name + ".json")
            with open(p, "w", encoding="utf-8") as out:
                out.write(json.dumps(c.definition.to_dict(), indent=2, sort_keys=True) + "\n")
            paths.append(p)
        return paths

    def __call__(self, *a: Any, **kw: Any) -> Any:
        raise RuntimeError("pipeline %s is compiled, not called: use .flow(), .compile(DIR) or "
                           "python -m weft compile" % self.name)


def pipeline(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
             description: Optional[str] = None) -> Any:
    """Make a function that calls components a pipeline (a DAG blueprint)."""
    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, description=description)
    return wrap(fn) if fn is not None else wrap


def components_of(module: Any) -> Tuple[List[Component], List[Pipeline]]:
    """The components and pipelines a module defines, by name."""
    comps, pipes = {}, {}
    for v in vars(module).values():
        if isinstance(v, Component):
            comps[v.name] = v
        elif isinstance(v, Pipeline):
            pipes[v.name] = v
    return [comps[k] for k in sorted(comps)], [pipes[k] for k in sorted(pipes)]
