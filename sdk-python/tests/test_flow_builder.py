"""Every kind of blueprint the builder writes, against golden JSON files in
tests/golden/ (WEFT_UPDATE_GOLDEN=1 rewrites them), plus the local checks."""

import datetime
import json
import os
import unittest
from typing import Callable, Dict

from tests import _paths  # noqa: F401
from weft import BlockDefinition, Compensate, Flow, Retry, ValidationError, call, if_, raw
from weft.schema import flow_schema, validate

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def task_options() -> Flow:
    f = Flow("task-options", title="Every option of an external block", description="retry, timeout, optional, "
             "catch, compensate", input_schema={"type": "object", "properties": {"n": {"type": "integer", "default": 3}}},
             timeout=datetime.timedelta(hours=2))
    a = f.block("fetch", "data.fetch@2", {"n": f.input["n"], "note": "literal $${not a template}"},
                retry=Retry(max_attempts=5, backoff="exponential", initial_interval="2s", max_interval=60),
                timeout=90, optional=True)
    b = f.block("store", "data.store", {"rows": a.output["rows"], "tags": ["x", a.output["tag"]]},
                compensate=Compensate("data.unstore", {"id": f.run_id}), retry={"max_attempts": 2})
    b.catch().block("alert", "notify.team", {"text": f"store failed: {b.error}"})
    f.output({"rows": a.output["rows"], "status": b.status, "attempts": a.attempts})
    return f


def fork_join() -> Flow:
    f = Flow("fork-join")
    src = f.block("src", "data.load")
    both = f.fork("both")
    left = both.branch()
    l1 = left.block("l1", "m.train", {"d": src.output, "algo": "a"})
    l2 = left.block("l2", "m.score", {"m": l1.output})
    r1 = both.branch().block("r1", "m.train", {"d": src.output, "algo": "b"})
    first = f.fork("first", join="any")
    first.branch().wait("slow", duration="1h")
    first.branch().wait("quick", duration=datetime.timedelta(seconds=90))
    f.lambda_("pick", if_(l2.output["r2"] >= r1.output["r2"], both.output["l2"], both.output["r1"]))
    return f


def decision_cases() -> Flow:
    f = Flow("decision-cases")
    s = f.block("score", "m.score")
    d = f.decision("route", if_(s.output["v"] > 0.9, "high", if_(s.output["v"] > 0.5, "mid", "low")))
    with d.case("high") as high:
        ok = high.wait("approve", signal="approval", timeout="24h")
        high.block("ship", "m.ship", {"by": ok.output["by"]})
    d.case("mid").block("review", "notify.team", {"text": "review ${score.output.v}"})
    d.default().fail("too_low", f"score {s.output['v']} is too low")
    f.output({"route": d.output})
    return f


def map_and_loop() -> Flow:
    f = Flow("map-and-loop")
    with f.map("each", f.input["docs"], concurrency=3) as each:
        e = each.block("embed", "docs.embed", {"doc": each.item, "position": each.index})
        each.lambda_("size", call("len", e.output["chunks"]))
    loop = f.loop("tune", max_iterations=5)
    fit = loop.block("fit", "m.fit", {"sizes": each.output, "round": loop.iteration})
    loop.while_((fit.output["loss"] > 0.1) & (loop.iteration < 5))
    f.lambda_("total", {"n": call("len", each.output), "loss": tune_loss(loop),
                        "avg": call("sum", call("map", each.output, raw("#"))) / call("len", each.output)})
    return f


def tune_loss(loop: "object") -> object:
    return loop.output["loss"]  # type: ignore[attr-defined]


def subflow_wait_fail() -> Flow:
    f = Flow("subflow-wait-fail")
    child = f.subflow("child", "house-prices@3", {"dataset_url": f.input["url"]}, timeout="3h")
    f.wait("until_noon", until="${flow.input.noon}")
    f.wait("pause", duration="10m")
    f.decision("check", if_(child.output["r2"] < 0.5, "bad", "ok"))
    f.node("check").case("bad").fail("stop", "child r2 ${child.output.r2} is too low")  # type: ignore[attr-defined]
    f.node("check").case("ok").lambda_("fine", True)  # type: ignore[attr-defined]
    f.on_failure().block("page", "notify.team", {"text": f"run {f.run_id} of {f.input['url']} failed: {f.error}"})
    f.trigger("0 3 * * MON", {"url": "s3://bucket/x.csv"})
    f.trigger("@daily")
    return f


CASES: Dict[str, Callable[[], Flow]] = {
    "task-options": task_options,
    "fork-join": fork_join,
    "decision-cases": decision_cases,
    "map-and-loop": map_and_loop,
    "subflow-wait-fail": subflow_wait_fail,
}


