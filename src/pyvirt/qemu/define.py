"""The define pipeline (pure): what a definition becomes before it is stored.

parse → drop runtime aliases and generated tap names → generic validation → generic
defaults (teaming MAC rule) → QEMU defaults → PCI placement → QEMU validation. The result
is what ``define`` stores, ``dumpxml --inactive`` shows and the command builder receives.
"""

from __future__ import annotations

from dataclasses import replace

from pyvirt.domain.defaults import MacFactory, apply_defaults, strip_auto_aliases
from pyvirt.domain.model import Domain
from pyvirt.domain.validate import validate_domain
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.caps import QemuCaps
from pyvirt.qemu.machine import DEFAULT_EMULATOR
from pyvirt.qemu.placement import assign_pci_addresses
from pyvirt.qemu.postparse import apply_qemu_defaults
from pyvirt.qemu.tapnic import default_direct_mode, strip_reserved_names, validate_tap_nics
from pyvirt.qemu.validate import validate_for_qemu


def emulator_of(domain: Domain) -> str:
    return domain.devices.emulator or DEFAULT_EMULATOR


def prepare_definition(domain: Domain, caps: QemuCaps | None, new_mac: MacFactory) -> Domain:
    """Validate *domain* and fill in everything libvirt's define would.

    :raises PyvirtError: for the first rule broken, with libvirt's message where it has one.
    """
    domain = strip_reserved_names(strip_auto_aliases(domain))
    validate_domain(domain)
    validate_tap_nics(domain)
    domain = apply_defaults(default_direct_mode(domain), new_mac)
    domain = apply_qemu_defaults(domain)
    domain = assign_pci_addresses(domain)
    validate_for_qemu(domain, caps)  # its messages name the machine as the user wrote it
    return pin_machine(domain, caps)


def pin_machine(domain: Domain, caps: QemuCaps | None) -> Domain:
    """The machine alias (``q35``, ``pc``) replaced by the versioned type it names in this
    QEMU (``pc-q35-7.2``), as libvirt stores it at define: the guest keeps its hardware ABI
    across QEMU upgrades and migrations to hosts with a newer QEMU.

    :raises ConfigUnsupportedError: this QEMU has no such machine (libvirt's message).
    """
    machine = domain.os.machine
    if caps is None or machine is None or not caps.machines:
        return domain
    pinned = caps.resolve_machine(machine)
    if pinned is None:
        raise ConfigUnsupportedError(
            f"Emulator '{domain.devices.emulator or DEFAULT_EMULATOR}' does not support "
            f"machine type '{machine}'")
    if pinned == machine:
        return domain
    return replace(domain, os=replace(domain.os, machine=pinned))
