import os
import sys
import tempfile
import unittest
import zipfile

from tests import _paths

sys.path.insert(0, os.path.join(_paths.SDK, "_build"))
import weft_build  # noqa: E402


class PackagingTest(unittest.TestCase):
    def test_wheel_holds_the_package_typing_marker_and_schemas(self) -> None:
        self.assertEqual(weft_build.get_requires_for_build_wheel(), [])  # nothing to download
        with tempfile.TemporaryDirectory() as d:
            name = weft_build.build_wheel(d)
            with zipfile.ZipFile(os.path.join(d, name)) as z:
                names = set(z.namelist())
                record = z.read("weft-0.1.0.dist-info/RECORD").decode()
        for f in ("weft/__init__.py", "weft/py.typed", "weft/schemas/flow.json", "weft/schemas/block.json",
                  "weft/worker.py", "weft/client.py", "weft/flow.py", "weft/errors.py",
                  "weft-0.1.0.dist-info/METADATA", "weft-0.1.0.dist-info/entry_points.txt"):
            self.assertIn(f, names)
            self.assertIn(f + ",", record)
        self.assertFalse([n for n in names if "__pycache__" in n or n.startswith("tests/")])

    def test_public_names(self) -> None:
        import weft
        for n in weft.__all__:
            self.assertTrue(hasattr(weft, n), n)
        for n in ("Flow", "Client", "Worker", "BlockError", "Task", "Run", "Retry", "Compensate", "if_"):
            self.assertIn(n, weft.__all__)


if __name__ == "__main__":
    unittest.main()
