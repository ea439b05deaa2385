"""Whether a database would sit on a network filesystem, where SQLite's locking fails.

SQLite relies on POSIX advisory locks and, in WAL mode, on shared memory; over
NFS, SMB/CIFS, sshfs and most FUSE filesystems these are missing or unreliable, and
several workers on one file can corrupt it. The mount holding the database's
folder is the entry of /proc/mounts with the longest mount point that is a prefix
of that folder's real path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["MountInfo", "find_mount", "network_mount", "parse_mounts"]

_NETWORK_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "sshfs",
        "ncpfs",
        "afs",
        "coda",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gfs2",
        "ocfs2",
        "beegfs",
        "gpfs",
        "davfs",
        "fuse",
    }
)
# FUSE filesystems whose data and locks stay on this machine.
_LOCAL_FUSE = frozenset({"fuseblk", "fuse.fuse-overlayfs", "fuse.lxcfs"})


@dataclass(frozen=True, slots=True)
class MountInfo:
    device: str
    mount_point: str
    fs_type: str

    @property
    def is_network(self) -> bool:
        fs = self.fs_type.lower()
        if fs in _LOCAL_FUSE:
            return False
        return fs in _NETWORK_TYPES or fs.startswith(("fuse.", "nfs"))


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mounts(text: str) -> list[MountInfo]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.append(MountInfo(_unescape(parts[0]), _unescape(parts[1]), parts[2]))
    return mounts


def find_mount(directory: str, mounts: list[MountInfo]) -> MountInfo | None:
    """The mount holding `directory`: the longest mount point that prefixes it."""
    best: MountInfo | None = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/") or "/"
        inside = point == "/" or directory == point or directory.startswith(point + "/")
        # Later entries of the same point shadow earlier ones, as the kernel does.
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = mount
    return best


def network_mount(db_path: str, mounts_text: str | None = None) -> MountInfo | None:
    """The network mount that `db_path` would live on, or None if it is local or unknown."""
    if db_path == ":memory:" or db_path.startswith("file:"):
        return None
    directory = os.path.realpath(os.path.dirname(os.path.abspath(db_path)))
    if mounts_text is None:
        try:
            with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
                mounts_text = f.read()
        except OSError:
            return None  # not Linux, or no /proc: nothing to go by
    mount = find_mount(directory, parse_mounts(mounts_text))
    return mount if mount is not None and mount.is_network else None
