"""serdes speed beside plain msgpack, measured in the same run, and zstd's shrink factor.

    python benchmarks/serdes_bench.py [--seconds 0.5] [--json PATH]

Each row times dumps+loads of one value: serdes' default codec, msgpack+zstd and
JSON, beside plain `msgpack.packb`/`unpackb` of the same value (the raw limit).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

import serdes

SMALL = {"id": 42, "name": "widget", "tags": ["a", "b"], "price": 9.99, "qty": 3, "ok": True}
LARGE = {
    "rows": [
        {"id": i, "sku": f"SKU-{i % 50:04d}", "qty": i % 7, "price": 1.5 + i % 3, "ok": i % 2 == 0}
        for i in range(200)
    ]
}
REPETITIVE = {"log": ["order accepted; payment pending; warehouse notified"] * 200}


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of `fn`, over about `seconds`."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            fn()
        n += 100
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument(
        "--json", default=str(Path(__file__).parent / "results" / "serdes_bench.json")
    )
    args = parser.parse_args()
    codecs: dict[str, serdes.SerDes] = {
        "serdes msgpack (default)": serdes.MsgpackSerDes(),
        "serdes msgpack+zstd": serdes.ZstdSerDes(),
        "serdes json": serdes.JsonSerDes(),
    }
    results: dict[str, Any] = {"python": platform.python_version(), "rows": []}
    print(f"{'value':14} {'codec':26} {'round trips/s':>14} {'vs msgpack':>11} {'bytes':>7}")
    for label, value in (("small ~100 B", SMALL), ("large ~10 KB", LARGE)):
        raw = msgpack.packb(value)
        base = rate(lambda v=value: msgpack.unpackb(msgpack.packb(v)), args.seconds)
        print(
            f"{label:14} {'plain msgpack (raw limit)':26} {base:14,.0f} {1.0:10.2f}x {len(raw):7}"
        )
        results["rows"].append(
            {"value": label, "codec": "plain msgpack", "per_second": base, "bytes": len(raw)}
        )
        for name, codec in codecs.items():
            data = codec.serialize(value)
            per_second = rate(lambda c=codec, v=value: c.deserialize(c.serialize(v)), args.seconds)
            print(
                f"{label:14} {name:26} {per_second:14,.0f} {per_second / base:10.2f}x {len(data):7}"
            )
            results["rows"].append(
                {
                    "value": label,
                    "codec": name,
                    "per_second": per_second,
                    "ratio_to_msgpack": per_second / base,
                    "bytes": len(data),
                }
            )
    plain = serdes.MsgpackSerDes().serialize(REPETITIVE)
    packed = serdes.ZstdSerDes().serialize(REPETITIVE)
    shrink = len(plain) / len(packed)
    print(f"zstd on a repetitive value: {len(plain):,} -> {len(packed):,} bytes ({shrink:.1f}x)")
    results["zstd_repetitive"] = {"plain": len(plain), "compressed": len(packed), "factor": shrink}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
