"""@component and @pipeline: refusals at decoration and compile time, a
deterministic compiled blueprint that `weft validate` accepts, and the
example pipeline (examples/components/text_stats.py) run to its expected
output against a real `weft serve` by `python -m weft serve-components`.
The binary is $WEFT_BIN, else built from the repository; without it the
server tests are skipped loudly (a failure with CI=true)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any, Dict, List, Optional, Set

from tests import _paths, _serve
from tests.test_server import _binary
from weft import Client
from weft.components import Condition, Dataset, Input, Output, ParallelFor, component, pipeline

sys.path.insert(0, _paths.REPO)
from examples.components import text_stats  # noqa: E402

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class DecorationTest(unittest.TestCase):
    def test_untyped_parameter_is_refused_with_its_name(self) -> None:
        with self.assertRaises(TypeError) as e:
            @component
            def f(a: int, b) -> int:  # type: ignore[no-untyped-def]
                return a
        self.assertIn("parameter 'b' has no type hint", str(e.exception))

    def test_unsupported_type_is_refused_with_its_name(self) -> None:
        with self.assertRaises(TypeError) as e:
            @component
            def g(tags: Set[str]) -> int:
                return 0
        self.assertIn("parameter 'tags' has type", str(e.exception))
        self.assertIn("no JSON form", str(e.exception))
        with self.assertRaises(TypeError) as e:
            @component
            def h(x: int) -> object:
                return x
        self.assertIn("the return value has type object", str(e.exception))
        with self.assertRaises(TypeError) as e:
            @component
            def k(m: Dict[int, str]) -> int:
                return 0
        self.assertIn("parameter 'm'", str(e.exception))

    def test_definition_from_type_hints(self) -> None:
        @component(name="demo.fit", queue="gpu")
        def fit(data: Input[Dataset], epochs: int = 3, rate: Optional[float] = None,
                model: Output[Dataset] = None) -> List[float]:  # type: ignore[assignment]
            """Fit a model
            on a dataset."""
            return []
        d = fit.definition.to_dict()
        self.assertEqual(d["name"], "demo.fit")
        self.assertEqual(d["title"], "Fit a model")
        self.assertEqual(d["dispatch"], {"kind": "worker", "queue": "gpu"})
        self.assertEqual(d["input_schema"]["required"], ["data"])
        self.assertEqual(d["input_schema"]["properties"]["epochs"], {"type": "integer", "default": 3})
        self.assertNotIn("model", d["input_schema"]["properties"])
        self.assertEqual(d["output_schema"], {"type": "array", "items": {"type": "number"}})


@component(name="demo.inc")
def inc(n: int) -> int:
    return n + 1


class CompileTest(unittest.TestCase):
    def test_value_of_another_pipeline_is_refused(self) -> None:
        held: Dict[str, Any] = {}

        @pipeline(name="first")
        def first(n: int = 1):  # type: ignore[no-untyped-def]
            held["out"] = inc(n=n).output

        first.flow()

        @pipeline(name="second")
        def second(n: int = 1):  # type: ignore[no-untyped-def]
            inc(n=held["out"])

        with self.assertRaises(ValueError) as e:
            second.flow()
        self.assertIn("comes from another pipeline (first)", str(e.exception))
        self.assertIn("argument 'n'", str(e.exception))

    def test_non_json_value_is_refused(self) -> None:
        @pipeline(name="bad-value")
        def bad():  # type: ignore[no-untyped-def]
            inc(n={1, 2})

        with self.assertRaises(TypeError) as e:
            bad.flow()
        self.assertIn("argument 'n'", str(e.exception))
        self.assertIn("is not a JSON value", str(e.exception))

    def test_compiled_json_is_deterministic_and_validates(self) -> None:
        a = text_stats.text_stats.flow().to_json()
        b = text_stats.text_stats.flow().to_json()
        self.assertEqual(a, b)
        doc = json.loads(a)
        refs = [n["ref"] for n in doc["blocks"]]
        self.assertEqual(refs, ["words", "letters", "longest", "report", "many_words", "each_extra"])
        self.assertEqual(doc["blocks"][3]["depends_on"], ["letters", "longest", "words"])
        self.assertEqual(doc["blocks"][1]["input"], {"tokens": "${words.artifacts.tokens}"})
        tmp1, tmp2 = tempfile.mkdtemp(), tempfile.mkdtemp()
        try:
            for d in (tmp1, tmp2):
                p = subprocess.run([sys.executable, "-m", "weft", "compile", "examples.components.text_stats:text_stats",
                                    "-o", d], cwd=_paths.REPO, capture_output=True, text=True,
                                   env=dict(os.environ, PYTHONPATH=os.path.join(_paths.REPO, "sdk-python")))
                self.assertEqual(p.returncode, 0, p.stderr)
            files = sorted(os.path.relpath(os.path.join(r, f), tmp1) for r, _, fs in os.walk(tmp1) for f in fs)
            self.assertEqual(files, ["blocks/text.letters.json", "blocks/text.longest.json", "blocks/text.report.json",
                                     "blocks/text.shout.json", "blocks/text.words.json", "text-stats.json"])
            for f in files:
                with open(os.path.join(tmp1, f), "rb") as x, open(os.path.join(tmp2, f), "rb") as y:
                    self.assertEqual(x.read(), y.read(), f)
            binary = _weft_binary()
            if binary is not None:
                p = subprocess.run([binary, "validate"] + [os.path.join(tmp1, f) for f in files],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertIn("flow text-stats ok", p.stdout + p.stderr)
        finally:
            shutil.rmtree(tmp1, ignore_errors=True)
            shutil.rmtree(tmp2, ignore_errors=True)


STATE: Dict[str, Any] = {}


def _weft_binary() -> Optional[str]:
    if "bin" not in STATE:
        STATE["tmp"] = tempfile.mkdtemp(prefix="weft-components-")
        STATE["bin"] = _binary(STATE["tmp"])
        if STATE["bin"] is None:
            msg = "\n*** SKIPPING the weft binary checks of components: no weft binary ***\n"
            sys.stderr.write(msg)
            if CI:
                raise RuntimeError(msg)
    return STATE["bin"]


class ServeComponentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        binary = _weft_binary()
        if binary is None:
            raise unittest.SkipTest("no weft binary")
        cls.url = _serve.start(STATE, binary, STATE["tmp"], [])
        env = dict(os.environ, PYTHONPATH=os.path.join(_paths.REPO, "sdk-python") + os.pathsep + _paths.REPO,
                   WEFT_URL=cls.url)
        cls.log = open(os.path.join(STATE["tmp"], "components.log"), "w")
        cls.worker = subprocess.Popen([sys.executable, "-m", "weft", "serve-components", "examples.components.text_stats",
                                       "--deploy"], cwd=_paths.REPO, env=env, stdout=cls.log, stderr=cls.log)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.worker.terminate()
        cls.worker.wait(30)
        cls.log.close()
        _serve.stop(STATE)
        shutil.rmtree(STATE.get("tmp", ""), ignore_errors=True)

    def test_pipeline_runs_to_the_expected_output(self) -> None:
        c = Client(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                rid = c.start("text-stats", {"text": "Graphs, not lines: steps run when their inputs are ready",
                                             "extra": ["a", "bc"]}).id
                break
            except Exception:
                if time.monotonic() > deadline or self.worker.poll() is not None:
                    with open(os.path.join(STATE["tmp"], "components.log")) as f:
                        self.fail("the pipeline was never deployed:\n" + f.read()[-2000:])
                time.sleep(0.2)
        done = c.wait(rid, timeout=60)
        self.assertEqual(done.status, "succeeded", done.error)
        self.assertEqual(done.output, {"words": 10, "letters": 45, "longest": "graphs", "mean": 4.5,
                                       # a Condition's and a ParallelFor's bodies are DAGs: their
                                       # outputs are objects of their sinks' outputs
                                       "loud": {"shout": "GRAPHS!"}, "extra": [{"shout_2": "A!"}, {"shout_2": "BC!"}]})
        self.assertEqual(done.step("letters").input["tokens"]["artifact"]["name"], "tokens")


if __name__ == "__main__":
    unittest.main()
