"""Every shell and Python snippet in README.md, sdk-python/README.md and
docs/*.md runs, in document order, against one real `weft serve` (SQLite,
the example flows loaded, the example workers running), so a snippet
cannot rot.

How a snippet is run:
  - each Markdown file's snippets run in one bash process (set -euo
    pipefail), in a work directory where bin/weft, examples/, flows/,
    sdk-python/ and deploy/ are links into the repository, so a variable
    or a file one snippet makes is there for the next, as in a terminal;
  - ``sh``, ``bash`` and ``shell`` fences are shell; ``python`` fences are
    written to a file and run with python3; other languages (json, text,
    mermaid...) are not run; a fence without a language is an error;
  - http://127.0.0.1:8080 (the address the docs use) is replaced by the
    test server's address; WEFT_SERVER and WEFT_URL point at it too;
    127.0.0.1:8091 to 127.0.0.1:8099 (the docs' example services and
    scratch servers) each by a free loopback port;
  - what a snippet leaves running in the background is stopped afterwards
    (the doc's bash runs in its own process group).

An HTML comment on the line before a fence changes that:
  <!-- doctest: skip: REASON -->      not run (counted, with its reason)
  <!-- doctest: file: NAME -->        written to NAME in the work directory,
                                      not run (a later snippet uses it)
  <!-- doctest: requires: COMMAND --> run only when COMMAND succeeds in the
                                      work directory, else counted as skipped
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
from typing import Any, Dict, List, Optional

from tests import _paths, _serve

SHELL = {"sh", "bash", "shell"}
NOT_RUN = {"json", "text", "mermaid", "go", "ini", "sql", "yaml", "http", "console-output", "toml", "diff"}
ANNOTATION = re.compile(r"^\s*<!--\s*doctest:\s*(skip|file|requires):\s*(.+?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$")
LINKS = ["examples", "flows", "sdk-python", "deploy", "blocks"]
STATE: Dict[str, Any] = {}


class Snippet:
    def __init__(self, doc: str, line: int, lang: str, text: str, note: Optional[tuple]) -> None:
        self.doc, self.line, self.lang, self.text, self.note = doc, line, lang, text, note

    @property
    def where(self) -> str:
        return "%s:%d" % (self.doc, self.line)


def docs() -> List[str]:
    out = [os.path.join(_paths.REPO, "README.md"), os.path.join(_paths.REPO, "sdk-python", "README.md")]
    d = os.path.join(_paths.REPO, "docs")
    out += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".md"))
    return out


def snippets(path: str) -> List[Snippet]:
    """The fenced blocks of a Markdown file, each with its annotation."""
    rel = os.path.relpath(path, _paths.REPO)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out: List[Snippet] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i
        body: List[str] = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i == len(lines):
            raise AssertionError("%s:%d: a fence that never closes" % (rel, start + 1))
        i += 1
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        a = ANNOTATION.match(lines[j]) if j >= 0 else None
        note = (a.group(1), a.group(2)) if a else None
        if not lang:
            raise AssertionError("%s:%d: a fence without a language; write ```sh, ```python, ```json or ```text"
                                 % (rel, start + 1))
        out.append(Snippet(rel, start + 1, lang, "\n".join(body) + "\n", note))
    return out


def setUpModule() -> None:
    tmp = tempfile.mkdtemp(prefix="weft-doctest-")
    STATE["tmp"] = tmp
    binary = _serve.binary(tmp)
    work = os.path.join(tmp, "work")
    os.makedirs(os.path.join(work, "bin"))
    os.symlink(binary, os.path.join(work, "bin", "weft"))
    for name in LINKS:
        os.symlink(os.path.join(_paths.REPO, name), os.path.join(work, name))
    srv = os.path.join(tmp, "server")
    os.makedirs(srv)
    STATE["work"] = work
    url = _serve.start(STATE, binary, srv, ["--load", os.path.join(_paths.REPO, "flows", "examples")])
    env = dict(os.environ, WEFT_URL=url, WEFT_SERVER=url, WEFT_SHUTDOWN_TIMEOUT="5",
               PYTHONPATH=os.path.join(_paths.REPO, "sdk-python"),
               PATH=os.path.join(work, "bin") + os.pathsep + os.environ.get("PATH", ""))
    env.pop("WEFT_TOKEN", None)
    STATE["env"] = env
    STATE["workers_log"] = open(os.path.join(tmp, "workers.log"), "w")
    STATE["workers"] = subprocess.Popen([sys.executable, os.path.join(_paths.REPO, "examples", "workers", "run_all.py")],
                                        cwd=work, env=env, stdout=STATE["workers_log"], stderr=subprocess.STDOUT)


def tearDownModule() -> None:
    w = STATE.get("workers")
    if w is not None:
        w.terminate()
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
        STATE["workers_log"].close()
    _serve.stop(STATE)
    shutil.rmtree(STATE["tmp"], ignore_errors=True)


def script(snips: List[Snippet], url: str, work: str, counts: Dict[str, Any]) -> str:
    """One bash script that runs the doc's snippets in order."""
    parts = ["set -euo pipefail",
             'trap \'echo "doctest: the snippet at $__at failed (its line $((LINENO - __base)))" >&2\' ERR']
    for n, s in enumerate(snips):
        text = EXTRA_PORT.sub(lambda m: "127.0.0.1:%d" % port_for(m.group(1)), s.text.replace("http://127.0.0.1:8080", url))
        kind, arg = s.note if s.note else ("", "")
        if kind == "skip":
            counts["skipped"].append("%s (%s)" % (s.where, arg))
            continue
        if kind == "file":
            with open(os.path.join(work, arg), "w", encoding="utf-8") as f:
                f.write(text)
            counts["files"] += 1
            continue
        if s.lang not in SHELL and s.lang != "python":
            if s.lang not in NOT_RUN:
                raise AssertionError("%s: a ```%s fence; the snippet test knows sh, python and the languages it does "
                                     "not run (%s)" % (s.where, s.lang, ", ".join(sorted(NOT_RUN))))
            continue
        if kind == "requires":
            ok = subprocess.run(["bash", "-c", arg], cwd=work, env=STATE["env"], capture_output=True).returncode == 0
            if not ok:
                counts["skipped"].append("%s (requires %s)" % (s.where, arg))
                continue
        counts["run"] += 1
        parts.append("__at=%s" % shlex.quote(s.where))
        if s.lang == "python":
            name = ".doctest-%s-%d.py" % (re.sub(r"\W", "_", s.doc), s.line)
            with open(os.path.join(work, name), "w", encoding="utf-8") as f:
                f.write(text)
            parts.append("__base=$LINENO; python3 %s" % shlex.quote(name))
        else:
            parts.append("__base=$LINENO")
            parts.append(text)
    return "\n".join(parts) + "\n"


