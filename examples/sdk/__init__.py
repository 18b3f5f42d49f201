"""The example blueprints of flows/examples/, built with the Python SDK.

    PYTHONPATH=sdk-python python3 -m weft build examples.sdk.house_prices:build
"""
