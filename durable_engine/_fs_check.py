"""Whether a database would sit on a network filesystem, where SQLite's locking fails.

SQLite relies on POSIX advisory locks and, in WAL mode, on shared memory; over
NFS, SMB/CIFS, sshfs and most FUSE filesystems these are missing or unreliable, and
several workers on one file can corrupt it. The mount holding the database's
folder is the entry of /proc/mounts with the longest mount point that is a prefix
of that folder's real path.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ._errors import StoreError

__all__ = ["MountInfo", "check_database_file", "find_mount", "network_mount", "parse_mounts"]

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
    # The file's own real path: a symlink to a file on a network mount is on that mount.
    directory = os.path.dirname(os.path.realpath(db_path))
    if mounts_text is None:
        try:
            with open("/proc/mounts", encoding="utf-8", errors="replace") as f:
                mounts_text = f.read()
        except OSError:
            return None  # not Linux, or no /proc: nothing to go by
    mount = find_mount(directory, parse_mounts(mounts_text))
    return mount if mount is not None and mount.is_network else None


def check_database_file(path: str, *, allow_network_fs: bool, allow_shared_file: bool) -> None:
    """StoreError, before the file is opened, for a database an engine must not use
    unless told to: one on a network filesystem (its real path, through symlinks), and
    an existing file owned by another user or writable by its group or by others (who
    could then change what the engine runs and records)."""
    if path == ":memory:" or path.startswith("file:"):
        return
    real = os.path.realpath(path)
    mount = network_mount(real)
    if mount is not None and not allow_network_fs:
        raise StoreError(
            f"{path} is on a network filesystem ({mount.fs_type} mounted at "
            f"{mount.mount_point}), where SQLite's file locking is unreliable and several "
            "workers can corrupt the database; move it to a local disk, or pass "
            "allow_network_fs=True (--allow-network-fs) if only one machine ever opens it"
        )
    if allow_shared_file:
        return
    try:
        info = os.stat(real)
    except OSError:
        return  # not there yet: it is created private
    problem = None
    if info.st_uid != os.geteuid():
        problem = f"is owned by another user (uid {info.st_uid})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"can be written by its group or by others (mode {stat.filemode(info.st_mode)})"
    if problem is not None:
        raise StoreError(
            f"{path} {problem}: someone else could change what the engine runs. Make it "
            f"yours and private (chown, chmod 600 {path}), or pass allow_shared_file=True "
            "(--allow-shared-file) if that is intended"
        )
