"""QEMU-driver defaults libvirt fills in on define: implicit devices and models.

Pure: the caller passes the result of this to placement, then stores it. Only what the
formatted XML of a real libvirt define shows is added, in libvirt's order.
"""

from __future__ import annotations

from dataclasses import replace

from pyvirt.domain.model import (
    Audio,
    CharDevice,
    Controller,
    ControllerType,
    Cpu,
    CpuModel,
    Disk,
    DiskBus,
    DiskFormat,
    Domain,
    Input,
    InputBus,
    InputType,
    InterfaceType,
    Memballoon,
    PciModel,
    Rom,
    VirtioSerialAddress,
)
from pyvirt.errors import ParseError
from pyvirt.qemu.aliases import drive_address
from pyvirt.qemu.machine import (
    DEFAULT_NIC_MODEL,
    is_emulated_transient,
    is_i440fx,
    is_pool_member,
    is_q35,
)
from pyvirt.types import DriveAddress, PciAddress

# q35's built-in AHCI controller sits at 00:1f.2.
ICH9_AHCI_ADDRESS = PciAddress(0, 0, 0x1F, 2)


def insert_controller(controllers: tuple[Controller, ...], new: Controller
                      ) -> tuple[Controller, ...]:
    """Insert like libvirt: after the last controller of the same type with a lower
    index, before same-type controllers with a higher one, else at the end."""
    at = len(controllers)
    for i in range(len(controllers) - 1, -1, -1):
        cur = controllers[i]
        if cur.type is not new.type:
            continue
        if cur.index > new.index:
            at = i
        else:
            at = i + 1
            break
    return (*controllers[:at], new, *controllers[at:])


def has_controller(domain: Domain, kind: ControllerType, index: int = 0) -> bool:
    return any(c.type is kind and c.index == index for c in domain.devices.controllers)


def _add_controller(domain: Domain, ctl: Controller) -> Domain:
    if has_controller(domain, ctl.type, ctl.index):
        return domain
    controllers = insert_controller(domain.devices.controllers, ctl)
    return replace(domain, devices=replace(domain.devices, controllers=controllers))


def _machine_controllers(domain: Domain) -> Domain:
    machine = domain.os.machine
    if is_q35(machine):
        domain = _add_controller(domain, Controller(ControllerType.USB, 0, model="qemu-xhci"))
        domain = _add_controller(domain, Controller(
            ControllerType.SATA, 0, address=ICH9_AHCI_ADDRESS))
        return _add_controller(domain, Controller(ControllerType.PCI, 0,
                                                  model=PciModel.PCIE_ROOT.value))
    if is_i440fx(machine):
        domain = _add_controller(domain, Controller(ControllerType.USB, 0, model="piix3-uhci"))
        return _add_controller(domain, Controller(ControllerType.PCI, 0,
                                                  model=PciModel.PCI_ROOT.value))
    return domain


def _drive_address(disk: Disk) -> DriveAddress:
    """libvirt's drive address from the target name (hda → bus 0 unit 0, hdc → bus 1).

    :raises ParseError: for a target name that is not ``hd``/``sd``/``vd`` + letters.
    """
    try:
        return drive_address(disk)
    except ValueError as err:
        raise ParseError(str(err)) from None


def _disk_defaults(domain: Domain) -> Domain:
    disks = []
    for disk in domain.devices.disks:
        if disk.driver_name is None:
            disk = replace(disk, driver_name="qemu", format=disk.format or DiskFormat.RAW)
        if disk.target_bus is None:
            bus = {"vd": DiskBus.VIRTIO, "sd": DiskBus.SATA, "hd": DiskBus.IDE}.get(
                disk.target_dev[:2], DiskBus.VIRTIO)
            disk = replace(disk, target_bus=bus)
        if disk.target_bus is not DiskBus.VIRTIO and disk.address is None:
            disk = replace(disk, address=_drive_address(disk))
        disks.append(disk)
    domain = replace(domain, devices=replace(domain.devices, disks=tuple(disks)))
    buses = {d.target_bus for d in disks}
    if DiskBus.IDE in buses:
        domain = _add_controller(domain, Controller(ControllerType.IDE, 0))
    if DiskBus.SCSI in buses:
        domain = _add_controller(domain, Controller(ControllerType.SCSI, 0, model="virtio-scsi"))
    if DiskBus.SATA in buses:
        domain = _add_controller(domain, Controller(ControllerType.SATA, 0))
    return domain


def _nic_defaults(domain: Domain) -> Domain:
    """The default model, and no option ROM on an emulated failover primary: QEMU keeps
    the primary hidden on a migration destination, so a ROM RAM block there is missing
    and the incoming migration fails ("Unknown ramblock ... e1000e.rom")."""
    nics = []
    for nic in domain.devices.interfaces:
        if nic.model is None and nic.type is not InterfaceType.HOSTDEV \
                and not is_pool_member(nic):
            nic = replace(nic, model=DEFAULT_NIC_MODEL)
        if is_emulated_transient(nic) and nic.rom is None:
            nic = replace(nic, rom=Rom(enabled=False))
        nics.append(nic)
    return replace(domain, devices=replace(domain.devices, interfaces=tuple(nics)))


