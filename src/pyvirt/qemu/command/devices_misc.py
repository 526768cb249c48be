"""Character devices, channels, inputs, audio, graphics, video, the balloon and RNGs."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from pyvirt.domain.model import (
    Channel,
    CharDevice,
    CharType,
    ControllerType,
    InputBus,
    InputType,
)
from pyvirt.errors import ConfigUnsupportedError, InternalError
from pyvirt.qemu.command.context import BuildContext
from pyvirt.qemu.command.props import keyval, props, to_json

_USB_INPUTS = {InputType.TABLET: "usb-tablet", InputType.MOUSE: "usb-mouse",
               InputType.KEYBOARD: "usb-kbd"}
_VIRTIO_INPUTS = {InputType.TABLET: "virtio-tablet-pci", InputType.MOUSE: "virtio-mouse-pci",
                  InputType.KEYBOARD: "virtio-keyboard-pci"}
_VNC_BASE_PORT = 5900
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _chardev_backend(dev: CharDevice | Channel, chardev_id: str) -> str:
    """The ``-chardev`` keyval of a serial port's host side.

    :raises ConfigUnsupportedError: when a file or unix source has no path.
    """
    log: tuple[tuple[str, str | bool | None], ...] = ()
    append = None
    if isinstance(dev, CharDevice):
        log = (("logfile", dev.log_file), ("logappend", dev.log_append))
        append = dev.append
    if dev.type is CharType.PTY:
        return keyval("pty", ("id", chardev_id), *log)
    if dev.path is None:
        raise ConfigUnsupportedError(f"serial type '{dev.type.value}' needs a source path")
    if dev.type is CharType.FILE:
        return keyval("file", ("id", chardev_id), ("path", dev.path), ("append", append),
                      *log)
    listen = dev.mode == "bind"  # libvirt's default mode for a unix source is 'connect'
    return keyval("socket", ("id", chardev_id), ("path", dev.path),
                  ("server", True if listen else None), ("wait", False if listen else None),
                  *log)


def serial_args(ctx: BuildContext) -> list[str]:
    """Serial ports (ISA), then consoles: a first console that is the first serial port
    seen from the other side emits nothing.

    :raises ConfigUnsupportedError: for other serial or console targets.
    """
    args: list[str] = []
    serials = ctx.domain.devices.serials
    for i, dev in enumerate(serials):
        if dev.target_type not in (None, "isa-serial") \
                or dev.target_model not in (None, "isa-serial"):
            raise ConfigUnsupportedError(f"serial target type '{dev.target_type}' is not "
                                         "supported by pyvirt")
        chardev_id = f"char{dev.alias}"
        index = dev.target_port if dev.target_port is not None else i
        args += ["-chardev", _chardev_backend(dev, chardev_id),
                 "-device", to_json(props(("driver", "isa-serial"), ("chardev", chardev_id),
                                          ("id", dev.alias), ("index", index)))]
    for i, console in enumerate(ctx.domain.devices.consoles):
        if not (i == 0 and serials and console.target_type in (None, "serial")):
            raise ConfigUnsupportedError("only a console on the first serial port is "
                                         "supported by pyvirt")
    return args


def channel_args(ctx: BuildContext) -> list[str]:
    """virtio-serial channels: the host side, then the port. A unix channel without a
    path listens in the domain's QEMU run directory (beside the QMP socket) under its
    target name, where libvirt would use its own channel directory.

    :raises InternalError: for a channel defaults did not give a virtio-serial port.
    """
    args: list[str] = []
    for ch in ctx.domain.devices.channels:
        addr = ch.address
        if addr is None or addr.port is None:
            raise InternalError(f"channel '{ch.alias}' has no virtio-serial port")
        if ch.type is CharType.UNIX and ch.path is None:
            name = ch.target_name or \
                f"vioser-{addr.controller:02d}-{addr.bus:02d}-{addr.port:02d}.sock"
            ch = replace(ch, mode="bind", path=str(ctx.env.qmp_socket.parent / name))
        chardev_id = f"char{ch.alias}"
        controller = ctx.controller(ControllerType.VIRTIO_SERIAL, addr.controller)
        bus = f"{controller.alias if controller else 'virtio-serial' + str(addr.controller)}"
        args += ["-chardev", _chardev_backend(ch, chardev_id),
                 "-device", to_json(props(("driver", "virtserialport"),
                                          ("bus", f"{bus}.{addr.bus}"), ("nr", addr.port),
                                          ("chardev", chardev_id), ("id", ch.alias),
                                          ("name", ch.target_name)))]
    return args


def video_args(ctx: BuildContext) -> list[str]:
    """virtio video: ``virtio-vga`` for the primary one, ``virtio-gpu-pci`` for others
    (model none emits nothing: ``-nodefaults`` leaves QEMU without a display card)."""
    args: list[str] = []
    for i, video in enumerate(ctx.domain.devices.videos):
        if video.model == "none":
            continue
        driver = "virtio-vga" if i == 0 else "virtio-gpu-pci"
        args += ["-device", to_json(props(
            ("driver", driver), ("id", video.alias), ("max_outputs", video.heads),
            *ctx.pci_props(video.address, f"video '{video.alias}'")))]
    return args


def input_args(ctx: BuildContext) -> list[str]:
    """USB and virtio inputs; PS/2 ones are built into the machine and emit nothing.

    USB addresses are not modelled: USB inputs take ports 1, 2, ... in document order,
    which is what libvirt assigns to a definition without USB addresses.

    :raises ConfigUnsupportedError: for a USB input without a USB controller, a PS/2
        tablet or an unknown bus.
    """
    args: list[str] = []
    usb_port = 0
    for dev in ctx.domain.devices.inputs:
        bus = dev.bus or InputBus.PS2
        if bus is InputBus.PS2:
            if dev.type is InputType.TABLET:
                raise ConfigUnsupportedError("ps2 bus does not support tablet input device")
            continue
        if bus is InputBus.VIRTIO:
            entry = props(("driver", _VIRTIO_INPUTS[dev.type]), ("id", dev.alias),
                          *ctx.pci_props(dev.address, f"input '{dev.alias}'"))
        else:
            usb = ctx.controller(ControllerType.USB, 0)
            if usb is None or usb.model == "none":
                raise ConfigUnsupportedError("USB is disabled for this domain, but USB "
                                             "devices are present in the domain XML")
            usb_port += 1
            entry = props(("driver", _USB_INPUTS[dev.type]), ("id", dev.alias),
                          ("bus", f"{usb.alias}.0"), ("port", str(usb_port)))
        args += ["-device", to_json(entry)]
    return args


def audio_args(ctx: BuildContext) -> list[str]:
    return [arg for audio in ctx.domain.devices.audios
            for arg in ("-audiodev", to_json(props(("id", f"audio{audio.id}"),
                                                   ("driver", audio.type))))]


def _vnc_host(listen: str | None) -> str:
    """:raises ConfigUnsupportedError: for a listen value that is no address or name."""
    host = listen or "127.0.0.1"  # libvirt's vnc_listen default
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ConfigUnsupportedError(f"invalid VNC listen address '{host}'") from None
        return host
    return f"[{address}]" if address.version == 6 else str(address)


def graphics_args(ctx: BuildContext) -> list[str]:
    """``-vnc`` for the one VNC display.

    :raises ConfigUnsupportedError: for several displays or a port below 5900.
    :raises InternalError: for autoport without ``env.vnc_port``.
    """
    graphics = ctx.domain.devices.graphics
    if not graphics:
        return []
    if len(graphics) > 1:
        raise ConfigUnsupportedError("only one graphics device is supported by pyvirt")
    vnc = graphics[0]
    port = vnc.port if vnc.port is not None and vnc.port >= 0 and not vnc.autoport else None
    if port is None:
        port = ctx.env.vnc_port
        if port is None:
            raise InternalError("VNC autoport needs a port allocated by the runtime")
    if port < _VNC_BASE_PORT:
        raise ConfigUnsupportedError(f"vnc port must be in range [{_VNC_BASE_PORT},65535]")
    display = f"{_vnc_host(vnc.listen)}:{port - _VNC_BASE_PORT}"
    audio = ctx.domain.devices.audios
    return ["-vnc", keyval(display, ("audiodev", f"audio{audio[0].id}" if audio else None))]


def balloon_rng_args(ctx: BuildContext) -> list[str]:
    """The virtio balloon (model none: nothing), then each RNG's backend and device."""
    args: list[str] = []
    balloon = ctx.domain.devices.memballoon
    if balloon is not None and balloon.model == "virtio":
        args += ["-device", to_json(props(
            ("driver", "virtio-balloon-pci"), ("id", balloon.alias),
            ("deflate-on-oom", balloon.autodeflate),
            *ctx.pci_props(balloon.address, "memballoon")))]
    for rng in ctx.domain.devices.rngs:
        backend = f"obj{rng.alias}"
        period = (rng.rate_period or 1000) if rng.rate_bytes is not None else None
        args += ["-object", to_json(props(("qom-type", "rng-random"), ("id", backend),
                                          ("filename", rng.backend or "/dev/urandom"))),
                 "-device", to_json(props(("driver", "virtio-rng-pci"), ("rng", backend),
                                          ("id", rng.alias), ("max-bytes", rng.rate_bytes),
                                          ("period", period),
                                          *ctx.pci_props(rng.address, f"rng '{rng.alias}'")))]
    return args
