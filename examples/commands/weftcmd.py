"""Helpers for command blocks: read WEFT_INPUT, write WEFT_OUTPUT, find
artifacts. Standard library only; each command block script imports it."""

import json
import os
import sys
from typing import Any, Dict


def read_input() -> Dict[str, Any]:
    with open(os.environ["WEFT_INPUT"], encoding="utf-8") as f:
        return json.load(f)


def write_output(doc: Dict[str, Any]) -> None:
    with open(os.environ["WEFT_OUTPUT"], "w", encoding="utf-8") as f:
        json.dump(doc, f)


def artifact_in(ref: Any) -> str:
    """The local path of an input artifact ({"artifact": {...}})."""
    if not isinstance(ref, dict) or "artifact" not in ref:
        fail("expected an artifact reference such as ${step.artifacts.NAME}, got %r" % (ref,))
    return os.path.join(os.environ["WEFT_ARTIFACTS_IN"], ref["artifact"]["name"])


def artifact_out(name: str) -> str:
    """Where to leave a file that becomes the step's artifact NAME."""
    return os.path.join(os.environ["WEFT_ARTIFACTS_OUT"], name)


# Exit codes the example blocks list in fatal_exit_codes: bad input or
# data that no retry will fix.
BAD_INPUT = 2


def fail(message: str, code: int = BAD_INPUT) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)