class GoldenTest(unittest.TestCase):
    def test_golden_files(self) -> None:
        for name, build in CASES.items():
            with self.subTest(name):
                text = build().to_json()
                path = os.path.join(GOLDEN, name + ".json")
                if os.environ.get("WEFT_UPDATE_GOLDEN"):
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(text)
                with open(path, encoding="utf-8") as fh:
                    self.assertEqual(text, fh.read(), "builder output for %s changed: compare with %s" % (name, path))
                self.assertEqual(text, build().to_json(), "to_json must be deterministic")

    def test_golden_files_are_valid(self) -> None:
        schema = flow_schema()
        if schema is None:
            self.fail("no flow schema found: expected flows/schema/flow.json or weft/schemas/flow.json")
        for name, build in CASES.items():
            with self.subTest(name):
                self.assertEqual(build().validate(), [])
                with open(os.path.join(GOLDEN, name + ".json"), encoding="utf-8") as fh:
                    self.assertEqual(validate(json.load(fh), schema), [])

    def test_key_order_is_what_a_person_writes(self) -> None:
        d = task_options().to_dict()
        self.assertEqual(list(d), ["name", "title", "description", "input_schema", "timeout", "blocks", "output"])
        self.assertEqual(list(d["blocks"][0]), ["ref", "block", "input", "retry", "timeout", "optional"])
        self.assertEqual(list(d["blocks"][1]), ["ref", "block", "input", "retry", "catch", "compensate"])
        self.assertEqual(d["timeout"], "2h")
        self.assertEqual(d["blocks"][0]["retry"], {"max_attempts": 5, "backoff": "exponential",
                                                   "initial_interval": "2s", "max_interval": "1m"})


class ChecksTest(unittest.TestCase):
    def test_refs_are_checked_when_added(self) -> None:
        f = Flow("x")
        f.block("a", "b.c")
        with self.assertRaisesRegex(ValueError, "used twice"):
            f.block("a", "b.d")
        with self.assertRaisesRegex(ValueError, "must match"):
            f.block("Bad-Ref", "b.c")
        with self.assertRaisesRegex(ValueError, "reserved"):
            f.block("item", "b.c")

    def test_scope_rules(self) -> None:
        f = Flow("scope")
        fork = f.fork("fk")
        inner = fork.branch().block("inner", "b.c")
        other = fork.branch().block("other", "b.c", {"x": inner.output})  # sibling branch: not visible
        with f.map("each", f.input["xs"]) as each:
            body = each.block("body", "b.c", {"i": each.item})
        gate = f.decision("gate", "true ? 'a' : 'b'")
        in_case = gate.case("a").block("in_case", "b.c")
        f.block("after", "b.c", {"ok": inner.output, "bad": body.output, "also_bad": in_case.output,
                                 "fine": each.output, "item": each.item})
        f.lambda_("early", "later.output")
        f.block("later", "b.c")
        problems = {(p.path, p.message.split(" is not in scope")[0]) for p in f.validate()}
        self.assertEqual(problems, {
            ("/blocks/0/branches/1/0/input", "'inner'"),
            ("/blocks/3/input", "'body'"),
            ("/blocks/3/input", "'in_case'"),
            ("/blocks/3/input", "'item'"),
            ("/blocks/4/expr", "'later'"),
        })
        self.assertIsNotNone(other)
        with self.assertRaises(ValidationError) as cm:
            f.check()
        self.assertIn("/blocks/3/input", str(cm.exception))

    def test_schema_problems_are_reported(self) -> None:
        f = Flow("Bad Name")
        f.block("a", "b.c", retry=Retry(max_attempts=0))
        paths = {p.path for p in f.validate()}
        self.assertIn("/name", paths)
        self.assertIn("/blocks/0/retry/max_attempts", paths)

    def test_loop_needs_while(self) -> None:
        f = Flow("l")
        f.loop("lp", max_iterations=3).block("x", "b.c")
        self.assertIn("no while condition", str(f.validate()[0]))
        with self.assertRaises(ValueError):
            f.loop("lp2", max_iterations=0)

    def test_block_definition(self) -> None:
        d = BlockDefinition("llm.chat", dispatch=BlockDefinition.http(
            "${secrets.WEFT_LLM_URL}", body="input", headers={"Authorization": "Bearer ${secrets.WEFT_LLM_KEY}"}),
            input_schema={"type": "object"}, retry=Retry(max_attempts=3), timeout="2m", heartbeat_timeout=30)
        self.assertEqual(d.to_dict(), {
            "name": "llm.chat",
            "dispatch": {"kind": "http", "url": "${secrets.WEFT_LLM_URL}", "body": "input",
                         "headers": {"Authorization": "Bearer ${secrets.WEFT_LLM_KEY}"}},
            "input_schema": {"type": "object"}, "retry": {"max_attempts": 3}, "timeout": "2m",
            "heartbeat_timeout": "30s"})
        self.assertEqual(BlockDefinition.from_dict(d.to_dict()).to_dict(), d.to_dict())


if __name__ == "__main__":
    unittest.main()
