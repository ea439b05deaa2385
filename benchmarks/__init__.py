"""durable_engine's benchmark suite: `python -m benchmarks` (see `--help`).

Every row of the performance table is measured beside its baseline in the same run
(plain aiosqlite, or another named floor), as the median of several fresh engines,
with the machine's load average noted; the pass prints one table and writes JSON.
The rows are in `benchmarks.rows`, the machinery in `benchmarks.suite`.
"""