def _small_devices(domain: Domain) -> Domain:
    d = domain.devices
    inputs = list(d.inputs)
    for kind in (InputType.MOUSE, InputType.KEYBOARD):
        if not any(i.type is kind and i.bus is InputBus.PS2 for i in inputs):
            inputs.append(Input(kind, InputBus.PS2))
    audios = d.audios or (Audio(1, "none"),)
    balloon = d.memballoon or Memballoon("virtio")
    return replace(domain, devices=replace(d, inputs=tuple(inputs), audios=audios,
                                           memballoon=balloon))


def _default_cpu(domain: Domain) -> Domain:
    cpu = domain.cpu
    if cpu is None:
        return replace(domain, cpu=Cpu("custom", "exact", "none",
                                       model=CpuModel("qemu64", "forbid")))
    if cpu.mode in ("host-passthrough", "maximum"):
        migratable = True if cpu.migratable is None and cpu.mode == "host-passthrough" \
            else cpu.migratable
        return replace(domain, cpu=replace(cpu, check=cpu.check or "none",
                                           migratable=migratable))
    if cpu.mode == "host-model":
        return replace(domain, cpu=replace(cpu, check=cpu.check or "partial"))
    return domain


def _console_serial(domain: Domain) -> Domain:
    """A first console of target type serial (or none) with no serial port at all: the
    console is the first ISA serial port, which is added, as libvirt does; serial ports
    and no console: the first port gets its console."""
    d = domain.devices
    if d.serials and not d.consoles:
        first = d.serials[0]
        console = CharDevice(type=first.type, mode=first.mode, path=first.path,
                             append=first.append, target_type="serial",
                             target_port=first.target_port or 0)
        return replace(domain, devices=replace(d, consoles=(console,)))
    if d.serials or not d.consoles or d.consoles[0].target_type not in (None, "serial"):
        return domain
    console = d.consoles[0]
    serial = replace(console, target_type="isa-serial", target_port=0, alias=None)
    consoles = (replace(console, target_type="serial", target_port=0), *d.consoles[1:])
    return replace(domain, devices=replace(d, serials=(serial,), consoles=consoles))


def _serial_models(domain: Domain) -> Domain:
    """An ISA serial port's device model is named, as libvirt does at define."""
    serials = tuple(replace(s, target_model="isa-serial")
                    if s.target_type == "isa-serial" and s.target_model is None else s
                    for s in domain.devices.serials)
    return replace(domain, devices=replace(domain.devices, serials=serials))


def _graphics(domain: Domain) -> Domain:
    """VNC without a port is autoport, with one it is not; autoport shows port -1."""
    graphics = []
    for g in domain.devices.graphics:
        auto = g.autoport if g.autoport is not None else g.port in (None, -1)
        graphics.append(replace(g, autoport=auto, port=-1 if auto else g.port))
    return replace(domain, devices=replace(domain.devices, graphics=tuple(graphics)))


def _channels(domain: Domain) -> Domain:
    """A virtio-serial controller for the channels, each on the next free port of
    controller 0; an unset unix source (a path made at start) keeps no mode."""
    d = domain.devices
    if not d.channels:
        return domain
    domain = _add_controller(domain, Controller(ControllerType.VIRTIO_SERIAL, 0))
    used = {c.address.port for c in d.channels if c.address is not None}
    channels = []
    for ch in d.channels:
        if ch.path is None and ch.mode is not None:
            ch = replace(ch, mode=None)
        if ch.address is None or ch.address.port is None:
            port = next(p for p in range(1, 32) if p not in used)
            used.add(port)
            base = ch.address or VirtioSerialAddress()
            ch = replace(ch, address=replace(base, port=port))
        channels.append(ch)
    return replace(domain, devices=replace(domain.devices, channels=tuple(channels)))


def _videos(domain: Domain) -> Domain:
    """One head by default; the first video is the primary one (model none: as given)."""
    videos = tuple(v if v.model == "none" else
                   replace(v, heads=v.heads or 1, primary=True if i == 0 else v.primary)
                   for i, v in enumerate(domain.devices.videos))
    return replace(domain, devices=replace(domain.devices, videos=videos))


def apply_qemu_defaults(domain: Domain) -> Domain:
    """Implicit controllers, inputs, audio, balloon, CPU model and NIC/disk defaults."""
    domain = _nic_defaults(domain)
    domain = _machine_controllers(domain)
    domain = _disk_defaults(domain)
    domain = _small_devices(domain)
    domain = _console_serial(domain)
    domain = _serial_models(domain)
    domain = _graphics(domain)
    domain = _channels(domain)
    domain = _videos(domain)
    return _default_cpu(domain)
