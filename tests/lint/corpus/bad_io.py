"""Workflows that sleep, read the environment, do I/O and start threads outside steps."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import httpx
import requests

from durable_engine import DurableContext, Engine

engine = Engine("bad.db")


@engine.durable_function
async def sleepy(ctx: DurableContext, seconds: float) -> None:
    time.sleep(seconds)  # expect: DE103
    await asyncio.sleep(seconds)  # expect: DE103
    await anyio.sleep(seconds)  # expect: DE103


@engine.durable_function
async def configured(ctx: DurableContext, _: None) -> list[Any]:
    return [
        os.environ["HOME"],  # expect: DE104
        os.environ.get("USER"),  # expect: DE104
        "CI" in os.environ,  # expect: DE104
        os.getenv("LANG"),  # expect: DE104
    ]


@engine.durable_function
async def files(ctx: DurableContext, path: str) -> list[Any]:
    with open(path) as f:  # expect: DE105
        first = f.read()
    return [
        first,
        Path(path).read_text(),  # expect: DE105
        Path(path).write_bytes(b""),  # expect: DE105
        os.listdir("."),  # expect: DE105
    ]


@engine.durable_function
async def network(ctx: DurableContext, url: str) -> list[Any]:
    async with httpx.AsyncClient() as client:  # expect: DE106
        page = await client.get(url)
    return [
        page,
        requests.get(url, timeout=5),  # expect: DE106
        urllib.request.urlopen(url),  # expect: DE106
        socket.create_connection(("example.com", 80)),  # expect: DE106
        subprocess.run(["true"], check=True),  # expect: DE107
    ]


@engine.durable_function
async def threads(ctx: DurableContext, _: None) -> None:
    threading.Thread(target=print).start()  # expect: DE108
    with concurrent.futures.ThreadPoolExecutor() as pool:  # expect: DE108
        pool.submit(print)
    await asyncio.to_thread(print)  # expect: DE108
    await asyncio.get_running_loop().run_in_executor(None, print)  # expect: DE108
