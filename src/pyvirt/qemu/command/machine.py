"""The guest-wide options before the devices: name, machine, CPU, memory, monitor,
clock, power management and boot (libvirt's ``qemuBuildCommandLine`` order, C.2/C.4)."""

from __future__ import annotations

from pyvirt.domain.model import Domain, DomainType, LifecycleAction
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.command.context import BuildContext
from pyvirt.qemu.command.props import check_token, keyval, props, to_json

_MIB_IN_KIB = 1024
# QEMU >= 6.0 has the 'set-action' QMP command, so libvirt always uses -no-shutdown and
# applies on_reboot through QMP instead of choosing between -no-shutdown and -no-reboot.
_SET_ACTION_VERSION = (6, 0, 0)
_RTC_TRACK = {"guest": "vm", "wall": "host"}


def name_args(ctx: BuildContext) -> list[str]:
    """``-name``, then ``-pidfile`` (pyvirt's own: libvirt tracks the pid itself), ``-S``."""
    args = ["-name", keyval(None, ("guest", ctx.domain.name), ("debug-threads", True))]
    if ctx.env.pidfile is not None:
        args += ["-pidfile", str(ctx.env.pidfile)]
    if ctx.env.paused:
        args.append("-S")
    return args


def _machine_name(ctx: BuildContext) -> str:
    """:raises ConfigUnsupportedError: when neither the domain nor the caps name one."""
    name = ctx.domain.os.machine or next(
        (m.alias or m.name for m in ctx.caps.machines if m.is_default), None)
    if name is None:
        raise ConfigUnsupportedError("no machine type given and the QEMU binary has no "
                                     "default one")
    return check_token(name, "machine type")


def machine_args(ctx: BuildContext) -> list[str]:
    """``-machine``, ``-accel`` and ``-cpu``.

    :raises ConfigUnsupportedError: for an unusable machine or CPU configuration.
    """
    features = ctx.domain.features
    vmport = features.vmport if features is not None else None
    machine = keyval(_machine_name(ctx), ("usb", False), ("vmport", vmport),
                     ("dump-guest-core", False), ("memory-backend", "pc.ram"))
    accel = "kvm" if ctx.domain.type is DomainType.KVM else "tcg"
    args = ["-machine", machine, "-accel", accel]
    cpu = _cpu_model(ctx.domain)
    if cpu is not None:
        args += ["-cpu", cpu]
    return args


def _cpu_model(domain: Domain) -> str | None:
    """The ``-cpu`` value for the domain's ``<cpu>``.

    ``custom`` is the model name; ``host-passthrough`` is ``host`` (KVM only, like
    libvirt); ``maximum`` is ``max``. ``host-model`` is ``host`` under KVM, where libvirt
    would expand the host CPU into a named model plus features (pyvirt has no CPU
    database), and ``max`` under TCG, which is what libvirt's TCG host-model expands.

    :raises ConfigUnsupportedError: for host-passthrough under TCG or an unknown mode.
    """
    cpu = domain.cpu
    if cpu is None:
        return None
    mode = cpu.mode or "custom"
    kvm = domain.type is DomainType.KVM
    if mode == "custom":
        return check_token(cpu.model.name, "CPU model") if cpu.model else None
    if mode == "host-passthrough":
        if not kvm:
            arch = domain.os.arch or "x86_64"
            raise ConfigUnsupportedError(f"CPU mode '{mode}' for {arch} qemu domain on "
                                         f"{arch} host is not supported by hypervisor")
        return keyval("host", ("migratable", cpu.migratable))
    if mode == "host-model":
        return "host" if kvm else "max"
    if mode == "maximum":
        return keyval("max", ("migratable", cpu.migratable))
    raise ConfigUnsupportedError(f"Invalid mode attribute '{mode}'")


