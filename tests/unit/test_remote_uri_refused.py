"""A remote URI never acts on this host: a CLI command runs on the named host over ssh
(here an unreachable one, so every verb fails with one line), the Python API refuses it.
Before this, ``-c qemu+ssh://HOST/system`` silently opened THIS host's system root
(``list`` listed it, ``define`` wrote it).

The real command runs in a subprocess for each verb, with the URI given by ``-c`` and by
``$PYVIRT_DEFAULT_URI``. Besides the ``/system`` form (whose local root is the machine's
own, so only the domain's own files are looked for), each verb also gets the
``/embed?root=DIR`` form with DIR under the test's temporary directory: before the fix that
opened DIR locally, so "DIR never appears" proves no state was touched.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import pyvirt
import pyvirt.cli.domcmds  # registers the commands (main.py may import them lazily)
from pyvirt.cli.main import cli
from pyvirt.errors import InvalidArgError, OperationUnsupportedError
from pyvirt.migration.transport import agent_argv, migration_host
from pyvirt.service.context import Context
from pyvirt.store.roots import StateRoot, parse_uri

REMOTE = "qemu+ssh://root@127.0.0.1:1/system"


def refusal(uri: str) -> str:
    return (f"Operation not supported: remote connection '{uri}' names another host: its "
            "state is reached over ssh (pyvirt.cli.remote, pyvirt.api_remote), never opened "
            "here")


def domain_xml(name: str) -> str:
    return (f"<domain type='qemu'><name>{name}</name>"
            "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
            "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
            "<memballoon model='none'/></devices></domain>")


def verbs(name: str, xml_file: Path, dest: Path) -> list[list[str]]:
    return [["list", "--all"], ["define", str(xml_file)], ["start", name],
            ["destroy", name], ["dumpxml", name], ["undefine", name], ["net-list"],
            ["domstate", name], ["migrate", "--live", name, f"qemu:///embed?root={dest}"],
            ["migrate-agent"]]


def run_cli(args: list[str], env_uri: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYVIRT_DEFAULT_URI", "PYVIRT_DEBUG")}
    if env_uri is not None:
        env["PYVIRT_DEFAULT_URI"] = env_uri
    return subprocess.run([sys.executable, "-m", "pyvirt.cli", *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)


def assert_refused(proc: subprocess.CompletedProcess[str], uri: str, verb: str) -> None:
    """The command went to the remote host, which cannot be reached: one line."""
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    expected = (f"error: invalid argument: 'migrate-agent' runs only on the host it serves, "
                f"not through '{uri}'\n" if verb == "migrate-agent" else
                "error: operation failed: cannot reach pyvirt on '127.0.0.1' over ssh: ")
    assert proc.stderr.startswith(expected), proc.stderr
    assert proc.stderr.count("\n") == 1  # one line, no traceback


@pytest.mark.parametrize("via", ["-c", "env"])
@pytest.mark.parametrize("form", ["system", "embed"])
def test_every_verb_refuses_a_remote_connection(tmp_path: Path, via: str, form: str) -> None:
    name = f"remote-refused-{secrets.token_hex(4)}"
    xml_file = tmp_path / f"{name}.xml"
    xml_file.write_text(domain_xml(name))
    watched, dest = tmp_path / "root", tmp_path / "dest"
    uri = REMOTE if form == "system" else f"qemu+ssh://root@127.0.0.1:1/embed?root={watched}"
    for args in verbs(name, xml_file, dest):
        proc = run_cli(["-c", uri, *args]) if via == "-c" else run_cli(args, env_uri=uri)
        assert_refused(proc, uri, args[0])
    # nothing was written: not the embed root, not the migration destination, and not
    # this domain's files in the system root (which other processes may share)
    assert sorted(p.name for p in tmp_path.iterdir()) == [xml_file.name]
    assert not Path(f"/etc/pyvirt/qemu/{name}.xml").exists()
    assert not Path(f"/run/pyvirt/qemu/domain-{name}").exists()
    assert not Path(f"/var/log/pyvirt/qemu/{name}.log").exists()


def test_explicit_local_uri_wins_over_a_remote_default(tmp_path: Path) -> None:
    """``-c`` still chooses: a remote ``$PYVIRT_DEFAULT_URI`` is only the default."""
    proc = run_cli(["-c", f"qemu:///embed?root={tmp_path / 'root'}", "list", "--all"],
                   env_uri=REMOTE)
    assert proc.returncode == 0, proc.stderr
    assert "Name" in proc.stdout


def test_api_open_of_an_unreachable_host_is_one_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The API goes to the named host (tests/e2e/test_remote_api.py), never opens this
    one's: an unreachable host is a libvirtError, and nothing is written here."""
    watched = tmp_path / "root"
    for uri in (REMOTE, f"qemu+ssh://root@127.0.0.1:1/embed?root={watched}"):
        with pytest.raises(pyvirt.libvirtError) as err:
            pyvirt.open(uri)
        assert str(err.value).startswith(
            "operation failed: cannot reach pyvirt on '127.0.0.1' over ssh: "), err.value
        assert "\n" not in str(err.value)
    monkeypatch.setenv("PYVIRT_DEFAULT_URI", REMOTE)
    with pytest.raises(pyvirt.libvirtError):
        pyvirt.open()
    assert not watched.exists()


