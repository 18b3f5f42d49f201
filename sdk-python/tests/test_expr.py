import unittest

from tests import _paths  # noqa: F401
from weft import FLOW, Flow, call, expr, if_, lit, raw
from weft.expr import names_in_source, names_in_template, template_sources


class ExprTest(unittest.TestCase):
    def setUp(self) -> None:
        self.f = Flow("x")
        self.a = self.f.block("a", "b.a")
        self.b = self.f.block("b", "b.b")

    def test_member_access(self) -> None:
        self.assertEqual(self.a.output["r2"].source, "a.output.r2")
        self.assertEqual(self.a.output["choices"][0]["message"]["content"].source, "a.output.choices[0].message.content")
        self.assertEqual(self.a.output["odd key"].source, "a.output['odd key']")
        self.assertEqual(self.a.output["in"].source, "a.output['in']")
        self.assertEqual(self.a.output.get("uri").source, "a.output?.uri")
        self.assertEqual(FLOW.input["dataset_url"].source, "flow.input.dataset_url")
        self.assertEqual(self.f.input["x"].source, "flow.input.x")
        self.assertEqual(self.f.run_id.source, "flow.run_id")

    def test_templates(self) -> None:
        r2 = self.a.output["r2"]
        self.assertEqual(str(r2), "${a.output.r2}")
        self.assertEqual(f"r2={r2}!", "r2=${a.output.r2}!")
        self.assertEqual(template_sources("x ${a.b} y $${lit} ${ {k: 1}.k }"), ["a.b", " {k: 1}.k "])

    def test_operators_and_precedence(self) -> None:
        a, b = self.a.output["r2"], self.b.output["r2"]
        self.assertEqual((a >= b).source, "a.output.r2 >= b.output.r2")
        self.assertEqual(if_(a >= b, self.a.output, self.b.output).source,
                         "a.output.r2 >= b.output.r2 ? a.output : b.output")
        self.assertEqual(if_(a >= 0.8, "good", "bad").source, "a.output.r2 >= 0.8 ? 'good' : 'bad'")
        self.assertEqual(((a > 1) & ~(b < 2)).source, "a.output.r2 > 1 and not (b.output.r2 < 2)")
        self.assertEqual(((a > 1) | (b > 1) & (a < 5)).source, "a.output.r2 > 1 or b.output.r2 > 1 and a.output.r2 < 5")
        self.assertEqual((((a > 1) | (b > 1)) & (a < 5)).source, "(a.output.r2 > 1 or b.output.r2 > 1) and a.output.r2 < 5")
        self.assertEqual(((a + b) * 2).source, "(a.output.r2 + b.output.r2) * 2")
        self.assertEqual((a - (b - 1)).source, "a.output.r2 - (b.output.r2 - 1)")
        self.assertEqual((1 - a).source, "1 - a.output.r2")
        self.assertEqual((a >= FLOW.input["min"].or_default(0.8)).source, "a.output.r2 >= (flow.input.min ?? 0.8)")
        self.assertEqual(self.a.output.get("u").or_default("").source, "a.output?.u ?? ''")
        self.assertEqual((a == "x").source, "a.output.r2 == 'x'")
        self.assertEqual((a != None).source, "a.output.r2 != nil")  # noqa: E711
        self.assertEqual(a.in_([1, 2]).source, "a.output.r2 in [1, 2]")
        self.assertEqual(if_(a > 1, if_(b > 1, 1, 2), 3).source, "a.output.r2 > 1 ? (b.output.r2 > 1 ? 1 : 2) : 3")
        self.assertEqual(call("len", self.a.output).source, "len(a.output)")
        self.assertEqual(call("sum", call("map", self.a.output, raw(".score"))).source, "sum(map(a.output, .score))")
        self.assertEqual((expr("x.y + 1") * 2).source, "(x.y + 1) * 2")

    def test_literals(self) -> None:
        self.assertEqual(lit({"a": 1, "b c": [True, None, "it's"]}).source, "{a: 1, 'b c': [true, nil, 'it\\'s']}")
        self.assertEqual(lit("line\nnext").source, "'line\\nnext'")
        self.assertEqual(lit(-2).source, "-2")
        with self.assertRaises(ValueError):
            lit(float("nan"))
        with self.assertRaises(TypeError):
            lit(self.a)

    def test_no_python_truth_value(self) -> None:
        with self.assertRaises(TypeError):
            if self.a.output["r2"] > 1:
                pass
        with self.assertRaises(TypeError):
            _ = (self.a.output["r2"] > 1) and (self.b.output["r2"] > 1)

    def test_names(self) -> None:
        e = if_(self.a.output["r2"] >= FLOW.input["m"], self.b.output, 0)
        self.assertEqual(e.names, frozenset({"a", "b", "flow"}))
        self.assertEqual(names_in_source("len(x.output) > 0 ? {avg: y.output.s} : z ?? 'q'"), {"x", "y", "z"})
        self.assertEqual(names_in_source("map(a.output, .score)"), {"a"})
        self.assertEqual(names_in_template("run ${flow.run_id}: ${best.output.r2} $${lit}"), {"flow", "best"})


if __name__ == "__main__":
    unittest.main()