EXTRA_PORT = re.compile(r"127\.0\.0\.1:(809[1-9])\b")


def port_for(doc_port: str) -> int:
    """The free port that stands for a port the docs write."""
    ports = STATE.setdefault("ports", {})
    if doc_port not in ports:
        ports[doc_port] = free_port()
    return ports[doc_port]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_group(scr: str) -> "subprocess.CompletedProcess[str]":
    """Runs a doc's script in its own process group, then stops whatever it
    left in the background."""
    proc = subprocess.Popen(["bash", "-c", scr], cwd=STATE["work"], env=STATE["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.kill()
            out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class DocSnippetsTest(unittest.TestCase):
    def test_every_snippet_runs(self) -> None:
        counts: Dict[str, Any] = {"run": 0, "files": 0, "skipped": []}
        for path in docs():
            snips = snippets(path)
            scr = script(snips, STATE["url"], STATE["work"], counts)
            rel = os.path.relpath(path, _paths.REPO)
            with self.subTest(rel):
                p = run_group(scr)
                if os.environ.get("WEFT_DOCTEST_VERBOSE"):
                    sys.stderr.write("--- %s\n%s%s" % (rel, p.stdout, p.stderr))
                if p.returncode != 0:
                    with open(os.path.join(STATE["tmp"], "server", "server.log")) as f:
                        server_log = f.read()[-2000:]
                    self.fail("%s: a snippet failed (exit %d)\n--- stdout\n%s\n--- stderr\n%s\n--- server log (tail)\n%s"
                              % (rel, p.returncode, p.stdout[-3000:], p.stderr[-3000:], server_log))
        sys.stderr.write("\ndoc snippets: %d run, %d written as files, %d skipped:\n  %s\n"
                         % (counts["run"], counts["files"], len(counts["skipped"]), "\n  ".join(counts["skipped"])))
        self.assertGreaterEqual(counts["run"], 15)


def schema_keys(path: str, *where: str) -> List[str]:
    """The property names of a JSON Schema at each JSON pointer in where."""
    import json

    with open(os.path.join(_paths.REPO, path), encoding="utf-8") as f:
        doc = json.load(f)
    out: List[str] = []
    for ptr in where:
        node: Any = doc
        for part in ptr.strip("/").split("/"):
            node = node[part]
        out += list(node)
    return sorted(set(out))


def read(rel: str) -> str:
    with open(os.path.join(_paths.REPO, rel), encoding="utf-8") as f:
        return f.read()


def mentions(text: str, key: str) -> bool:
    """Whether a doc names key as code: `key`, or "key" inside a code span."""
    return "`%s`" % key in text or '"%s"' % key in text


class DocsCompleteTest(unittest.TestCase):
    def test_every_blueprint_key_is_in_the_reference(self) -> None:
        text = read("docs/blueprints.md")
        keys = schema_keys("flows/schema/flow.json", "/properties", "/definitions/node/properties",
                           "/definitions/retry/properties", "/definitions/trigger/properties",
                           "/definitions/compensate/properties")
        keys += schema_keys("flows/schema/flow.json", "/definitions/node/properties/type/enum")
        for k in keys:
            with self.subTest(k):
                self.assertTrue(mentions(text, k), "docs/blueprints.md does not mention `%s` (a key or block type of "
                              "flows/schema/flow.json): describe it, with an example" % k)

    def test_every_block_definition_key_is_in_the_guide(self) -> None:
        text = read("docs/blocks.md")
        keys = schema_keys("blocks/schema/block.json", "/properties", "/definitions/dispatch/properties",
                           "/definitions/retry/properties")
        keys += schema_keys("blocks/schema/block.json", "/definitions/dispatch/properties/kind/enum")
        for k in keys:
            with self.subTest(k):
                self.assertTrue(mentions(text, k), "docs/blocks.md does not mention `%s` (a key of "
                              "blocks/schema/block.json): describe it" % k)

    def test_every_command_is_in_the_cli_page(self) -> None:
        text = read("docs/cli.md")
        p = subprocess.run([os.path.join(STATE["work"], "bin", "weft"), "--help"], capture_output=True, text=True)
        cmds = re.findall(r"^  ([a-z][a-z-]*)\s", p.stdout + p.stderr, re.M)
        self.assertGreater(len(cmds), 5, "weft --help listed no commands:\n" + p.stdout + p.stderr)
        for c in cmds:
            with self.subTest(c):
                self.assertIn("`weft %s" % c, text, "docs/cli.md does not describe weft %s (listed by weft --help): add "
                              "it to the table and say what it does" % c)

    def test_local_links_resolve(self) -> None:
        link = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
        for path in docs():
            rel = os.path.relpath(path, _paths.REPO)
            for m in link.finditer(read(rel)):
                target = m.group(1)
                if re.match(r"^[a-z]+:", target):
                    continue
                with self.subTest(rel + " -> " + target):
                    self.assertTrue(os.path.exists(os.path.join(os.path.dirname(path), target)),
                                    "%s links to %s, which does not exist" % (rel, target))

    def test_no_pointer_leaves_the_repository(self) -> None:
        """The docs, code and messages point to docs in the repository, not
        to a design document kept elsewhere."""
        bad = re.compile(r"\b(DESIGN|STYLE)\.md\b")
        skip = {".git", "node_modules", "__pycache__", "bin", "var", "tmp"}
        found = []
        for d, dirs, files in os.walk(_paths.REPO):
            dirs[:] = [x for x in dirs if x not in skip and not x.startswith(".cache")]
            for f in files:
                if not f.endswith((".go", ".md", ".py", ".sql", ".templ", ".json", ".sh", ".service", ".toml")):
                    continue
                p = os.path.join(d, f)
                if p == os.path.abspath(__file__):
                    continue
                with open(p, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        if bad.search(line):
                            found.append("%s:%d: %s" % (os.path.relpath(p, _paths.REPO), n, line.strip()[:120]))
        self.assertEqual(found, [], "these point to a document that is not in the repository; point to docs/ instead")


class AnnotationTest(unittest.TestCase):
    def test_parser_reads_fences_and_annotations(self) -> None:
        tmp = tempfile.mkdtemp(prefix="weft-doctest-parse-")
        self.addCleanup(shutil.rmtree, tmp, True)
        md = os.path.join(tmp, "x.md")
        with open(md, "w") as f:
            f.write("text\n\n<!-- doctest: skip: needs systemd -->\n```sh\nsystemctl start weft\n```\n\n"
                    "1. a list item:\n   ```python\n   print(1)\n   ```\n")
        got = snippets(md)
        self.assertEqual([(s.lang, s.text, s.note) for s in got],
                         [("sh", "systemctl start weft\n", ("skip", "needs systemd")), ("python", "print(1)\n", None)])
        with open(md, "w") as f:
            f.write("```\nls\n```\n")
        with self.assertRaisesRegex(AssertionError, "without a language"):
            snippets(md)


if __name__ == "__main__":
    unittest.main()
