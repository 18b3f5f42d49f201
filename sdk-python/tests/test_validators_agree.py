"""The SDK's validator (`python -m weft validate`) and the server's
(`weft validate`) reach the same verdict on every JSON file under
flows/examples and examples/, and every example definition is valid for
both. They also refuse the same broken files, each for the same place."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Dict, List, Tuple

from tests import _paths, _serve

ROOTS = [os.path.join(_paths.REPO, "flows", "examples"), os.path.join(_paths.REPO, "examples")]


def json_files() -> List[str]:
    out = []
    for root in ROOTS:
        for d, _, files in os.walk(root):
            out += [os.path.join(d, f) for f in files if f.endswith(".json")]
    return sorted(out)


BROKEN = {
    "unknown-block.json": ('{"name": "x", "blocks": [{"ref": "a", "block": "no.such"}]}', "/blocks/0/block"),
    "duplicate-ref.json": ('{"name": "y", "blocks": [{"ref": "a", "type": "lambda", "expr": "1"},\n'
                           ' {"ref": "a", "type": "lambda", "expr": "2"}]}', "/blocks/1/ref"),
    "missing-version.json": ('{"name": "v", "blocks": [{"ref": "a", "block": "notify.team@7", "input": {"text": "t"}}]}',
                             "/blocks/0/block"),
    "compensate-unknown.json": ('{"name": "c", "blocks": [{"ref": "a", "block": "notify.team", "input": {"text": "t"},'
                                ' "compensate": {"block": "no.undo"}}]}', "/blocks/0/compensate/block"),
    "bad-kind.json": ('{"name": "b.k", "dispatch": {"kind": "ftp"}}', "/dispatch/kind"),
    "unknown-key.json": ('{"name": "u", "blocks": [{"ref": "a", "type": "lambda", "expr": "1", "exp": "2"}]}',
                         "/blocks/0/exp"),
    "not-json.json": ('{"name": "z", "blocks": [', "/"),
}


def verdicts(cmd: List[str], env: Dict[str, str], roots: List[str] = ROOTS) -> Tuple[Dict[str, bool], str]:
    """Runs a validator over roots; each file it named, valid or not."""
    p = subprocess.run(cmd + roots, capture_output=True, text=True, timeout=300, env=env, cwd=_paths.REPO)
    out: Dict[str, bool] = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^(.+?\.json): (flow|block) \S+ ok\b", line)
        if m:
            out[os.path.abspath(m.group(1))] = True
    for line in p.stderr.splitlines():
        m = re.match(r"^(.+?\.json)[: ]", line)
        if m:
            out[os.path.abspath(m.group(1))] = False
    return out, p.stdout + p.stderr


class ValidatorsAgreeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="weft-validators-")
        cls.bin = _serve.binary(cls.tmp)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_same_verdict_on_every_example_file(self) -> None:
        files = json_files()
        self.assertGreater(len(files), 20)
        env = dict(os.environ, PYTHONPATH=_paths.SDK)
        go, go_out = verdicts([self.bin, "validate"], env)
        py, py_out = verdicts([sys.executable, "-m", "weft", "validate"], env)
        for f in files:
            rel = os.path.relpath(f, _paths.REPO)
            with self.subTest(rel):
                self.assertIn(f, go, "weft validate said nothing about %s:\n%s" % (rel, go_out[-3000:]))
                self.assertIn(f, py, "python -m weft validate said nothing about %s:\n%s" % (rel, py_out[-3000:]))
                self.assertEqual(py[f], go[f], "%s: weft validate says valid=%s, python -m weft validate says valid=%s\n"
                                 "weft:\n%s\nsdk:\n%s" % (rel, go[f], py[f], go_out[-2000:], py_out[-2000:]))
                if f.startswith(ROOTS[0] + os.sep):
                    self.assertTrue(go[f], "%s is an example definition and must be valid" % rel)

    def test_same_refusals_of_broken_files(self) -> None:
        d = os.path.join(self.tmp, "broken")
        os.makedirs(d)
        shutil.copy(os.path.join(ROOTS[0], "blocks", "notify.team.json"), d)
        for name, (text, _) in BROKEN.items():
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(text)
        env = dict(os.environ, PYTHONPATH=_paths.SDK)
        outs = {}
        for who, cmd in (("weft validate", [self.bin, "validate"]), ("python -m weft validate", [sys.executable, "-m", "weft", "validate"])):
            got, out = verdicts(cmd, env, [d])
            outs[who] = out
            with self.subTest(who):
                self.assertTrue(got.get(os.path.join(d, "notify.team.json")), "%s refused notify.team.json:\n%s" % (who, out))
                for name, (_, ptr) in BROKEN.items():
                    self.assertIs(got.get(os.path.join(d, name)), False, "%s did not refuse %s:\n%s" % (who, name, out))
                    lines = [ln for ln in out.splitlines() if name in ln]
                    self.assertTrue(any(re.search(r"[: ]%s: " % re.escape(ptr), ln) for ln in lines),
                                    "%s: no problem at %s for %s:\n%s" % (who, ptr, name, "\n".join(lines)))


if __name__ == "__main__":
    unittest.main()
