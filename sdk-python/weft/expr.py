"""Expressions of the flow language (expr-lang), built from Python.

An :class:`Expr` renders to expr-lang source. Placed in a block's input it
becomes a ``${...}`` template (``str(e)`` and f-strings give ``"${src}"``);
placed in an ``expr``/``items``/``while`` field it is written bare.

    best.output["r2"] >= 0.8                   ->  best.output.r2 >= 0.8
    if_(a.output["r2"] >= b.output["r2"], a.output, b.output)
                                               ->  a.output.r2 >= b.output.r2 ? a.output : b.output
    flow.input["min_r2"].or_default(0.8)      ->  flow.input.min_r2 ?? 0.8
    gate.output.get("uri")                     ->  gate.output?.uri
    (x > 1) & ~y                               ->  x > 1 and not y

Python's ``and``/``or``/``not`` cannot be overloaded: use ``&``, ``|`` and
``~`` (an Expr refuses to be used as a bool so a mistake is loud).
"""

import json
import math
import re
from typing import Any, FrozenSet, Iterable, Mapping, Optional, Sequence, Union

__all__ = ["Expr", "expr", "raw", "lit", "if_", "call", "names_in_source", "names_in_template"]

# Binding strength, higher binds tighter (rendering only).
_TERNARY = 1
_COALESCE = 5  # written with parentheses whenever it is an operand
_OR = 10
_AND = 15
_CMP = 20
_ADD = 30
_MUL = 60
_UNARY = 90
_ATOM = 100

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "nil", "matches", "contains", "startsWith",
                       "endsWith", "let", "if", "else", "null"})


