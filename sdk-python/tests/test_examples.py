"""The example pipelines: the SDK builds exactly flows/examples/*.json, they
validate, every block they use is defined, and every worker block has a
handler in examples/workers. Also: every Python file keeps to 3.9 syntax."""

import ast
import glob
import importlib
import json
import os
import unittest

from tests import _paths
from weft import Worker
from weft.schema import block_schema, flow_schema, validate

EXAMPLES = os.path.join(_paths.REPO, "flows", "examples")
FLOWS = {"house-prices": "house_prices", "dl-training": "dl_training", "rag-eval": "rag_eval", "bpel-ml": "bpel_ml"}


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def walk(nodes: list) -> list:
    out = []
    for n in nodes or []:
        out.append(n)
        for b in n.get("branches", []):
            out += walk(b)
        for c in n.get("cases", {}).values():
            out += walk(c)
        for k in ("do", "default", "catch"):
            out += walk(n.get(k, []))
    return out


class ExamplesTest(unittest.TestCase):
    def test_sdk_builds_the_example_json(self) -> None:
        for name, mod in FLOWS.items():
            with self.subTest(name):
                m = importlib.import_module("examples.sdk." + mod)
                built = m.build()
                self.assertEqual(built.to_dict(), load(os.path.join(EXAMPLES, name + ".json")))
                self.assertEqual(built.validate(), [])

    def test_examples_validate_against_the_schemas(self) -> None:
        fs, bs = flow_schema(), block_schema()
        self.assertIsNotNone(fs)
        self.assertIsNotNone(bs)
        for path in glob.glob(os.path.join(EXAMPLES, "*.json")):
            with self.subTest(path):
                self.assertEqual(validate(load(path), fs), [])
        for path in glob.glob(os.path.join(EXAMPLES, "blocks", "*.json")):
            with self.subTest(path):
                doc = load(path)
                self.assertEqual(validate(doc, bs), [])
                self.assertEqual(os.path.basename(path), doc["name"] + ".json")

    def test_every_block_is_defined_and_handled(self) -> None:
        defs = {load(p)["name"]: load(p) for p in glob.glob(os.path.join(EXAMPLES, "blocks", "*.json"))}
        used = set()
        for path in glob.glob(os.path.join(EXAMPLES, "*.json")):
            doc = load(path)
            for n in walk(doc["blocks"]) + walk(doc.get("on_failure", [])):
                if "block" in n:
                    used.add(n["block"].split("@")[0])
                if "compensate" in n:
                    used.add(n["compensate"]["block"])
        self.assertEqual(used - set(defs), set(), "blocks used by a flow without a definition")
        self.assertEqual(set(defs) - used, set(), "definitions no flow uses")

        w = Worker("http://127.0.0.1:1")
        import common
        common.register_common(w)
        for mod in ("house_prices", "dl_training", "rag_eval", "bpel_ml"):
            importlib.import_module(mod).register(w)
        worker_blocks = {n for n, d in defs.items() if d["dispatch"]["kind"] == "worker"}
        self.assertEqual(set(w._handlers), worker_blocks)
        queues = {d["dispatch"].get("queue") or n for n, d in defs.items() if d["dispatch"]["kind"] == "worker"}
        self.assertEqual(set(w.queues), queues)
        self.assertEqual(defs["llm.chat"]["dispatch"]["url"], "${secrets.WEFT_LLM_URL}")

    def test_schema_copy_matches_the_repository(self) -> None:
        for name, repo_path in (("flow.json", "flows/schema/flow.json"), ("block.json", "blocks/schema/block.json")):
            with self.subTest(name):
                src = os.path.join(_paths.REPO, repo_path)
                if not os.path.exists(src):
                    self.skipTest("%s is not in this checkout" % repo_path)
                self.assertEqual(load(os.path.join(_paths.SDK, "weft", "schemas", name)), load(src),
                                 "run scripts/sync_schema.sh: the SDK's copy of %s is stale" % repo_path)

    def test_python_files_keep_to_3_9(self) -> None:
        files = glob.glob(os.path.join(_paths.SDK, "**", "*.py"), recursive=True)
        files += glob.glob(os.path.join(_paths.REPO, "examples", "**", "*.py"), recursive=True)
        self.assertGreater(len(files), 15)
        for path in files:
            with self.subTest(path), open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path, feature_version=(3, 9))
                for node in ast.walk(tree):
                    # X | Y in annotations evaluated at runtime needs 3.10
                    if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation is not None:
                        self.assertFalse(isinstance(node.annotation, ast.BinOp), "%s:%d: X | Y annotation"
                                         % (path, node.lineno))
                    if isinstance(node, ast.FunctionDef) and node.returns is not None:
                        self.assertFalse(isinstance(node.returns, ast.BinOp), "%s:%d: X | Y annotation"
                                         % (path, node.lineno))


if __name__ == "__main__":
    unittest.main()
