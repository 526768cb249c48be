"""The demo guest's domain XML: shape, the teaming pair, escaping, virtualization choice."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from pyvirt.guest import xml as guest_xml
from pyvirt.guest.build import GuestImage
from pyvirt.guest.xml import demo_domain_xml, demo_mac, hardware_virt_available

IMAGE = GuestImage(
    directory=Path("/cache/guest"), kernel=Path("/cache/guest/vmlinuz"),
    initrd=Path("/cache/guest/initrd.gz"), kernel_version="6.1.0-56-amd64",
)


def render(
    name: str = "demo", serial: str = "/run/demo.serial", *, domain_type: str | None = None,
    kernel_args: str = "", memory_mib: int = 256,
) -> etree._Element:
    text = demo_domain_xml(name, IMAGE, Path(serial), domain_type=domain_type,
                           kernel_args=kernel_args, memory_mib=memory_mib)
    return etree.fromstring(text.encode())


def child(el: etree._Element, path: str) -> etree._Element:
    """The element at ``path`` under ``el``, which must exist."""
    found = el.find(path)
    assert found is not None, f"no {path} under <{el.tag}>"
    return found


def interfaces(root: etree._Element) -> list[etree._Element]:
    return root.findall("devices/interface")


def test_document_shape() -> None:
    root = render(domain_type="qemu", kernel_args="pyvirt.skip=virtio_net", memory_mib=300)
    assert root.tag == "domain" and root.get("type") == "qemu"
    assert root.findtext("name") == "demo"
    assert child(root, "memory").get("unit") == "MiB"
    assert root.findtext("memory") == "300"
    assert root.findtext("vcpu") == "1"
    os_type = root.find("os/type")
    assert os_type is not None and os_type.text == "hvm"
    assert (os_type.get("arch"), os_type.get("machine")) == ("x86_64", "q35")
    assert root.findtext("os/kernel") == "/cache/guest/vmlinuz"
    assert root.findtext("os/initrd") == "/cache/guest/initrd.gz"
    assert root.findtext("os/cmdline") == (
        "console=ttyS0 loglevel=7 panic=-1 pyvirt.skip=virtio_net"
    )
    assert root.find("features/acpi") is not None
    assert root.findtext("on_poweroff") == "destroy"
    assert child(root, "devices/memballoon").get("model") == "none"
    for absent in ("devices/disk", "devices/graphics", "devices/video", "devices/console"):
        assert root.find(absent) is None


def test_kernel_prefers_the_pvh_vmlinux() -> None:
    pvh = GuestImage(IMAGE.directory, IMAGE.kernel, IMAGE.initrd, IMAGE.kernel_version,
                     vmlinux=Path("/cache/guest/vmlinux"))
    text = demo_domain_xml("demo", pvh, Path("/s"), domain_type="qemu")
    assert etree.fromstring(text.encode()).findtext("os/kernel") == "/cache/guest/vmlinux"


def test_default_cmdline_has_no_trailing_space() -> None:
    assert render(domain_type="qemu").findtext("os/cmdline") == "console=ttyS0 loglevel=7 panic=-1"


def test_teaming_pair() -> None:
    standby, primary = interfaces(render(domain_type="qemu"))
    assert standby.get("type") == "user" and primary.get("type") == "user"
    assert child(standby, "model").get("type") == "virtio"
    assert dict(child(standby, "teaming").items()) == {"type": "persistent"}
    assert child(standby, "alias").get("name") == "ua-net0"
    assert child(standby, "mac").get("address") == demo_mac("demo")
    assert child(primary, "model").get("type") == "e1000e"
    assert dict(child(primary, "teaming").items()) == {
        "type": "transient", "persistent": "ua-net0",
    }
    assert child(primary, "alias").get("name") == "ua-net0-primary"
    assert primary.find("mac") is None
    # libvirt's child order: mac, model, teaming, alias
    assert [child.tag for child in standby] == ["mac", "model", "teaming", "alias"]
    assert [child.tag for child in primary] == ["model", "teaming", "alias"]


def test_serial_file_appends() -> None:
    serial = render(domain_type="qemu").find("devices/serial")
    assert serial is not None and serial.get("type") == "file"
    assert dict(child(serial, "source").items()) == {
        "path": "/run/demo.serial", "append": "on",
    }
    assert child(serial, "target").get("port") == "0"


def test_mac_is_stable_and_local() -> None:
    assert demo_mac("demo") == demo_mac("demo")
    assert demo_mac("demo") != demo_mac("demo2")
    assert demo_mac("x").startswith("52:54:00:")
    assert len(demo_mac("x").split(":")) == 6


@pytest.mark.parametrize("name", ["a<b>&c", "quote'\"both", "ünïcødé ☃", "]]>", "x\ty"])
def test_odd_names_and_paths_are_escaped(name: str) -> None:
    serial = f"/tmp/{name}/serial 'log'.txt"
    text = demo_domain_xml(name, IMAGE, Path(serial), domain_type="qemu",
                           kernel_args=f"pyvirt.tag={name}")
    root = etree.fromstring(text.encode())
    assert root.findtext("name") == name
    assert child(root, "devices/serial/source").get("path") == serial
    assert (root.findtext("os/cmdline") or "").endswith(f"pyvirt.tag={name}")


def test_control_characters_are_refused() -> None:
    with pytest.raises(ValueError):
        demo_domain_xml("bad\x01name", IMAGE, Path("/s"), domain_type="qemu")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        demo_domain_xml("demo", IMAGE, Path("/s"), domain_type="xen")
    with pytest.raises(ValueError):
        demo_domain_xml("demo", IMAGE, Path("/s"), domain_type="qemu", memory_mib=0)


def test_domain_type_follows_hardware_virt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guest_xml, "hardware_virt_available", lambda: True)
    assert render().get("type") == "kvm"
    monkeypatch.setattr(guest_xml, "hardware_virt_available", lambda: False)
    assert render().get("type") == "qemu"


def test_hardware_virt_needs_kvm_device_and_cpu_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(guest_xml, "_KVM_DEVICE", kvm)
    monkeypatch.setattr(guest_xml, "_CPUINFO", cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n")
    assert not hardware_virt_available()  # PVM-like: /dev/kvm without vmx/svm
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vmx sse2\n")
    assert hardware_virt_available()
    cpuinfo.write_text("flags\t\t: fpu svm\n")
    assert hardware_virt_available()
    monkeypatch.setattr(guest_xml, "_KVM_DEVICE", tmp_path / "absent")
    assert not hardware_virt_available()


def test_this_host_has_no_usable_hardware_virt() -> None:
    """This machine's /dev/kvm is PVM without vmx/svm; elsewhere the answer may differ."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    if " vmx" in cpuinfo or " svm" in cpuinfo:
        pytest.skip("this host advertises vmx/svm")
    assert not hardware_virt_available()


def test_passes_pyvirt_domain_schema() -> None:
    from pyvirt.domain.xml.document import load_xml

    root = load_xml(demo_domain_xml("demo", IMAGE, Path("/run/demo.serial"), domain_type="qemu"))
    assert root.findtext("name") == "demo"