class Expr:
    """An expression; see the module documentation."""

    __slots__ = ("_src", "_prec", "_names")

    def __init__(self, source: str, prec: int = _ATOM, names: Optional[Iterable[str]] = None) -> None:
        self._src = source
        self._prec = prec
        self._names: Optional[FrozenSet[str]] = frozenset(names) if names is not None else None

    # -- rendering -----------------------------------------------------
    @property
    def source(self) -> str:
        """The expr-lang source text."""
        return self._src

    @property
    def names(self) -> FrozenSet[str]:
        """Top-level names the expression reads (refs, ``flow``, ``item``...)."""
        if self._names is None:
            return names_in_source(self._src)
        return self._names

    def template(self) -> str:
        """The expression as a ``${...}`` template string."""
        return "${" + self._src + "}"

    def __str__(self) -> str:
        return self.template()

    def __format__(self, spec: str) -> str:
        return format(self.template(), spec)

    def __repr__(self) -> str:
        return "Expr(%r)" % self._src

    def __bool__(self) -> bool:
        raise TypeError("a weft expression has no truth value in Python: combine conditions with &, | and ~, "
                        "and choose values with if_(cond, a, b)")

    __hash__ = object.__hash__

    def same(self, other: "Expr") -> bool:
        """True when both expressions have the same source."""
        return isinstance(other, Expr) and other._src == self._src

    # -- member access -------------------------------------------------
    def __getitem__(self, key: Any) -> "Expr":
        return self._member(key, ".")

    def get(self, key: Any) -> "Expr":
        """Optional member access: ``x?.key`` is nil when x is nil."""
        return self._member(key, "?.")

    def _member(self, key: Any, dot: str) -> "Expr":
        base = _wrap(self, _ATOM)
        names = self.names
        if isinstance(key, str) and _IDENT.match(key) and key not in _KEYWORDS:
            return Expr(base + dot + key, _ATOM, names)
        k = lit(key)
        sep = "?." if dot == "?." else ""
        return Expr(base + sep + "[" + k._src + "]", _ATOM, names | k.names)

    # -- operators -----------------------------------------------------
    def __eq__(self, other: Any) -> "Expr":  # type: ignore[override]
        return _binary("==", _CMP, self, other)

    def __ne__(self, other: Any) -> "Expr":  # type: ignore[override]
        return _binary("!=", _CMP, self, other)

    def __lt__(self, other: Any) -> "Expr":
        return _binary("<", _CMP, self, other)

    def __le__(self, other: Any) -> "Expr":
        return _binary("<=", _CMP, self, other)

    def __gt__(self, other: Any) -> "Expr":
        return _binary(">", _CMP, self, other)

    def __ge__(self, other: Any) -> "Expr":
        return _binary(">=", _CMP, self, other)

    def __and__(self, other: Any) -> "Expr":
        return _binary("and", _AND, self, other)

    def __rand__(self, other: Any) -> "Expr":
        return _binary("and", _AND, other, self)

    def __or__(self, other: Any) -> "Expr":
        return _binary("or", _OR, self, other)

    def __ror__(self, other: Any) -> "Expr":
        return _binary("or", _OR, other, self)

    def __invert__(self) -> "Expr":
        return Expr("not " + _wrap(self, _UNARY), _UNARY, self.names)

    def __neg__(self) -> "Expr":
        return Expr("-" + _wrap(self, _UNARY), _UNARY, self.names)

    def __add__(self, other: Any) -> "Expr":
        return _binary("+", _ADD, self, other)

    def __radd__(self, other: Any) -> "Expr":
        return _binary("+", _ADD, other, self)

    def __sub__(self, other: Any) -> "Expr":
        return _binary("-", _ADD, self, other)

    def __rsub__(self, other: Any) -> "Expr":
        return _binary("-", _ADD, other, self)

    def __mul__(self, other: Any) -> "Expr":
        return _binary("*", _MUL, self, other)

    def __rmul__(self, other: Any) -> "Expr":
        return _binary("*", _MUL, other, self)

    def __truediv__(self, other: Any) -> "Expr":
        return _binary("/", _MUL, self, other)

    def __rtruediv__(self, other: Any) -> "Expr":
        return _binary("/", _MUL, other, self)

    def __mod__(self, other: Any) -> "Expr":
        return _binary("%", _MUL, self, other)

    def in_(self, container: Any) -> "Expr":
        """``self in container``."""
        return _binary("in", _CMP, self, container)

    def or_default(self, value: Any) -> "Expr":
        """``self ?? value``: value when self is nil (a missing input field)."""
        a, b = self, lit(value)
        left = a._src if a._prec == _ATOM else "(" + a._src + ")"
        right = b._src if b._prec == _ATOM else "(" + b._src + ")"
        return Expr(left + " ?? " + right, _COALESCE, a.names | b.names)

    def then(self, yes: Any, no: Any) -> "Expr":
        """``self ? yes : no``."""
        return if_(self, yes, no)


def lit(value: Any) -> Expr:
    """A Python value as an expression (an Expr is returned unchanged)."""
    if isinstance(value, Expr):
        return value
    if hasattr(value, "output") and hasattr(value, "ref") and not isinstance(value, (str, bytes)):
        raise TypeError("a block cannot be used as a value: use its .output (or .input, .status, .error)")
    if value is None:
        return Expr("nil", _ATOM, ())
    if isinstance(value, bool):
        return Expr("true" if value else "false", _ATOM, ())
    if isinstance(value, int):
        return Expr(str(value), _ATOM if value >= 0 else _UNARY, ())
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("NaN and infinity cannot be written in an expression")
        return Expr(repr(value), _ATOM if value >= 0 else _UNARY, ())
    if isinstance(value, str):
        return Expr(quote(value), _ATOM, ())
    if isinstance(value, Mapping):
        parts, names = [], set()  # type: list, set
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("map keys in expressions must be strings, got %r" % (k,))
            key = k if _IDENT.match(k) and k not in _KEYWORDS else quote(k)
            e = lit(v)
            names |= e.names
            parts.append(key + ": " + e._src)
        return Expr("{" + ", ".join(parts) + "}", _ATOM, names)
    if isinstance(value, (list, tuple)):
        items = [lit(v) for v in value]
        names = set()
        for e in items:
            names |= e.names
        return Expr("[" + ", ".join(e._src for e in items) + "]", _ATOM, names)
    raise TypeError("cannot write %r (%s) in an expression" % (value, type(value).__name__))


