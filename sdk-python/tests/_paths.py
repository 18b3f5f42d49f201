"""Paths shared by the tests; puts the SDK and example workers on sys.path."""

import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(TESTS)
REPO = os.path.dirname(SDK)
WORKERS = os.path.join(REPO, "examples", "workers")
for p in (SDK, REPO, WORKERS):
    if p not in sys.path:
        sys.path.insert(0, p)
