import unittest

from tests import _paths  # noqa: F401
from weft.schema import apply_defaults, validate


def problems(v: object, s: dict) -> list:
    return [(p.path, p.message) for p in validate(v, s)]


class SchemaTest(unittest.TestCase):
    def test_types_and_required(self) -> None:
        s = {"type": "object", "required": ["a"], "additionalProperties": False,
             "properties": {"a": {"type": "integer"}, "b": {"type": ["string", "null"]}}}
        self.assertEqual(problems({"a": 1, "b": None}, s), [])
        self.assertEqual(problems({"a": 1.0}, s), [])
        self.assertEqual(problems({"a": True}, s), [("/a", "must be integer, not boolean")])
        self.assertEqual(problems({"b": 3, "c": 1}, s), [
            ("", "'a' is required"), ("/b", "must be string or null, not integer"),
            ("/c", "unknown key 'c' (known: a, b)")])

    def test_strings_numbers_arrays(self) -> None:
        s = {"type": "array", "minItems": 1, "uniqueItems": True,
             "items": {"type": "object", "properties": {
                 "r": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
                 "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                 "e": {"enum": ["x", "y"]}, "c": {"const": 2}}}}
        self.assertEqual(problems([], s), [("", "must not be empty")])
        self.assertEqual(problems([{"r": "Ab"}, {"n": 1}, {"n": -1}, {"e": "z"}, {"c": 3}, {"c": 2}, {"c": 2}], s), [
            ("/0/r", '"Ab" does not match ^[a-z]+$'), ("/1/n", "must be less than 1"), ("/2/n", "must be at least 0"),
            ("/3/e", 'must be one of "x", "y", not "z"'), ("/4/c", "must be 2"), ("/6", "duplicates an earlier item")])

    def test_refs_combinators_conditionals(self) -> None:
        s = {"definitions": {"pos": {"type": "integer", "minimum": 1}},
             "type": "object",
             "properties": {"n": {"$ref": "#/definitions/pos"},
                            "k": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                            "m": {"anyOf": [{"type": "string"}, {"$ref": "#/definitions/pos"}]},
                            "x": {"not": {"type": "null"}}},
             "if": {"properties": {"type": {"const": "wait"}}, "required": ["type"]},
             "then": {"required": ["signal"]}}
        self.assertEqual(problems({"n": 2, "k": "a", "m": 3}, s), [])
        self.assertEqual(problems({"n": 0}, s), [("/n", "must be at least 1")])
        self.assertEqual(problems({"k": 1.5}, s)[0][0], "/k")
        self.assertEqual(problems({"m": 0}, s), [("/m", "must be at least 1")])
        self.assertEqual(problems({"x": None}, s)[0][0], "/x")
        self.assertEqual(problems({"type": "wait"}, s), [("", "'signal' is required")])
        self.assertEqual(problems({"type": "fork"}, s), [])

    def test_apply_defaults(self) -> None:
        s = {"type": "object", "properties": {"a": {"default": [1]}, "b": {"type": "string"}, "c": {"default": 2}}}
        self.assertEqual(apply_defaults(s, {"c": 5}), {"c": 5, "a": [1]})
        self.assertEqual(apply_defaults(None, None), {})


if __name__ == "__main__":
    unittest.main()
