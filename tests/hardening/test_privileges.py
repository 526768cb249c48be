"""Least privilege: private state, private sockets and logs, QEMU's seccomp sandbox, and
QEMU as a dedicated user (``qemu_user`` in pyvirt.conf) with its files handed to it."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from pyvirt.service.config import ConfigFileError, config_path, load_config, parse_config
from pyvirt.store.roots import StateRoot, parse_uri
from tests.e2e.conftest import Host, needs_qemu
from tests.golden.harness import XMLCONF
from tests.hardening.util import small_domain_xml

DATA = Path(__file__).parent.parent / "data"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def started(host: Host, tmp: Path, name: str = "priv") -> int:
    xml = tmp / f"{name}.xml"
    xml.write_text(small_domain_xml(name, serial=tmp / f"{name}.serial"))
    host.run("define", str(xml))
    host.run("start", name)
    [pid] = host.qemu_pids()
    return pid


@pytest.mark.e2e
@needs_qemu
def test_state_is_private(host: Host, tmp_path: Path) -> None:
    """Everything pyvirt and QEMU create for a running guest: directories 0700, files
    (status, live XML, pidfile, log, definition, lock) and the monitor socket 0600."""
    started(host, tmp_path)
    state_dirs = [host.root / d for d in ("etc", "run", "log")]
    seen = []
    for top in state_dirs:
        assert mode(top) == 0o700, top
    for top in state_dirs:
        for path in [*top.rglob("*")]:
            seen.append(path.name)
            kind = path.lstat().st_mode
            expected = 0o700 if stat.S_ISDIR(kind) else 0o600
            assert mode(path) == expected, f"{path}: {oct(mode(path))}"
            assert stat.S_ISDIR(kind) or stat.S_ISREG(kind) or stat.S_ISSOCK(kind), path
    assert {"monitor.sock", "qemu.pid", "status.json", "live.xml", "priv.log", "priv.xml",
            "priv.lock"} <= set(seen), seen
    assert mode(tmp_path / "priv.serial") == 0o600  # created by QEMU (umask 0177)
    host.run("destroy", "priv")


@pytest.mark.e2e
@needs_qemu
def test_capability_cache_is_private(host: Host, tmp_path: Path) -> None:
    started(host, tmp_path)
    host.run("destroy", "priv")
    for path in [host.root, host.root / "cache", *(host.root / "cache").rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode(path))}"


@pytest.mark.e2e
@needs_qemu
def test_qemu_always_runs_sandboxed(host: Host, tmp_path: Path) -> None:
    pid = started(host, tmp_path)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[argv.index(b"-sandbox") + 1].startswith(b"on,")
    assert proc_status(pid)["Seccomp"] == "2"  # the kernel applies QEMU's seccomp filter
    assert proc_status(pid)["NoNewPrivs"] == "1"
    host.run("destroy", "priv")


def test_every_golden_command_line_is_sandboxed() -> None:
    args = sorted(XMLCONF.glob("*.args")) + sorted((DATA / "conformance").glob("*.args"))
    assert len(args) > 10
    pyvirt_made = [p for p in args if p.parent == XMLCONF]
    for path in pyvirt_made:
        assert "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny," \
               "resourcecontrol=deny" in path.read_text(), path


# ------------------------------------------------------------------------ pyvirt.conf


def test_config_file_location() -> None:
    system = StateRoot.for_uri(parse_uri("qemu:///system"))
    assert config_path(system) == Path("/etc/pyvirt/pyvirt.conf")
    embed = StateRoot.for_uri(parse_uri("qemu:///embed?root=/srv/a"))
    assert config_path(embed) == Path("/srv/a/etc/pyvirt.conf")


def test_config_syntax() -> None:
    text = '# QEMU runs as\n  qemu_user = "libvirt-qemu"   # like qemu.conf\n\n'
    assert parse_config(text, "f") == {"qemu_user": "libvirt-qemu"}
    assert parse_config("qemu_user=nobody", "f") == {"qemu_user": "nobody"}
    for bad, message in [
        ("qemu_user", "f:1: expected 'key = value'"),
        ("qemu_user = a b", "f:1: expected 'key = value'"),
        ("qemu_user = \"a", "f:1: expected 'key = value'"),
        ("\nqemu_usr = nobody", "f:2: unknown setting 'qemu_usr'"),
        ("qemu_user = a\nqemu_user = b", "f:2: 'qemu_user' is set twice"),
        ('qemu_user = ""', "f:1: 'qemu_user' needs a non-empty value"),
    ]:
        with pytest.raises(ConfigFileError) as caught:
            parse_config(bad, "f")
        assert str(caught.value) == f"configuration file syntax error: {message}", bad


def test_config_loading(tmp_path: Path) -> None:
    root = StateRoot.for_uri(parse_uri(f"qemu:///embed?root={tmp_path}"))
    assert load_config(root).qemu_user is None  # no file: defaults
    config_path(root).parent.mkdir(parents=True)
    config_path(root).write_text("qemu_user = nobody\n")
    assert load_config(root).qemu_user == "nobody"
    config_path(root).write_text("qemu_user = no-such-user-here\n")
    with pytest.raises(ConfigFileError, match="qemu_user 'no-such-user-here' is not a user"):
        load_config(root)


@needs_qemu
def test_a_broken_config_is_one_clear_error(host: Host) -> None:
    host.root.joinpath("etc").mkdir(parents=True)
    host.root.joinpath("etc", "pyvirt.conf").write_text("qemu_user = nobody\nspeed = fast\n")
    proc = host.run("list", "--all", check=False)
    assert proc.returncode == 1
    assert proc.stderr == (f"error: configuration file syntax error: {host.root}/etc/"
                           "pyvirt.conf:2: unknown setting 'speed'\n")


# ---------------------------------------------------------------- QEMU as another user

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="only root can start QEMU as another user")


@pytest.mark.e2e
@needs_qemu
@needs_root
def test_qemu_runs_as_the_configured_user(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    # pytest's tmp_path sits in a root-only directory; the admin's side of the bargain is
    # a state root the QEMU user can reach
    base = Path(tempfile.mkdtemp(prefix="asuser", dir="/tmp"))
    base.chmod(0o711)
    host = Host(base / "root")
    try:
        check_qemu_user(host, tmp_path, nobody)
    finally:
        leftovers = host.qemu_pids()
        host.kill_all()
        shutil.rmtree(base)
    assert leftovers == []


def check_qemu_user(host: Host, tmp_path: Path, nobody: pwd.struct_passwd) -> None:
    (host.root / "etc").mkdir(parents=True, mode=0o700)
    host.root.chmod(0o700)
    (host.root / "etc" / "pyvirt.conf").write_text("qemu_user = nobody\n")
    xml = tmp_path / "asuser.xml"
    xml.write_text(small_domain_xml("asuser"))
    host.run("define", str(xml))
    host.run("start", "asuser")
    [pid] = host.qemu_pids()
    status = proc_status(pid)
    assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
    assert status["Gid"].split() == [str(nobody.pw_gid)] * 4
    assert status["Groups"] == ""  # root's supplementary groups were dropped
    run = host.root / "run" / "qemu" / "domain-asuser"
    monitor = next(run.rglob("monitor.sock"))
    assert monitor.lstat().st_uid == nobody.pw_uid and mode(monitor) == 0o600
    assert monitor.parent != run and monitor.parent.lstat().st_uid == nobody.pw_uid
    assert mode(monitor.parent) == 0o700
    log = host.root / "log" / "qemu" / "asuser.log"
    assert log.lstat().st_uid == nobody.pw_uid and mode(log) == 0o600
    # pyvirt's own records stay out of QEMU's reach: root's files in a directory QEMU can
    # pass through but not write, so a compromised QEMU cannot rewrite the pid pyvirt
    # will kill
    for record in ("status.json", "live.xml"):
        path = run / record
        assert path.lstat().st_uid == 0 and mode(path) == 0o600
    for directory in (run, run.parent, run.parent.parent, host.root):
        assert directory.lstat().st_uid == 0 and directory.lstat().st_gid == nobody.pw_gid
        assert mode(directory) == 0o710, f"{directory}: {oct(mode(directory))}"
    assert mode(host.root / "etc" / "qemu") == 0o700  # the rest stays private
    assert host.run("domstate", "asuser").stdout.strip() == "running"
    host.run("destroy", "asuser")
    assert host.qemu_pids() == []