def test_no_local_root_is_made_of_a_remote_uri() -> None:
    with pytest.raises(OperationUnsupportedError) as err:
        StateRoot.for_uri(parse_uri(REMOTE))
    assert str(err.value) == refusal(REMOTE)
    with pytest.raises(OperationUnsupportedError):
        Context.open("qemu+ssh://h/embed?root=/srv/b")


def test_a_remote_uri_still_parses_as_a_migration_destination() -> None:
    dest = parse_uri("qemu+ssh://root@10.1.2.3:2222/system?keyfile=/k/id&no_verify=1")
    assert (dest.is_remote, dest.user, dest.host, dest.port) == (True, "root", "10.1.2.3", 2222)
    assert migration_host(dest) == "10.1.2.3"
    argv = agent_argv(dest)
    assert argv[-2:] == ["root@10.1.2.3", "pyvirt -c qemu:///system migrate-agent"]


@pytest.mark.parametrize(("uri", "detail"), [
    ("qemu+tcp://h/system", "transport 'tcp' of URI 'qemu+tcp://h/system' is not supported"),
    ("qemu+tls://h/system", "transport 'tls' of URI"),
    ("qemu+unix:///system", "transport 'unix' of URI"),
    ("qemu+ext://h/system", "transport 'ext' of URI"),
    ("qemu+libssh://h/system", "transport 'libssh' of URI"),
    ("xen:///system", "no connection driver available for xen:///system"),
    ("test:///default", "no connection driver available for test:///default"),
    ("qemu:///session", "pyvirt has no per-user session driver"),
    ("qemu://h/system", "URI 'qemu://h/system' names a host, but a qemu:// URI is this host "
                        "only"),
    ("qemu://root@/system", "names a host"),
    ("qemu:///system?root=/tmp/x", "unsupported parameter 'root' in URI"),
    ("qemu:///system?socket=/x", "unsupported parameter 'socket'"),
    ("qemu:///embed?root=/x&keyfile=/k", "unsupported parameter 'keyfile'"),
    ("qemu+ssh://h/system?socket=/x", "unsupported parameter 'socket'"),
])
def test_unservable_uris_are_refused_clearly(uri: str, detail: str) -> None:
    with pytest.raises(InvalidArgError) as err:
        parse_uri(uri)
    assert detail in str(err.value)
    result = CliRunner().invoke(cli, ["-c", uri, "list"])
    assert result.exit_code == 1
    assert result.stderr == f"error: {err.value}\n"