def memory_args(ctx: BuildContext) -> list[str]:
    """``-m``, the RAM backend object, ``-overcommit``, ``-smp``, ``-uuid``.

    Memory is aligned up to 1 MiB as libvirt does at start.
    """
    domain = ctx.domain
    mib = -(-domain.memory // _MIB_IN_KIB)
    backend = props(("qom-type", "memory-backend-ram"), ("id", "pc.ram"),
                    ("size", mib * _MIB_IN_KIB * 1024))
    vcpus = domain.vcpu.count
    current = domain.vcpu.current if domain.vcpu.current not in (None, vcpus) else None
    smp = keyval(str(current or vcpus), ("maxcpus", vcpus if current else None),
                 ("sockets", vcpus), ("cores", 1), ("threads", 1))
    args = ["-m", str(mib), "-object", to_json(backend), "-overcommit", "mem-lock=off",
            "-smp", smp]
    if domain.uuid is not None:
        args += ["-uuid", domain.uuid]
    if not domain.devices.graphics:
        args += ["-display", "none"]
    return args


def monitor_args(ctx: BuildContext) -> list[str]:
    """``-no-user-config``, ``-nodefaults`` and the QMP monitor on ``env.qmp_socket``.

    libvirt hands QEMU an already listening socket (``fd=``); pyvirt lets QEMU create the
    socket at the path, which needs no fd passing through the runtime.
    """
    chardev = keyval("socket", ("id", "charmonitor"), ("path", str(ctx.env.qmp_socket)),
                     ("server", True), ("wait", False))
    return ["-no-user-config", "-nodefaults", "-chardev", chardev,
            "-mon", "chardev=charmonitor,id=monitor,mode=control"]


def _clock_args(domain: Domain) -> list[str]:
    """``-rtc`` (the offset, the RTC timer's track and catch-up), the PIT's lost tick
    policy and ``-no-hpet`` (the timers' other settings are refused at define).

    :raises ConfigUnsupportedError: for a clock offset other than utc/localtime.
    """
    offset = domain.clock_offset or "utc"
    if offset not in ("utc", "localtime"):
        raise ConfigUnsupportedError(f"unsupported clock offset '{offset}'")
    timers = {t.name: t for t in domain.timers}
    rtc, pit, hpet = timers.get("rtc"), timers.get("pit"), timers.get("hpet")
    track = _RTC_TRACK.get(rtc.track or "") if rtc else None
    slew = "slew" if rtc is not None and rtc.tickpolicy == "catchup" else None
    args = ["-rtc", keyval(f"base={offset}", ("clock", track), ("driftfix", slew))]
    if pit is not None and pit.tickpolicy in ("delay", "discard"):
        args += ["-global", f"kvm-pit.lost_tick_policy={pit.tickpolicy}"]
    if hpet is not None and hpet.present is False:
        args.append("-no-hpet")
    return args


def _pm_args(ctx: BuildContext) -> list[str]:
    """``<pm>``: S3/S4 switched on or off on the machine's power management device."""
    pm = ctx.domain.pm
    if pm is None:
        return []
    device = "ICH9-LPC" if ctx.is_q35 else "PIIX4_PM"
    args: list[str] = []
    for state, enabled in (("s3", pm.suspend_to_mem), ("s4", pm.suspend_to_disk)):
        if enabled is not None:
            args += ["-global", f"{device}.disable_{state}={0 if enabled else 1}"]
    return args


def clock_pm_boot_args(ctx: BuildContext) -> list[str]:
    """``-rtc`` and timers, ``-no-shutdown``/``-no-reboot``, ``-no-acpi``, ``<pm>``,
    ``-boot``, kernel boot.

    :raises ConfigUnsupportedError: for a clock offset other than utc/localtime.
    """
    domain = ctx.domain
    args = _clock_args(domain)
    if ctx.caps.version >= _SET_ACTION_VERSION or domain.on_reboot is not \
            LifecycleAction.DESTROY:
        args.append("-no-shutdown")
    else:
        args.append("-no-reboot")
    if domain.features is None or not domain.features.acpi:
        args.append("-no-acpi")  # x86: libvirt's rule for a missing <features><acpi/>
    args += _pm_args(ctx)
    os = domain.os
    splash = os.bootmenu_timeout if os.bootmenu else None
    args += ["-boot", keyval(None, ("menu", os.bootmenu), ("splash-time", splash),
                             ("strict", True))]
    if os.kernel is not None:
        args += ["-kernel", os.kernel]
    if os.initrd is not None:
        args += ["-initrd", os.initrd]
    if os.cmdline:
        args += ["-append", os.cmdline]
    return args
