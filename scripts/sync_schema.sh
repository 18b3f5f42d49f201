#!/usr/bin/env bash
# Copy the JSON Schemas the server ships into the Python SDK package, so
# `pip install ./sdk-python` validates blueprints offline. The SDK tests
# fail when the copies are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p sdk-python/weft/schemas
cp flows/schema/flow.json sdk-python/weft/schemas/flow.json
cp blocks/schema/block.json sdk-python/weft/schemas/block.json
echo "copied flow.json and block.json into sdk-python/weft/schemas/"
