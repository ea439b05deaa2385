"""A test hook called at each persistence point of the SQLite store.

The store's writer has two persistence points per transaction: just before its
`COMMIT` and just after. A hook installed with `install` (or
`SqliteStore.set_persistence_hook`) is called at each with `"before commit"` or
`"after commit"`, on the database thread (while one is installed, the store applies
no batch on the event loop's thread). Crash tests install one that ends the
process at the k-th point, as a SIGKILL at that instant would; a hook that raises
before the commit makes that transaction fail. With no hook (the default) a point
costs one comparison per transaction.

The hook is process-wide, like the crash it stands for: it applies to every store
of the process.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PersistenceHook", "hook", "install"]

PersistenceHook = Callable[[str], None]
"""Called with the point reached: `"before commit"` or `"after commit"`."""

hook: PersistenceHook | None = None
"""The hook installed, if any."""


def install(new: PersistenceHook | None) -> PersistenceHook | None:
    """Install `new` (None: remove the hook); returns the hook it replaces."""
    global hook
    previous, hook = hook, new
    return previous
