"""Execution ids: unique, sorted by creation time, and still unique after a fork."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from durable_engine._ids import new_execution_id


def test_ids_are_unique_and_start_with_their_creation_time() -> None:
    before = time.time_ns()
    ids = [new_execution_id() for _ in range(10_000)]
    after = time.time_ns()
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and before <= int(i[:16], 16) <= after for i in ids)


def _child_random_half(queue: multiprocessing.Queue[str]) -> None:
    queue.put(new_execution_id()[16:])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_draws_other_random_halves() -> None:
    """Without a reseed, parent and child would draw the same random half next."""
    fork = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = fork.Queue()
    child = fork.Process(target=_child_random_half, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(timeout=30)
    assert theirs != new_execution_id()[16:]
