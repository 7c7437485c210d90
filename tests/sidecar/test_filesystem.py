import pytest

from sidecar.filesystem import filesystem_type, is_network_filesystem

MOUNTS = """\
overlay / overlay rw,relatime 0 0
proc /proc proc rw 0 0
server:/export /data nfs4 rw,vers=4.2 0 0
/dev/vda1 /data/local ext4 rw 0 0
"""


@pytest.fixture
def mounts(tmp_path):
    path = tmp_path / "mounts"
    path.write_text(MOUNTS)
    return path


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("/data/jobs", "nfs4"),
        ("/data", "nfs4"),
        ("/data/local/jobs", "ext4"),
        ("/datastore", "overlay"),
        ("/", "overlay"),
    ],
)
def test_the_longest_mount_point_holding_a_folder_gives_its_type(mounts, folder, expected):
    assert filesystem_type(folder, mounts) == expected


@pytest.mark.parametrize(("fs_type", "network"), [("nfs4", True), ("fuse.sshfs", True), ("ext4", False), (None, False)])
def test_network_filesystems_are_recognised(fs_type, network):
    assert is_network_filesystem(fs_type) is network


def test_an_unreadable_mounts_file_means_unknown(tmp_path):
    assert filesystem_type(tmp_path, tmp_path / "absent") is None
