"""What virt-install writes for an ordinary Linux guest defines and converts through the
CLI (issue 16); elements libvirt does not know are dropped with a warning, or refused
by ``define --validate``; elements libvirt knows and pyvirt cannot run are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyvirt.cli.main import cli
from pyvirt.qemu.caps import QemuCaps
from pyvirt.service.context import Context

DATA = Path(__file__).parents[1] / "data"
VIRTINST = DATA / "xmlconf" / "virtinst-debian11-q35.xml"
Invoke = Callable[..., Result]
CAPS = QemuCaps.from_json((DATA / "caps" / "qemu-7.2-x86_64.json").read_text())


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setattr(Context, "caps_for", lambda _self, _binary: CAPS)  # no QEMU probe
    uri = f"qemu:///embed?root={tmp_path / 'root'}"

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["-c", uri, *args])
    return invoke


def with_extra(tmp_path: Path, extra: str, before: str = "<pm>") -> Path:
    path = tmp_path / "guest.xml"
    path.write_text(VIRTINST.read_text().replace(before, extra + before, 1))
    return path


def test_virt_install_xml_defines_and_converts_like_libvirt(run: Invoke) -> None:
    defined = run("define", str(VIRTINST))
    assert defined.exit_code == 0, defined.output
    argv = run("domxml-to-native", "qemu-argv", "--domain", "virtinst")
    assert argv.exit_code == 0, argv.output
    for part in ("-cpu host,migratable=on", "-rtc base=utc,driftfix=slew",
                 "-global kvm-pit.lost_tick_policy=delay", "-no-hpet",
                 "-global ICH9-LPC.disable_s3=1", '"driver":"qemu-xhci","p2":15,"p3":15',
                 '"driver":"virtserialport"', '"discard":"unmap","driver":"qcow2"',
                 '"driver":"virtio-vga","id":"video0","max_outputs":1'):
        assert part in argv.stdout
    dumped = run("dumpxml", "virtinst")
    assert "<timer name='pit' tickpolicy='delay'/>" in dumped.stdout
    assert "<address type='virtio-serial' controller='0' bus='0' port='1'/>" in dumped.stdout


def test_an_element_libvirt_does_not_know_is_dropped_with_a_warning(
        run: Invoke, tmp_path: Path) -> None:
    path = with_extra(tmp_path, "<frobnicate level='3'><x/></frobnicate>\n  ")
    result = run("define", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: ignoring unknown element <frobnicate> (line 26)\n"
    assert "frobnicate" not in run("dumpxml", "virtinst").stdout


def test_define_validate_refuses_an_element_libvirt_does_not_know(
        run: Invoke, tmp_path: Path) -> None:
    result = run("define", "--validate", str(with_extra(tmp_path, "<frobnicate/>")))
    assert result.exit_code == 1
    assert result.stderr == ("error: XML document failed to validate against schema: unknown "
                             "element <frobnicate> (line 26): libvirt's domain schema does "
                             "not have it\n")


@pytest.mark.parametrize(("extra", "named"), [
    ("<timer name='tsc' present='yes'/>", "timer 'tsc' is not supported by pyvirt"),
    ("<timer name='pit' tickpolicy='merge'/>", "unsupported pit tickpolicy 'merge'"),
])
def test_what_pyvirt_cannot_run_is_refused_at_define_in_one_line(
        run: Invoke, tmp_path: Path, extra: str, named: str) -> None:
    path = tmp_path / "guest.xml"
    path.write_text(VIRTINST.read_text().replace(
        "<timer name='rtc' tickpolicy='catchup'/>".replace("'", '"'), extra, 1))
    result = run("define", str(path))
    assert result.exit_code == 1
    assert named in result.stderr and result.stderr.count("\n") == 1


def test_a_spice_channel_is_refused_naming_it(run: Invoke, tmp_path: Path) -> None:
    path = with_extra(tmp_path, "<channel type='spicevmc'><target type='virtio' "
                      "name='com.redhat.spice.0'/></channel>", before="<input")
    result = run("define", str(path))
    assert result.exit_code == 1
    assert "channel type 'spicevmc' is not supported by pyvirt" in result.stderr
