"""serdes speed beside plain msgpack, measured in the same run, and zstd's shrink factor.

    python benchmarks/serdes_bench.py [--seconds 0.3] [--json PATH]

For a ~100 B and a ~10 KB value, each row gives dumps/s, loads/s and round trips/s
(dumps then loads) of one codec, and the round-trip rate as a multiple of plain
`msgpack.packb`/`unpackb` on the same value, timed in the same run (best of several
rounds, rounds interleaved so that machine noise hits every codec alike). Then the
size of a repetitive ~10 KB value before and after zstd.

Two rows measure what storing adds to the default codec: "+ checksum" seals the bytes
with their CRC-32 and checks it on reading (`serdes.seal`, `serdes.unseal`); "as
stored" is the engine's whole path for a value, the checksum plus the depth check
(`serdes.deeper_than`) and the decompressed-size check (`serdes.check_expanded_size`).
Their cost is printed as a share of the default codec's round trip in the same run.

Targets: the default codec at least 0.5x plain msgpack on the small value; zstd
shrinking the repetitive value at least 5x.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import zstandard

import serdes

SMALL = {
    "id": 42,
    "name": "widget",
    "tags": ["a", "b"],
    "price": 9.99,
    "sku": "WID-0042-BLUE",
    "qty": 3,
    "in_stock": True,
    "note": "ships within two days",
}
LARGE = {
    "rows": [
        {"id": i, "sku": f"SKU-{i % 50:04d}", "qty": i % 7, "price": 1.5 + i % 3, "ok": i % 2 == 0}
        for i in range(240)
    ]
}
REPETITIVE = {"log": ["order accepted; payment pending; warehouse notified"] * 200}
ROUNDS = 5


def per_second(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of `fn` over about `seconds`."""
    batch, calls, start = 50, 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


@dataclass(frozen=True)
class Case:
    """One codec on one value: its three timed calls and the size it writes."""

    dump: Callable[[], Any]
    load: Callable[[], Any]
    round_trip: Callable[[], Any]
    size: int


def measure(cases: dict[str, Case], seconds: float) -> dict[str, dict[str, float]]:
    """Best dumps/s, loads/s and round trips/s of each case over interleaved rounds."""
    best = {name: {"dumps": 0.0, "loads": 0.0, "round_trip": 0.0} for name in cases}
    for _ in range(ROUNDS):
        for name, case in cases.items():
            rates = best[name]
            for key, fn in (
                ("dumps", case.dump),
                ("loads", case.load),
                ("round_trip", case.round_trip),
            ):
                rates[key] = max(rates[key], per_second(fn, seconds / 3))
    return best


def codec_case(codec: serdes.SerDes, value: Any) -> Case:
    data = codec.serialize(value)
    assert codec.deserialize(data) == value
    return Case(
        lambda: codec.serialize(value),
        lambda: codec.deserialize(data),
        lambda: codec.deserialize(codec.serialize(value)),
        len(data),
    )


_LIMIT = 256 * 1024


def _store(value: Any) -> bytes:
    """What the engine does to store a value with the default codec."""
    data = serdes.dumps(value)
    if serdes.check_expanded_size(data, _LIMIT) > _LIMIT or serdes.deeper_than(
        value, serdes.MAX_DEPTH, data
    ):
        raise ValueError("refused")
    return serdes.seal(data)


def _read(stored: bytes) -> Any:
    """What the engine does to read a value stored so."""
    data = serdes.unseal(stored)
    serdes.check_expanded_size(data, _LIMIT)
    return serdes.loads(data)


def cases_for(value: Any) -> dict[str, Case]:
    plain = msgpack.packb(value)
    blob = serdes.dumps(value)
    sealed = serdes.seal(blob)
    assert serdes.loads(blob) == value == _read(_store(value))
    return {
        "plain msgpack": Case(
            lambda: msgpack.packb(value),
            lambda: msgpack.unpackb(plain),
            lambda: msgpack.unpackb(msgpack.packb(value)),
            len(plain),
        ),
        "serdes default": Case(
            lambda: serdes.dumps(value),
            lambda: serdes.loads(blob),
            lambda: serdes.loads(serdes.dumps(value)),
            len(blob),
        ),
        "+ checksum": Case(
            lambda: serdes.seal(serdes.dumps(value)),
            lambda: serdes.loads(serdes.unseal(sealed)),
            lambda: serdes.loads(serdes.unseal(serdes.seal(serdes.dumps(value)))),
            len(sealed),
        ),
        "as stored": Case(
            lambda: _store(value),
            lambda: _read(sealed),
            lambda: _read(_store(value)),
            len(sealed),
        ),
        "serdes zstd": codec_case(serdes.ZstdSerDes(), value),
        "serdes json": codec_case(serdes.JsonSerDes(), value),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="per case and round")
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "serdes_bench.json")
    )
    args = parser.parse_args()
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "msgpack": ".".join(map(str, msgpack.version)),
        "zstandard": zstandard.__version__,
        "rows": [],
    }
    header = (
        f"{'value':8} {'codec':15} {'bytes':>6} {'dumps/s':>11} {'loads/s':>11} "
        f"{'round trips/s':>14} {'vs msgpack':>11}"
    )
    print(header)
    print("-" * len(header))
    costs: dict[str, dict[str, float]] = {}
    for label, value in (("~100 B", SMALL), ("~10 KB", LARGE)):
        cases = cases_for(value)
        rates = measure(cases, args.seconds)
        base = rates["plain msgpack"]["round_trip"]
        default = 1 / rates["serdes default"]["round_trip"]
        costs[label] = {
            name: (1 / rates[name]["round_trip"] - default) / default
            for name in ("+ checksum", "as stored")
        }
        for name, r in rates.items():
            ratio = r["round_trip"] / base
            print(
                f"{label:8} {name:15} {cases[name].size:6} {r['dumps']:11,.0f} {r['loads']:11,.0f} "
                f"{r['round_trip']:14,.0f} {ratio:10.2f}x"
            )
            results["rows"].append(
                {"value": label, "codec": name, "bytes": cases[name].size, **r, "ratio": ratio}
            )
    print()
    for label, cost in costs.items():
        print(
            f"{label}: the checksum adds {cost['+ checksum']:+.1%} to a default round trip; "
            f"checksum, depth and size checks together {cost['as stored']:+.1%}"
        )
    results["stored_cost"] = costs
    small_ratio = next(
        row["ratio"]
        for row in results["rows"]
        if row["value"] == "~100 B" and row["codec"] == "serdes default"
    )
    plain = serdes.dumps(REPETITIVE)
    packed = serdes.ZstdSerDes().serialize(REPETITIVE)
    factor = len(plain) / len(packed)
    print(f"\nzstd on a repetitive value: {len(plain):,} -> {len(packed):,} bytes ({factor:.1f}x)")
    results["zstd_repetitive"] = {"plain": len(plain), "compressed": len(packed), "factor": factor}
    results["targets"] = {
        "default_vs_msgpack_small": {
            "value": small_ratio,
            "target": 0.5,
            "met": small_ratio >= 0.5,
        },
        "zstd_factor": {"value": factor, "target": 5.0, "met": factor >= 5.0},
    }
    print(
        f"targets: default codec {small_ratio:.2f}x plain msgpack (>= 0.5x: "
        f"{'met' if small_ratio >= 0.5 else 'MISSED'}); zstd {factor:.1f}x (>= 5x: "
        f"{'met' if factor >= 5 else 'MISSED'})"
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