def quote(s: str) -> str:
    """An expr-lang single-quoted string literal."""
    body = json.dumps(s, ensure_ascii=False)[1:-1]
    body = body.replace('\\"', '"').replace("'", "\\'")
    return "'" + body + "'"


def expr(source: str) -> Expr:
    """An expression from expr-lang source text, such as ``"len(x.output) > 0"``."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("an expression must be a non-empty string")
    return Expr(source.strip(), _TERNARY, None)


def raw(source: str) -> Expr:
    """Source text used as an operand exactly as written (no parentheses
    added), for pieces such as the ``.score`` shorthand of ``map(list, .score)``."""
    return Expr(source, _ATOM, None)


def if_(cond: Any, yes: Any, no: Any) -> Expr:
    """``cond ? yes : no``."""
    c, a, b = lit(cond), lit(yes), lit(no)
    src = _wrap(c, _TERNARY + 1) + " ? " + _wrap(a, _TERNARY + 1) + " : " + _wrap(b, _TERNARY)
    return Expr(src, _TERNARY, c.names | a.names | b.names)


def call(function: str, *args: Any) -> Expr:
    """A builtin call: ``call("len", x.output)`` -> ``len(x.output)``."""
    if not _IDENT.match(function):
        raise ValueError("invalid function name %r" % function)
    es = [lit(a) for a in args]
    names = set()
    for e in es:
        names |= e.names
    return Expr(function + "(" + ", ".join(e._src for e in es) + ")", _ATOM, names)


def _wrap(e: Expr, need: int) -> str:
    return e._src if e._prec >= need else "(" + e._src + ")"


def _binary(op: str, prec: int, a: Any, b: Any) -> Expr:
    x, y = lit(a), lit(b)
    if prec == _CMP:  # comparisons do not chain: parenthesise equal levels
        left, right = _wrap(x, prec + 1), _wrap(y, prec + 1)
    else:
        left, right = _wrap(x, prec), _wrap(y, prec + 1)
    return Expr(left + " " + op + " " + right, prec, x.names | y.names)


# -- reading names back from source text ---------------------------------

_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`|[A-Za-z_$#][A-Za-z0-9_]*|\?\.|\S""")


def names_in_source(src: str) -> FrozenSet[str]:
    """Top-level identifiers an expr-lang source reads (best effort: names
    that might be map keys or let-bound are left out, never added)."""
    toks = _TOKEN.findall(src)
    out = set()
    let_bound = set()
    for i, t in enumerate(toks):
        if not (t[0].isalpha() or t[0] == "_"):
            continue
        prev = toks[i - 1] if i > 0 else ""
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if prev in (".", "?.") or t in _KEYWORDS or nxt in ("(", ":"):
            continue
        if prev == "let":
            let_bound.add(t)
            continue
        out.add(t)
    return frozenset(out - let_bound)


def names_in_template(s: str) -> FrozenSet[str]:
    """Names read by the ``${...}`` templates inside a string."""
    out = set()
    for src in template_sources(s):
        out |= names_in_source(src)
    return frozenset(out)


def template_sources(s: str) -> Sequence[str]:
    """The sources of the ``${...}`` parts of s (``$${`` is a literal)."""
    out = []
    i, n = 0, len(s)
    while i < n:
        j = s.find("${", i)
        if j < 0:
            break
        if j > 0 and s[j - 1] == "$":
            i = j + 2
            continue
        depth, k, quote_ch = 0, j + 2, ""
        while k < n:
            ch = s[k]
            if quote_ch:
                if ch == "\\":
                    k += 1
                elif ch == quote_ch:
                    quote_ch = ""
            elif ch in "'\"`":
                quote_ch = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    break
                depth -= 1
            k += 1
        out.append(s[j + 2:k])
        i = k + 1
    return out


ExprLike = Union[Expr, str]
