"""The example workers' computations and the local chat-completions stand-in."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

from tests import _paths
from tests.fakeweft import FakeWeft
from weft import Worker

import mlkit


class MLKitTest(unittest.TestCase):
    def test_ols_recovers_a_known_line(self) -> None:
        x = [[float(i), float(i % 3)] for i in range(20)]
        y = [2.0 + 3.0 * a - 1.5 * b for a, b in x]
        w = mlkit.ols_fit(x, y)
        for got, want in zip(w, [2.0, 3.0, -1.5]):
            self.assertAlmostEqual(got, want, places=9)
        self.assertAlmostEqual(mlkit.r2_score(y, mlkit.ols_predict(w, x)), 1.0, places=12)

    def test_house_prices_models(self) -> None:
        r = mlkit.house_prices_r2(os.path.join(_paths.REPO, "examples", "data", "house_prices.csv"))
        self.assertGreater(r["linear"], 0.8)
        self.assertGreater(r["forest"], 0.6)
        self.assertLess(r["forest"], r["linear"] + 0.2)

    def test_check_script_prints_the_same(self) -> None:
        out = subprocess.run([sys.executable, os.path.join(_paths.REPO, "examples", "check_house_prices.py"), "--json"],
                             cwd=_paths.REPO, capture_output=True, text=True, check=True).stdout
        r = mlkit.house_prices_r2("examples/data/house_prices.csv")
        self.assertEqual(json.loads(out)["linear_r2"], r["linear"])

    def test_data_is_generated_deterministically(self) -> None:
        sys.path.insert(0, os.path.join(_paths.REPO, "examples", "data"))
        import generate
        with tempfile.TemporaryDirectory() as d:
            generate.house_prices(os.path.join(d, "h.csv"))
            with open(os.path.join(d, "h.csv"), "rb") as a, \
                    open(os.path.join(_paths.REPO, "examples", "data", "house_prices.csv"), "rb") as b:
                self.assertEqual(a.read(), b.read())
        for f in os.listdir(os.path.join(_paths.REPO, "examples", "data")):
            self.assertLess(os.path.getsize(os.path.join(_paths.REPO, "examples", "data", f)), 100 * 1024, f)

    def test_embedding_retrieval(self) -> None:
        docs = ["The lease lapses and the task is delivered again.", "SQLite is the default database."]
        vecs = [mlkit.embed(d) for d in docs]
        q = mlkit.embed("Which database is the default?")
        self.assertGreater(mlkit.cosine(q, vecs[1]), mlkit.cosine(q, vecs[0]))
        self.assertEqual(mlkit.embed("same text"), mlkit.embed("same text"))
        p, r, f1 = mlkit.f1_overlap("the default is SQLite", "SQLite is the default database")
        self.assertEqual((p, round(r, 4)), (1.0, 0.6667))


class LocalLLMTest(unittest.TestCase):
    def test_openai_compatible_answer(self) -> None:
        import local_llm
        srv, _ = local_llm.serve(0)
        try:
            body = {"model": "weft-local", "temperature": 0, "messages": [
                {"role": "system", "content": "Answer using only the context."},
                {"role": "user", "content": "Context:\nThe sky is blue. Grass is green; snow is white.\n\n"
                                            "Question: What colour is grass?"}]}
            req = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % srv.server_port,
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                out = json.loads(resp.read())
            self.assertEqual(out["object"], "chat.completion")
            self.assertEqual(out["choices"][0]["message"], {"role": "assistant", "content": "Grass is green;"})
        finally:
            srv.shutdown()
            srv.server_close()


class WorkerHandlersTest(unittest.TestCase):
    """The example handlers run through a real Worker and HTTP."""

    def test_rag_blocks_chain(self) -> None:
        import rag_eval
        with tempfile.TemporaryDirectory() as d, FakeWeft() as fake:
            os.environ["WEFT_MODEL_DIR"] = d
            w = Worker(fake.url, poll_wait=1.0)
            rag_eval.register(w)
            w.start()
            try:
                t = fake.add_task("docs.chunk_embed", {"doc": {"id": "d", "text": "Alpha beta gamma. Delta epsilon."},
                                                       "chunk_words": 3, "dim": 32})
                chunks = fake.wait_for(lambda: fake.report_for(t))[1]["output"]
                self.assertEqual([c["text"] for c in chunks["chunks"]], ["Alpha beta gamma.", "Delta epsilon."])
                t = fake.add_task("index.build", {"parts": [chunks], "dim": 32})
                idx = fake.wait_for(lambda: fake.report_for(t))[1]["output"]
                self.assertEqual(idx["chunks"], 2)
                t = fake.add_task("rag.retrieve", {"index_uri": idx["index_uri"], "question": "epsilon?", "top_k": 1})
                got = fake.wait_for(lambda: fake.report_for(t))[1]["output"]
                self.assertEqual(got["context"], "Delta epsilon.")
                t = fake.add_task("index.build", {"parts": []})
                kind, body = fake.wait_for(lambda: fake.report_for(t))
                self.assertEqual((kind, body["retryable"]), ("fail", False))
            finally:
                w.stop()
                os.environ.pop("WEFT_MODEL_DIR", None)


if __name__ == "__main__":
    unittest.main()
