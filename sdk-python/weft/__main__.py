"""``python -m weft``: command-line helpers.

    python -m weft build module:attr [--check] [-o FILE]
        print the blueprint a module builds (attr is a Flow, or a function
        returning one), validated locally; exit status 2 on problems.
    python -m weft validate PATH...
        check block definitions and blueprints against the shipped schemas,
        and blueprints against the block definitions found (unique refs,
        known blocks and versions). A PATH is a file or a folder (searched
        for *.json); a document with a "dispatch" key is a block
        definition, any other a blueprint, as `weft validate` decides.
        Exit status 2 when something is invalid.
    python -m weft compile module:pipeline -o DIR
        write a @pipeline's blueprint (DIR/NAME.json) and its components'
        block definitions (DIR/blocks/NAME.json).
    python -m weft serve-components module [--url URL] [--deploy [--start]]
        run the handlers of a module's @component functions as a worker;
        with --deploy, first store their block definitions and the
        module's pipelines on the server; with --start, then start one run
        of each pipeline with its defaults.
"""

import argparse
import importlib
import json
import os
import sys
from typing import Any, Dict, List, Optional

from .errors import Problem
from .flow import Flow
from .schema import block_schema, flow_schema, validate


def _load(target: str) -> Flow:
    if ":" not in target:
        raise SystemExit("weft build: write module:attr, such as examples.sdk.house_prices:flow")
    mod_name, attr = target.split(":", 1)
    sys.path.insert(0, os.getcwd())
    mod = importlib.import_module(mod_name)
    obj: Any = mod
    for part in attr.split("."):
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Flow):
        obj = obj()
    if not isinstance(obj, Flow):
        raise SystemExit("weft build: %s is %s, not a weft.Flow" % (target, type(obj).__name__))
    return obj


def _print_problems(where: str, problems: List[Problem]) -> None:
    for p in problems:
        sys.stderr.write("%s: %s: %s\n" % (where, p.path or "/", p.message))


def _import(name: str) -> Any:
    sys.path.insert(0, os.getcwd())
    return importlib.import_module(name)


def _compile(target: str, directory: str) -> int:
    from .components import Pipeline
    if ":" not in target:
        raise SystemExit("weft compile: write module:attr, such as examples.components.text_stats:text_stats")
    mod_name, attr = target.split(":", 1)
    obj: Any = _import(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, Pipeline):
        raise SystemExit("weft compile: %s is %s, not a @pipeline" % (target, type(obj).__name__))
    try:
        paths = obj.compile(directory)
    except (TypeError, ValueError) as e:
        sys.stderr.write("weft compile: %s\n" % e)
        return 2
    for p in paths:
        sys.stdout.write(p + "\n")
    return 0


def _serve_components(module: str, url: Optional[str], deploy: bool, concurrency: int, start: bool = False) -> int:
    from .client import Client
    from .components import components_of
    from .worker import Worker, configure_logging
    comps, pipes = components_of(_import(module))
    if not comps:
        raise SystemExit("weft serve-components: module %s defines no @component" % module)
    url = url or os.environ.get("WEFT_URL") or "http://127.0.0.1:8080"
    configure_logging()
    if deploy:
        client = Client(url)
        for c in comps:
            client.deploy_block(c.definition)
        for p in pipes:
            client.deploy_flow(p.flow())
    w = Worker(url, concurrency=concurrency)
    for c in comps:
        w.register(c.name, c.handler, queue=c.queue)
    if deploy and start:
        for p in pipes:
            run = client.start(p.name, {})
            sys.stderr.write("serve-components: started run %s of %s\n" % (run.id, p.name))
    w.run()
    return 0


def _json_files(paths: List[str]) -> List[str]:
    out: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".json")]
        else:
            out.append(path)
    return out


def _walk(seq: Any, ptr: str, out: List[Any]) -> None:
    """Every block instance of a sequence, nested ones too, with its pointer."""
    if not isinstance(seq, list):
        return
    for i, n in enumerate(seq):
        if not isinstance(n, dict):
            continue
        p = "%s/%d" % (ptr, i)
        out.append((n, p))
        for j, branch in enumerate(n.get("branches") or []):
            _walk(branch, "%s/branches/%d" % (p, j), out)
        for name, case in (n.get("cases") or {}).items():
            _walk(case, "%s/cases/%s" % (p, name), out)
        for key in ("default", "do", "catch"):
            _walk(n.get(key), "%s/%s" % (p, key), out)


