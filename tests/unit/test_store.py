"""State roots, atomic files and locks."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from pyvirt.errors import InvalidArgError
from pyvirt.store.atomic import write_atomic
from pyvirt.store.locks import DomainLock, LockTimeoutError
from pyvirt.store.roots import StateRoot, choose_uri, parse_uri


def test_embed_uri_root(tmp_path: Path) -> None:
    uri = parse_uri(f"qemu:///embed?root={tmp_path}")
    root = StateRoot.for_uri(uri)
    assert root.config_dir == tmp_path / "etc" / "qemu"
    assert root.run_dir == tmp_path / "run" / "qemu"


def test_system_and_ssh_uris() -> None:
    assert StateRoot.for_uri(parse_uri("qemu:///system")).config_dir == Path("/etc/pyvirt/qemu")
    ssh = parse_uri("qemu+ssh://root@hostb:2222/embed?root=/srv/b")
    assert (ssh.user, ssh.host, ssh.port, ssh.root) == ("root", "hostb", 2222, Path("/srv/b"))
    assert ssh.local_form() == "qemu:///embed?root=/srv/b"


@pytest.mark.parametrize("bad", ["xen:///system", "qemu:///session", "qemu:///embed",
                                 "qemu:///embed?root=rel", "qemu://host/system",
                                 "qemu+ssh:///system", "qemu+tcp://h/system"])
def test_bad_uris(bad: str) -> None:
    with pytest.raises(InvalidArgError):
        parse_uri(bad)


def test_uri_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYVIRT_DEFAULT_URI", raising=False)
    assert choose_uri(None) == "qemu:///system"
    monkeypatch.setenv("PYVIRT_DEFAULT_URI", "qemu:///embed?root=/x")
    assert choose_uri(None) == "qemu:///embed?root=/x"
    assert choose_uri("qemu:///system") == "qemu:///system"


def test_write_atomic_mode_and_content(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.xml"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["f.xml"]


def _hold(lock_dir: str, ready: multiprocessing.synchronize.Event, seconds: float) -> None:
    with DomainLock(Path(lock_dir), "d", "start"):
        ready.set()
        time.sleep(seconds)


def test_lock_excludes_and_names_holder(tmp_path: Path) -> None:
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=_hold, args=(str(tmp_path), ready, 5))
    proc.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockTimeoutError) as err:
            DomainLock(tmp_path, "d", "destroy", timeout=0.2).acquire()
        assert f"pid {proc.pid}: start" in str(err.value)
    finally:
        proc.kill()
        proc.join()


def test_lock_of_killed_holder_is_free(tmp_path: Path) -> None:
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=_hold, args=(str(tmp_path), ready, 60))
    proc.start()
    assert ready.wait(10)
    os.kill(proc.pid, 9)
    proc.join()
    with DomainLock(tmp_path, "d", "start", timeout=1):
        pass


def test_ssh_uri_options() -> None:
    from pyvirt.migration.transport import agent_argv

    uri = parse_uri("qemu+ssh://root@10.1.2.3/embed?root=/srv/b&keyfile=/k/id&no_verify=1")
    assert (uri.keyfile, uri.no_verify) == ("/k/id", True)
    argv = agent_argv(uri)
    assert argv[:6] == ["ssh", "-o", "BatchMode=yes", "-T", "-e", "none"]
    assert argv[6:8] == ["-i", "/k/id"] and "StrictHostKeyChecking=no" in argv
    assert argv[-3:-1] == ["--", "root@10.1.2.3"]
    assert argv[-1] == "pyvirt -c 'qemu:///embed?root=/srv/b' migrate-agent"


def test_ssh_uri_names_the_remote_pyvirt_and_known_hosts() -> None:
    from pyvirt.migration.transport import ssh_argv

    uri = parse_uri("qemu+ssh://h:2222/system?known_hosts=/k/hosts&command=/opt/pv/bin/pyvirt")
    argv = ssh_argv(uri, ["define", "-"])
    assert argv[6:8] == ["-p", "2222"] and "UserKnownHostsFile=/k/hosts" in argv
    assert argv[-1] == "/opt/pv/bin/pyvirt -c qemu:///system define -"
