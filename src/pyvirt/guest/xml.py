"""libvirt domain XML for the demo guest: a virtio-net standby teamed with an e1000e primary.

The document is built with lxml, so every interpolated value (name, paths, kernel
arguments) is escaped by the serializer.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lxml import etree

from pyvirt.guest.build import GuestImage

#: Kernel arguments every demo guest gets: serial console, verbose kernel, reboot on panic.
BASE_KERNEL_ARGS = "console=ttyS0 loglevel=7 panic=-1"
PERSISTENT_ALIAS = "ua-net0"
TRANSIENT_ALIAS = "ua-net0-primary"

_KVM_DEVICE = Path("/dev/kvm")
_CPUINFO = Path("/proc/cpuinfo")


def hardware_virt_available() -> bool:
    """True only if ``/dev/kvm`` opens read-write AND the CPU advertises ``vmx`` or ``svm``.

    A ``/dev/kvm`` without those flags is a software nested hypervisor (e.g. PVM) that
    cannot run a Linux guest, so TCG must be used there.
    """
    try:
        fd = os.open(_KVM_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    try:
        cpuinfo = _CPUINFO.read_text()
    except OSError:
        return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and {"vmx", "svm"} & set(value.split()):
            return True
    return False


def demo_mac(name: str) -> str:
    """A stable locally-administered QEMU MAC (``52:54:00:xx:xx:xx``) derived from ``name``."""
    digest = hashlib.sha256(name.encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def demo_domain_xml(
    name: str,
    image: GuestImage,
    serial_log: Path,
    *,
    domain_type: str | None = None,
    kernel_args: str = "",
    memory_mib: int = 256,
) -> str:
    """Return the libvirt domain XML of the demo guest ``name``.

    q35, one vCPU, direct kernel boot of ``image`` (its ``boot_kernel``: the PVH
    ``vmlinux`` when there is one), ACPI, no disk, no graphics, no
    balloon. Devices: a persistent virtio NIC (alias ``ua-net0``, MAC from
    :func:`demo_mac`), its transient e1000e partner (alias ``ua-net0-primary``, no MAC: the
    manager copies the persistent one) and a serial port appending to ``serial_log``.

    :param domain_type: ``kvm`` or ``qemu``; None picks ``kvm`` exactly when
        :func:`hardware_virt_available`.
    :param kernel_args: appended to :data:`BASE_KERNEL_ARGS` (e.g. ``pyvirt.skip=virtio_net``).
    :param memory_mib: guest RAM in MiB.
    :raises ValueError: ``domain_type`` is not ``kvm``/``qemu`` or ``memory_mib`` < 1.
    """
    if domain_type is None:
        domain_type = "kvm" if hardware_virt_available() else "qemu"
    if domain_type not in ("kvm", "qemu"):
        raise ValueError(f"domain_type must be 'kvm' or 'qemu', not {domain_type!r}")
    if memory_mib < 1:
        raise ValueError(f"memory_mib must be positive, not {memory_mib}")

    domain = etree.Element("domain", type=domain_type)
    etree.SubElement(domain, "name").text = name
    etree.SubElement(domain, "memory", unit="MiB").text = str(memory_mib)
    etree.SubElement(domain, "vcpu").text = "1"

    os_el = etree.SubElement(domain, "os")
    etree.SubElement(os_el, "type", arch="x86_64", machine="q35").text = "hvm"
    etree.SubElement(os_el, "kernel").text = str(image.boot_kernel)
    etree.SubElement(os_el, "initrd").text = str(image.initrd)
    etree.SubElement(os_el, "cmdline").text = " ".join(
        part for part in (BASE_KERNEL_ARGS, kernel_args.strip()) if part
    )

    features = etree.SubElement(domain, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(domain, "on_poweroff").text = "destroy"

    devices = etree.SubElement(domain, "devices")
    standby = etree.SubElement(devices, "interface", type="user")
    etree.SubElement(standby, "mac", address=demo_mac(name))
    etree.SubElement(standby, "model", type="virtio")
    etree.SubElement(standby, "teaming", type="persistent")
    etree.SubElement(standby, "alias", name=PERSISTENT_ALIAS)

    primary = etree.SubElement(devices, "interface", type="user")
    etree.SubElement(primary, "model", type="e1000e")
    etree.SubElement(primary, "teaming", type="transient", persistent=PERSISTENT_ALIAS)
    etree.SubElement(primary, "alias", name=TRANSIENT_ALIAS)

    serial = etree.SubElement(devices, "serial", type="file")
    etree.SubElement(serial, "source", path=str(serial_log), append="on")
    etree.SubElement(serial, "target", port="0")
    etree.SubElement(devices, "memballoon", model="none")

    etree.indent(domain, space="  ")
    return etree.tostring(domain, encoding="unicode") + "\n"
