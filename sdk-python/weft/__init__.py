"""Weft: build blueprints, talk to the API, run workers.

Standard library only, Python 3.9+.

    from weft import Flow, Client, Worker, BlockError
"""

import logging as _logging

from .artifacts import Artifact, ArtifactInfo
from .client import Client
from .errors import APIError, BlockError, LeaseConflict, NotFound, Problem, TransportError, ValidationError, WeftError
from .expr import Expr, call, expr, if_, lit, raw
from .flow import (
    FLOW,
    BlockDefinition,
    Compensate,
    Decision,
    Fail,
    Flow,
    Fork,
    Lambda,
    Loop,
    Map,
    Node,
    Retry,
    Sequence,
    Subflow,
    Task as TaskNode,
    Wait,
    duration,
)
from .schema import validate as validate_schema
from .types import TERMINAL_STATUSES, Deployed, HeartbeatResult, Run, RunPage, SignalWait, Step, Task
from .worker import JsonFormatter, TaskContext, Worker, configure_logging

__version__ = "0.1.0"

# Silent unless the application configures logging (see configure_logging).
_logging.getLogger("weft").addHandler(_logging.NullHandler())

__all__ = [
    "APIError",
    "Artifact",
    "ArtifactInfo",
    "BlockDefinition",
    "BlockError",
    "Client",
    "Compensate",
    "Decision",
    "Deployed",
    "Expr",
    "FLOW",
    "Fail",
    "Flow",
    "Fork",
    "HeartbeatResult",
    "JsonFormatter",
    "Lambda",
    "LeaseConflict",
    "Loop",
    "Map",
    "Node",
    "NotFound",
    "Problem",
    "Retry",
    "Run",
    "RunPage",
    "Sequence",
    "SignalWait",
    "Step",
    "Subflow",
    "TERMINAL_STATUSES",
    "Task",
    "TaskContext",
    "TaskNode",
    "TransportError",
    "ValidationError",
    "Wait",
    "WeftError",
    "Worker",
    "call",
    "configure_logging",
    "duration",
    "expr",
    "if_",
    "lit",
    "raw",
    "validate_schema",
    "__version__",
]
