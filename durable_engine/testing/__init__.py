"""Test kit: run durable functions on a private database and a virtual clock.

    async with DurableTestRunner([my_workflow]) as runner:
        result = await runner.run(my_workflow, {"id": 1})   # a 30-day wait takes no time
        assert result.get_step("charge").attempt == 1

See `DurableTestRunner` for how virtual time moves, and `pytest_plugin` for the
`durable_runner` fixture.
"""

from __future__ import annotations

from ._clock import VirtualClock
from ._results import OperationNotFound, PendingCallback, TestOperation, TestResult
from ._runner import DurableRunnerFactory, DurableTestRunner, ExecutionStuck

__all__ = [
    "DurableRunnerFactory",
    "DurableTestRunner",
    "ExecutionStuck",
    "OperationNotFound",
    "PendingCallback",
    "TestOperation",
    "TestResult",
    "VirtualClock",
]
