"""Which filesystem a folder lives on, to know in advance when inotify cannot see its changes."""

from __future__ import annotations

import os
from pathlib import Path

MOUNTS_FILE = Path("/proc/self/mounts")
# Filesystems where changes made by another machine (or by the host of a VM) raise no inotify event.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "virtiofs", "fakeowner"}
)
_NETWORK_FUSE = ("fuse.sshfs", "fuse.grpcfuse", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone")


def filesystem_type(folder: Path, mounts_file: Path = MOUNTS_FILE) -> str | None:
    """The type of the mount holding `folder` (longest mount point that contains it), None if unknown."""
    target = os.path.realpath(folder)
    best, best_type = "", None
    try:
        lines = mounts_file.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def is_network_filesystem(fs_type: str | None) -> bool:
    return fs_type is not None and (fs_type in NETWORK_FILESYSTEMS or fs_type.startswith(_NETWORK_FUSE))
