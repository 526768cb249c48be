"""Bug B7: a domain that ``define`` accepts also starts, whatever the length of its name
and of the state root, although a unix socket address holds only 107 bytes of path.

QEMU then runs in its own directory and is given the monitor socket as ``monitor.sock``;
pyvirt connects through a descriptor of that directory (``pyvirt.qmp.unixpath``)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from pyvirt.qmp.unixpath import SUN_PATH_MAX, connectable_path, fits_sun_path
from tests.e2e.conftest import Host, needs_qemu
from tests.hardening.util import QmpSession, small_domain_xml

LONG_NAME = ("a-domain-name-that-goes-on-" * 8)[:200]


def test_short_paths_are_used_as_they_are(tmp_path: Path) -> None:
    short = str(tmp_path / "s.sock")
    assert fits_sun_path(short) and not fits_sun_path("/" + "x" * SUN_PATH_MAX)
    with connectable_path(short) as reachable:
        assert reachable == short


def test_a_long_path_goes_through_a_directory_descriptor(tmp_path: Path) -> None:
    directory = tmp_path.joinpath(*["d" * 100] * 3)
    directory.mkdir(parents=True)
    path = str(directory / "monitor.sock")
    with connectable_path(path) as reachable:
        assert fits_sun_path(reachable) and reachable.endswith("/monitor.sock")
        fd = int(reachable.split("/")[4])
        assert os.readlink(f"/proc/self/fd/{fd}") == str(directory)


def state(host: Host, name: str) -> str:
    return host.run("domstate", name).stdout.strip()


@pytest.mark.e2e
@needs_qemu
def test_a_long_name_under_a_deep_root_runs(tmp_path: Path) -> None:
    root = tmp_path.joinpath(*["deep-state-root"] * 6, "root")
    host = Host(root)
    try:
        check_long_name(host, tmp_path)
    finally:
        leftovers = host.qemu_pids()
        host.kill_all()
    assert leftovers == []


def check_long_name(host: Host, tmp_path: Path) -> None:
    xml = tmp_path / "long.xml"
    xml.write_text(small_domain_xml(LONG_NAME))
    host.run("define", str(xml))
    host.run("start", LONG_NAME)
    [pid] = host.qemu_pids()
    qemu_dir = host.root / "run" / "qemu" / f"domain-{LONG_NAME}" / "qemu"
    monitor = qemu_dir / "monitor.sock"
    assert len(os.fsencode(monitor)) > 2 * SUN_PATH_MAX and monitor.is_socket()
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    assert b"path=monitor.sock," in argv[argv.index(b"-chardev") + 1]
    assert os.readlink(f"/proc/{pid}/cwd") == str(qemu_dir)
    # domxml-to-native prints exactly the command that runs
    native = host.run("domxml-to-native", "qemu-argv", "--domain", LONG_NAME).stdout
    assert shlex.split(native.replace(" \\\n", " ")) == [arg.decode() for arg in argv]
    # pyvirt's own monitor connections reach QEMU: suspend and resume are QMP commands
    assert state(host, LONG_NAME) == "running"
    host.run("suspend", LONG_NAME)
    assert state(host, LONG_NAME) == "paused"
    host.run("resume", LONG_NAME)
    assert state(host, LONG_NAME) == "running"
    with connectable_path(str(monitor)) as reachable, QmpSession(Path(reachable)) as qmp:
        assert qmp.execute("query-status")["status"] == "running"
        assert qmp.execute("query-name")["name"] == LONG_NAME
    host.run("destroy", LONG_NAME)
    assert host.qemu_pids() == []
    assert state(host, LONG_NAME) == "shut off"
    assert not qemu_dir.exists()
