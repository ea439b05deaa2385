"""The rules: each code, what it catches, what to use instead, and the names it knows.

Names are fully qualified (`datetime.datetime.now`), after the file's imports are
resolved, so `from datetime import datetime as dt; dt.now()` is `datetime.datetime.now`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ATTRIBUTES",
    "CALLS",
    "CHILD_BODY_ARGS",
    "DURABLE_OPERATIONS",
    "METHODS",
    "NO_ARGUMENT_CALLS",
    "PREFIXES",
    "RULES",
    "SLEEPS",
    "STEP_BODY_ARGS",
    "Rule",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A rule: its code, a short name, what it catches and what to use instead."""

    code: str
    name: str
    catches: str
    instead: str

    def message(self, subject: str) -> str:
        """The message of a finding about `subject` (the call or name as resolved)."""
        return f"{subject} {self.catches}: {self.instead}"


_RULES = (
    Rule(
        code="DE101",
        name="wall-clock",
        catches="reads the wall clock, which gives another value on replay",
        instead="use `await ctx.now()` (recorded), or read the time inside a step",
    ),
    Rule(
        code="DE102",
        name="randomness",
        catches="is random, so replay takes another path",
        instead="use `await ctx.random()` or `await ctx.uuid4()` (recorded), or draw inside a step",
    ),
    Rule(
        code="DE103",
        name="sleep",
        catches="sleeps in memory: the wait is lost if the process stops",
        instead="use `await ctx.wait(seconds)`, a durable timer",
    ),
    Rule(
        code="DE104",
        name="environment",
        catches="reads the environment, which may differ where the execution resumes",
        instead="pass the value in the input, or read it inside a step",
    ),
    Rule(
        code="DE105",
        name="file-io",
        catches="touches files, which runs again on every replay",
        instead="do file I/O inside a step (`await ctx.step(fn)`)",
    ),
    Rule(
        code="DE106",
        name="network-io",
        catches="does network I/O, which runs again on every replay",
        instead="make the call inside a step (`await ctx.step(fn)`)",
    ),
    Rule(
        code="DE107",
        name="subprocess",
        catches="runs a process, which runs again on every replay",
        instead="run it inside a step (`await ctx.step(fn)`)",
    ),
    Rule(
        code="DE108",
        name="threads",
        catches="runs work outside the workflow's task, unrecorded",
        instead="use `ctx.parallel` or `ctx.map` for concurrency, or a step "
        "(a plain `def` step body already runs in a worker thread)",
    ),
    Rule(
        code="DE109",
        name="global-mutation",
        catches="is a module global assigned by workflow code: replay and other "
        "executions see whatever the last run left there",
        instead="keep state in local variables and return values",
    ),
    Rule(
        code="DE201",
        name="operation-in-step",
        catches="is a durable operation called inside a step body: a body runs once "
        "and only its result is recorded",
        instead="call it from the workflow, or group operations with `ctx.run_in_child_context`",
    ),
    Rule(
        code="DE202",
        name="context-in-step",
        catches="is the workflow's DurableContext, used by a step body",
        instead="use the StepContext the body is given (`step_ctx.logger`, "
        "`step_ctx.attempt`) and pass values, not the context",
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
"""Every rule by code, in code order."""

_CLOCK = "DE101"
_RANDOM = "DE102"
_SLEEP = "DE103"
_ENV = "DE104"
_FILE = "DE105"
_NET = "DE106"
_PROC = "DE107"
_THREAD = "DE108"

CALLS: dict[str, str] = {
    **dict.fromkeys(
        [
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
            "time.time",
            "time.time_ns",
            "time.monotonic",
            "time.monotonic_ns",
            "time.perf_counter",
            "time.perf_counter_ns",
            "time.process_time",
            "time.process_time_ns",
            "time.thread_time",
            "time.thread_time_ns",
            "time.clock_gettime",
            "time.clock_gettime_ns",
            "anyio.current_time",
            "trio.current_time",
            "pendulum.now",
            "pendulum.today",
            "arrow.now",
            "arrow.utcnow",
        ],
        _CLOCK,
    ),
    **dict.fromkeys(["uuid.uuid1", "uuid.uuid4", "os.urandom", "os.getrandom"], _RANDOM),
    **dict.fromkeys(["os.getenv", "os.getenvb", "os.putenv", "os.unsetenv"], _ENV),
    **dict.fromkeys(
        [
            "open",
            "io.open",
            "io.open_code",
            "os.open",
            "os.listdir",
            "os.scandir",
            "os.walk",
            "os.stat",
            "os.remove",
            "os.unlink",
            "os.rename",
            "os.replace",
            "os.mkdir",
            "os.makedirs",
            "os.rmdir",
            "os.removedirs",
            "os.path.exists",
            "os.path.isfile",
            "os.path.isdir",
            "os.path.getsize",
            "os.path.getmtime",
            "anyio.open_file",
            "sqlite3.connect",
        ],
        _FILE,
    ),
    **dict.fromkeys(
        [
            *(
                f"{module}.{verb}"
                for module in ("requests", "httpx")
                for verb in ("get", "post", "put", "patch", "delete", "head", "options")
            ),
            "requests.request",
            "requests.Session",
            "httpx.request",
            "httpx.stream",
            "httpx.Client",
            "httpx.AsyncClient",
            "asyncio.open_connection",
            "asyncio.open_unix_connection",
            "asyncio.start_server",
            "anyio.connect_tcp",
            "anyio.connect_unix",
            "anyio.create_tcp_listener",
            "anyio.create_udp_socket",
            "anyio.getaddrinfo",
        ],
        _NET,
    ),
    **dict.fromkeys(
        [
            "os.system",
            "os.popen",
            "asyncio.create_subprocess_exec",
            "asyncio.create_subprocess_shell",
            "anyio.run_process",
            "anyio.open_process",
        ],
        _PROC,
    ),
    **dict.fromkeys(
        [
            "threading.Thread",
            "threading.Timer",
            "_thread.start_new_thread",
            "asyncio.to_thread",
            "anyio.to_thread.run_sync",
            "anyio.to_process.run_sync",
        ],
        _THREAD,
    ),
}
"""Calls found by their exact qualified name."""

PREFIXES: dict[str, str] = {
    "random.": _RANDOM,
    "secrets.": _RANDOM,
    "numpy.random.": _RANDOM,
    "shutil.": _FILE,
    "glob.": _FILE,
    "tempfile.": _FILE,
    "aiofiles.": _FILE,
    "urllib.request.": _NET,
    "urllib3.": _NET,
    "aiohttp.": _NET,
    "socket.": _NET,
    "http.client.": _NET,
    "smtplib.": _NET,
    "ftplib.": _NET,
    "subprocess.": _PROC,
    "os.exec": _PROC,
    "os.spawn": _PROC,
    "os.posix_spawn": _PROC,
    "concurrent.futures.": _THREAD,
    "multiprocessing.": _THREAD,
}
"""Calls found by the start of their qualified name (every function of a module)."""

NO_ARGUMENT_CALLS: dict[str, str] = {
    name: _CLOCK for name in ("time.localtime", "time.gmtime", "time.ctime", "time.asctime")
}
"""Calls that read the clock only when given no argument (`time.gmtime()`)."""

SLEEPS: dict[str, str] = {
    name: _SLEEP
    for name in (
        "time.sleep",
        "asyncio.sleep",
        "anyio.sleep",
        "anyio.sleep_until",
        "anyio.sleep_forever",
        "trio.sleep",
        "trio.sleep_until",
        "trio.sleep_forever",
    )
}
"""Sleeps; `sleep(0)`, which only yields to the event loop, is allowed."""

ATTRIBUTES: dict[str, str] = {"os.environ": _ENV, "os.environb": _ENV}
"""Names found wherever they are read, called or not (`os.environ["HOME"]`)."""

METHODS: dict[str, str] = {
    "read_text": _FILE,
    "read_bytes": _FILE,
    "write_text": _FILE,
    "write_bytes": _FILE,
    "run_in_executor": _THREAD,
}
"""Methods found on any object (`Path(p).read_text()`, `loop.run_in_executor(...)`)."""

DURABLE_OPERATIONS = frozenset(
    {
        "step",
        "wait",
        "run_in_child_context",
        "parallel",
        "map",
        "create_callback",
        "wait_for_callback",
        "wait_for_condition",
        "invoke",
        "now",
        "random",
        "uuid4",
        "with_retry",
        "saga",
    }
)
"""The methods of a DurableContext that are durable operations."""

STEP_BODY_ARGS: dict[str, tuple[int, str]] = {
    "step": (0, "fn"),
    "wait_for_callback": (0, "submitter"),
    "wait_for_condition": (0, "check"),
    "add_compensation": (0, "fn"),
}
"""Calls whose argument (by position, or by keyword) runs once, as a step body."""

CHILD_BODY_ARGS: dict[str, tuple[int, str]] = {
    "run_in_child_context": (0, "fn"),
    "with_retry": (0, "fn"),
    "map": (1, "fn"),
    "parallel": (0, "branches"),
}
"""Calls whose argument is workflow code run with a child DurableContext first
(for `parallel`, each element of a list or tuple of branches)."""
