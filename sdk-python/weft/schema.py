"""A small JSON Schema (draft-07) checker, standard library only.

It covers the keywords Weft's schemas use: type, enum, const, properties,
required, additionalProperties, patternProperties, propertyNames, items
(one schema or a list), additionalItems, contains, min/maxItems,
uniqueItems, min/maxLength, pattern, format (ignored), minimum, maximum,
exclusiveMinimum/Maximum (number form), multipleOf, min/maxProperties,
dependencies, allOf, anyOf, oneOf, not, if/then/else, and local $ref
(``#``, ``#/definitions/...``, ``#/$defs/...``). Unknown keywords are ignored,
as the specification says.
"""

import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional

from .errors import Problem

__all__ = ["validate", "apply_defaults", "flow_schema", "block_schema", "schema_path"]

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(instance: Any, schema: Mapping[str, Any]) -> List[Problem]:
    """Every problem of instance against schema, each with a JSON pointer."""
    out: List[Problem] = []
    _Checker(schema).check(instance, schema, "", out)
    return out


def apply_defaults(schema: Optional[Mapping[str, Any]], value: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """value with the ``default`` of every missing top-level property of an
    object schema filled in (what a form generated from the schema shows)."""
    out: Dict[str, Any] = dict(value or {})
    props = (schema or {}).get("properties") or {}
    for k, sub in props.items():
        if k not in out and isinstance(sub, Mapping) and "default" in sub:
            out[k] = json.loads(json.dumps(sub["default"]))
    return out


def _ptr(base: str, key: Any) -> str:
    return base + "/" + str(key).replace("~", "~0").replace("/", "~1")


def _jtype(v: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if name == "integer" and isinstance(v, float):
            continue
        if _TYPES[name](v):
            return name
    return type(v).__name__


def _show(v: Any) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 60 else s[:57] + "..."


def _closest(results: List[List[Problem]], p: str) -> List[Problem]:
    """The problems of the alternative that came closest: one whose type
    matched, then the fewest problems."""
    def score(r: List[Problem]) -> Any:
        wrong_type = any(x.path == p and x.message.startswith("must be ") and ", not " in x.message for x in r)
        return (wrong_type, len(r))
    return min(results, key=score)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class _Checker:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self._re: Dict[str, Any] = {}

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError("only local $ref is supported, not %r" % ref)
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def regex(self, pattern: str) -> Any:
        r = self._re.get(pattern)
        if r is None:
            r = re.compile(pattern)
            self._re[pattern] = r
        return r

    def check(self, v: Any, s: Any, p: str, out: List[Problem]) -> None:
        if s is True or s is None:
            return
        if s is False:
            out.append(Problem(p, "no value is allowed here"))
            return
        if "$ref" in s:
            self.check(v, self.resolve(s["$ref"]), p, out)
            return  # draft-07: siblings of $ref are ignored
        t = s.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            if not any(_TYPES.get(x, lambda _: True)(v) for x in types):
                out.append(Problem(p, "must be %s, not %s" % (" or ".join(types), _jtype(v))))
                return
        if "enum" in s and not any(_equal(v, e) for e in s["enum"]):
            out.append(Problem(p, "must be one of %s, not %s" % (", ".join(_show(e) for e in s["enum"]), _show(v))))
        if "const" in s and not _equal(v, s["const"]):
            out.append(Problem(p, "must be %s" % _show(s["const"])))
        if isinstance(v, str):
            self._string(v, s, p, out)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            self._number(v, s, p, out)
        if isinstance(v, dict):
            self._object(v, s, p, out)
        if isinstance(v, list):
            self._array(v, s, p, out)
        for sub in s.get("allOf", []):
            self.check(v, sub, p, out)
        if "anyOf" in s:
            results = [self._try(v, sub, p) for sub in s["anyOf"]]
            if all(results):
                out.extend(_closest(results, p))
        if "oneOf" in s:
            results = [self._try(v, sub, p) for sub in s["oneOf"]]
            ok = [r for r in results if not r]
            if not ok:
                out.extend(_closest(results, p))
            elif len(ok) > 1:
                out.append(Problem(p, "matches more than one of the allowed forms"))
        if "not" in s and not self._try(v, s["not"], p):
            out.append(Problem(p, "must not match %s" % _show(s["not"])))
        if "if" in s:
            if not self._try(v, s["if"], p):
                if "then" in s:
                    self.check(v, s["then"], p, out)
            elif "else" in s:
                self.check(v, s["else"], p, out)

    def _try(self, v: Any, s: Any, p: str) -> List[Problem]:
        out: List[Problem] = []
        self.check(v, s, p, out)
        return out

    def _string(self, v: str, s: Mapping[str, Any], p: str, out: List[Problem]) -> None:
        if "minLength" in s and len(v) < s["minLength"]:
            out.append(Problem(p, "must not be empty" if s["minLength"] == 1 else
                               "must be at least %d characters long" % s["minLength"]))
        if "maxLength" in s and len(v) > s["maxLength"]:
            out.append(Problem(p, "must be at most %d characters long" % s["maxLength"]))
        if "pattern" in s and not self.regex(s["pattern"]).search(v):
            out.append(Problem(p, "%s does not match %s" % (_show(v), s["pattern"])))

    def _number(self, v: float, s: Mapping[str, Any], p: str, out: List[Problem]) -> None:
        if "minimum" in s and v < s["minimum"]:
            out.append(Problem(p, "must be at least %s" % s["minimum"]))
        if "maximum" in s and v > s["maximum"]:
            out.append(Problem(p, "must be at most %s" % s["maximum"]))
        em, eM = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if isinstance(em, (int, float)) and not isinstance(em, bool) and v <= em:
            out.append(Problem(p, "must be greater than %s" % em))
        if isinstance(eM, (int, float)) and not isinstance(eM, bool) and v >= eM:
            out.append(Problem(p, "must be less than %s" % eM))
        m = s.get("multipleOf")
        if m and abs(v / m - round(v / m)) > 1e-9:
            out.append(Problem(p, "must be a multiple of %s" % m))

    def _object(self, v: Dict[str, Any], s: Mapping[str, Any], p: str, out: List[Problem]) -> None:
        for k in s.get("required", []):
            if k not in v:
                out.append(Problem(p, "%r is required" % k))
        if "minProperties" in s and len(v) < s["minProperties"]:
            out.append(Problem(p, "must have at least %d field(s)" % s["minProperties"]))
        if "maxProperties" in s and len(v) > s["maxProperties"]:
            out.append(Problem(p, "must have at most %d field(s)" % s["maxProperties"]))
        props: Mapping[str, Any] = s.get("properties", {})
        pats: Mapping[str, Any] = s.get("patternProperties", {})
        extra = s.get("additionalProperties", True)
        for k, x in v.items():
            kp = _ptr(p, k)
            matched = False
            if k in props:
                matched = True
                self.check(x, props[k], kp, out)
            for pat, sub in pats.items():
                if self.regex(pat).search(k):
                    matched = True
                    self.check(x, sub, kp, out)
            if not matched:
                if extra is False:
                    known = sorted(props)
                    hint = " (known: %s)" % ", ".join(known) if known and len(known) <= 30 else ""
                    out.append(Problem(kp, "unknown key %r%s" % (k, hint)))
                elif isinstance(extra, dict):
                    self.check(x, extra, kp, out)
            if "propertyNames" in s:
                for prob in self._try(k, s["propertyNames"], kp):
                    out.append(Problem(kp, "key " + prob.message))
        for k, dep in s.get("dependencies", {}).items():
            if k in v:
                if isinstance(dep, list):
                    for d in dep:
                        if d not in v:
                            out.append(Problem(p, "%r is required when %r is given" % (d, k)))
                else:
                    self.check(v, dep, p, out)

    def _array(self, v: List[Any], s: Mapping[str, Any], p: str, out: List[Problem]) -> None:
        if "minItems" in s and len(v) < s["minItems"]:
            out.append(Problem(p, "must not be empty" if s["minItems"] == 1 else
                               "must have at least %d items" % s["minItems"]))
        if "maxItems" in s and len(v) > s["maxItems"]:
            out.append(Problem(p, "must have at most %d items" % s["maxItems"]))
        items = s.get("items")
        if isinstance(items, list):
            for i, x in enumerate(v):
                if i < len(items):
                    self.check(x, items[i], _ptr(p, i), out)
                elif "additionalItems" in s:
                    self.check(x, s["additionalItems"], _ptr(p, i), out)
        elif items is not None:
            for i, x in enumerate(v):
                self.check(x, items, _ptr(p, i), out)
        if "contains" in s and not any(not self._try(x, s["contains"], p) for x in v):
            out.append(Problem(p, "must contain an item matching %s" % _show(s["contains"])))
        if s.get("uniqueItems"):
            seen: List[str] = []
            for i, x in enumerate(v):
                key = json.dumps(x, sort_keys=True)
                if key in seen:
                    out.append(Problem(_ptr(p, i), "duplicates an earlier item"))
                seen.append(key)


_HERE = os.path.dirname(os.path.abspath(__file__))


def schema_path(name: str = "flow.json") -> Optional[str]:
    """Where the schema is read from: $WEFT_FLOW_SCHEMA (flow.json only), the
    copy shipped in the package (weft/schemas/), else the repository's
    flows/schema/ when the SDK runs from a checkout."""
    candidates = []
    if name == "flow.json" and os.environ.get("WEFT_FLOW_SCHEMA"):
        candidates.append(os.environ["WEFT_FLOW_SCHEMA"])
    candidates.append(os.path.join(_HERE, "schemas", name))
    candidates.append(os.path.join(_HERE, "..", "..", "flows", "schema", name))
    candidates.append(os.path.join(_HERE, "..", "..", "blocks", "schema", name))
    for c in candidates:
        if os.path.isfile(c):
            return os.path.normpath(c)
    return None


_cache: Dict[str, Any] = {}


def _load(name: str) -> Optional[Dict[str, Any]]:
    path = schema_path(name)
    if path is None:
        return None
    if path not in _cache:
        with open(path, encoding="utf-8") as f:
            _cache[path] = json.load(f)
    return _cache[path]


def flow_schema() -> Optional[Dict[str, Any]]:
    """The blueprint JSON Schema, or None when none is available."""
    return _load("flow.json")


def block_schema() -> Optional[Dict[str, Any]]:
    """The block definition JSON Schema, or None when none is available."""
    return _load("block.json")