def _catalog_problems(doc: Any, catalog: Dict[str, List[int]]) -> List[Problem]:
    """What `weft validate` also checks beyond the schema with the block
    definitions found on disk: unique refs, known blocks and versions."""
    nodes: List[Any] = []
    _walk(doc.get("blocks"), "/blocks", nodes)
    _walk(doc.get("on_failure"), "/on_failure", nodes)
    out: List[Problem] = []
    seen: Dict[str, str] = {}
    for n, p in nodes:
        ref = n.get("ref")
        if isinstance(ref, str):
            if ref in seen:
                out.append(Problem(p + "/ref", "ref %s is already used at %s; every ref must be unique in the flow"
                                   % (json.dumps(ref), seen[ref])))
            else:
                seen[ref] = p
        uses = [(n.get("block"), p + "/block")]
        comp = n.get("compensate")
        if isinstance(comp, dict):
            uses.append((comp.get("block"), p + "/compensate/block"))
        for use, at in uses:
            if not isinstance(use, str):
                continue
            name, _, version = use.partition("@")
            if name not in catalog:
                out.append(Problem(at, "unknown block %s: store its definition first" % json.dumps(name)))
            elif version and int(version) not in catalog[name]:
                out.append(Problem(at, "block %s has no version %s (the latest is %d)"
                                   % (json.dumps(name), version, max(catalog[name]))))
    return out


def _validate(paths: List[str]) -> int:
    """Checks every file, each against the schema its kind calls for; the
    block definitions among them are the catalog the blueprints are checked
    against (unique refs, known blocks and versions), as `weft validate`
    does without --server."""
    schemas = {"flow": flow_schema(), "block": block_schema()}
    for kind, schema in schemas.items():
        if schema is None:
            sys.stderr.write("no %s schema found (set WEFT_FLOW_SCHEMA or install the package with its schemas)\n" % kind)
            return 1
    bad = 0
    docs: List[Any] = []
    catalog: Dict[str, List[int]] = {}
    for path in _json_files(paths):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            sys.stderr.write("%s: cannot read: %s\n" % (path, e.strerror))
            bad += 1
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            sys.stderr.write("%s:%d:%d /: not valid JSON: %s; fix the syntax at this position\n" % (path, e.lineno, e.colno, e.msg))
            bad += 1
            continue
        kind = "block" if isinstance(doc, dict) and "dispatch" in doc else "flow"
        docs.append((path, kind, doc))
        if kind == "block" and isinstance(doc.get("name"), str) and not validate(doc, schemas["block"]):  # type: ignore[arg-type]
            versions = catalog.setdefault(doc["name"], [])
            v = doc.get("version")
            versions.append(v if isinstance(v, int) else max(versions, default=0) + 1)
    for path, kind, doc in docs:
        problems = validate(doc, schemas[kind])  # type: ignore[arg-type]
        if kind == "flow" and not problems:
            problems = _catalog_problems(doc, catalog)
        _print_problems(path, problems)
        if problems:
            bad += 1
        else:
            what = "%s %s" % (kind, doc.get("name"))
            if doc.get("version") is not None:
                what += "@%s" % doc["version"]
            sys.stdout.write("%s: %s ok\n" % (path, what))
    return 2 if bad else 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m weft", description="Weft SDK command line")
    sub = ap.add_subparsers(dest="cmd")
    b = sub.add_parser("build", help="print the JSON blueprint built by module:attr")
    b.add_argument("target", help="module:attr (a Flow or a function returning one)")
    b.add_argument("-o", "--output", help="write to this file instead of stdout")
    b.add_argument("--no-check", action="store_true", help="skip local validation")
    v = sub.add_parser("validate", help="validate blueprint JSON files against the shipped schema")
    v.add_argument("files", nargs="+")
    c = sub.add_parser("compile", help="write a @pipeline's blueprint and block definitions")
    c.add_argument("target", help="module:attr (a @pipeline)")
    c.add_argument("-o", "--output", required=True, help="directory to write into")
    sc = sub.add_parser("serve-components", help="run a module's @component handlers as a worker")
    sc.add_argument("module", help="the module that defines the components (and pipelines)")
    sc.add_argument("--url", help="the server (default WEFT_URL or http://127.0.0.1:8080)")
    sc.add_argument("--deploy", action="store_true", help="store the block definitions and pipelines first")
    sc.add_argument("--start", action="store_true", help="with --deploy: start one run of each pipeline (defaults)")
    sc.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args(argv)
    if args.cmd == "compile":
        return _compile(args.target, args.output)
    if args.cmd == "serve-components":
        return _serve_components(args.module, args.url, args.deploy, args.concurrency, args.start)
    if args.cmd == "build":
        flow = _load(args.target)
        if not args.no_check:
            problems = flow.validate()
            if problems:
                _print_problems(args.target, problems)
                return 2
        text = flow.to_json()
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.cmd == "validate":
        return _validate(args.files)
    ap.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
