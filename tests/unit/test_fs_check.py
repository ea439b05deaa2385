"""Finding the mount a database lives on, and which filesystems count as network ones."""

from __future__ import annotations

from durable_engine._fs_check import find_mount, network_mount, parse_mounts

MOUNTS = r"""/dev/vda / ext4 rw,relatime 0 0
server:/export /mnt/shared nfs4 rw,relatime 0 0
//nas/team /mnt/team cifs rw 0 0
me@host:/srv /home/me/remote fuse.sshfs rw 0 0
/dev/sdb1 /mnt/shared/local ext4 rw 0 0
/dev/sdc1 /media/usb fuseblk rw 0 0
fuse-overlayfs /var/lib/containers fuse.fuse-overlayfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/sdd1 /mnt/with\040space xfs rw 0 0
"""


def test_the_longest_mount_point_prefix_wins() -> None:
    mounts = parse_mounts(MOUNTS)
    assert find_mount("/mnt/shared/a/b", mounts).fs_type == "nfs4"  # type: ignore[union-attr]
    assert find_mount("/mnt/shared/local/x", mounts).fs_type == "ext4"  # type: ignore[union-attr]
    assert find_mount("/mnt/sharedx", mounts).mount_point == "/"  # type: ignore[union-attr]
    assert find_mount("/mnt/with space/db", mounts).fs_type == "xfs"  # type: ignore[union-attr]


def test_network_and_fuse_mounts_are_flagged_local_ones_are_not() -> None:
    def fs(path: str) -> str | None:
        mount = network_mount(path, MOUNTS)
        return None if mount is None else mount.fs_type

    assert fs("/mnt/shared/orders.db") == "nfs4"
    assert fs("/mnt/team/x/orders.db") == "cifs"
    assert fs("/home/me/remote/orders.db") == "fuse.sshfs"
    assert fs("/mnt/shared/local/orders.db") is None
    assert fs("/media/usb/orders.db") is None
    assert fs("/var/lib/containers/x/orders.db") is None
    assert fs("/tmp/orders.db") is None
    assert fs(":memory:") is None


def test_this_machine_reads_proc_mounts_without_error(tmp_path: object) -> None:
    assert network_mount(f"{tmp_path}/x.db") is None  # the test folder is local here
