"""Emulated NICs: for each ``<interface>`` in document order, its ``-netdev`` then its
``-device``. ``type='hostdev'`` interfaces are VFIO devices and are emitted with the
host devices (:mod:`devices_hostdev`), which is why a transient member always comes
after every persistent one on the command line.

Teaming: a ``<teaming type='persistent'/>`` virtio NIC gets ``failover: true``; an
emulated NIC with ``<teaming type='transient' persistent='X'/>`` (pyvirt's extension for
testing without SR-IOV: e1000e or igb) gets ``failover_pair_id: X``.
"""

from __future__ import annotations

from pyvirt.domain.model import Interface, InterfaceType, PersistentTeaming, TransientTeaming
from pyvirt.errors import ConfigUnsupportedError
from pyvirt.qemu.command.context import BuildContext, rom_props
from pyvirt.qemu.command.props import Props, props, to_json
from pyvirt.qemu.machine import DEFAULT_NIC_MODEL, NIC_MODEL_DEVICES, VIRTIO_MODELS
from pyvirt.qemu.tapnic import TAP_TYPES

_FAILOVER_UNSUPPORTED = "virtio-net failover (teaming) is not supported with this QEMU binary"


def netdev_id(iface: Interface) -> str:
    """The QEMU id of an interface's backend: ``host`` + its alias, as libvirt does."""
    return f"host{iface.alias}"


def _netdev(ctx: BuildContext, iface: Interface) -> Props:
    """The host side of the NIC.

    ``user`` is slirp. ``bridge``, ``ethernet`` and ``direct`` are taps (macvtaps) the
    runtime created (or, ``managed='no'``, opened) and hands over as descriptors
    (``env.nic_fds``), in
    libvirt 9.0's form: ``type``, ``fd``/``fds``, ``vhost``, ``vhostfd``/``vhostfds``,
    ``id``; QEMU never opens a tap by name.

    :raises ConfigUnsupportedError: for ``network`` and ``vhostuser``, and
        for a tap NIC without descriptors (a hot-plug: not supported yet).
    """
    backend = netdev_id(iface)
    queues = iface.driver.queues if iface.driver and (iface.driver.queues or 1) > 1 else None
    if iface.type is InterfaceType.USER:
        if iface.mtu is not None:
            raise ConfigUnsupportedError("setting MTU on interface type user is not "
                                         "supported yet")
        if queues is not None:
            raise ConfigUnsupportedError("multiqueue is not supported for network "
                                         "interfaces of type 'user'")
        return props(("type", "user"), ("id", backend))
    if iface.type in TAP_TYPES:
        fds = ctx.env.nic_fds.get(iface.alias or "")
        if fds is None or not fds.tap:
            raise ConfigUnsupportedError(
                f"interface type '{iface.type.value}' needs a tap device the runtime "
                "creates at start; hot-plugging one is not supported yet")
        many = len(fds.tap) > 1
        return props(("type", "tap"),
                     ("fds" if many else "fd", ":".join(str(fd) for fd in fds.tap)),
                     ("vhost", True if fds.vhost else None),
                     ("vhostfds" if many else "vhostfd",
                      ":".join(str(fd) for fd in fds.vhost) if fds.vhost else None),
                     ("id", backend))
    raise ConfigUnsupportedError(
        f"interface type '{iface.type.value}' is not supported by the pyvirt command "
        "builder yet: it needs a tap device created and attached by the runtime; use "
        "type='user', type='bridge' or type='ethernet'")


def _nic(ctx: BuildContext, iface: Interface) -> Props:
    """The guest side, in libvirt's property order (C.2).

    :raises ConfigUnsupportedError: for an unknown model, settings the model cannot take,
        or teaming properties the binary lacks.
    """
    model = iface.model or DEFAULT_NIC_MODEL
    driver = NIC_MODEL_DEVICES.get(model)
    if driver is None:
        raise ConfigUnsupportedError(f"interface model '{model}' is not supported by pyvirt")
    virtio = model in VIRTIO_MODELS
    queues = iface.driver.queues if iface.driver and iface.driver.queues else 1
    if iface.mtu is not None and not virtio:
        raise ConfigUnsupportedError(f"setting MTU on interface model '{model}' is not "
                                     "supported")
    failover = True if virtio and isinstance(iface.teaming, PersistentTeaming) else None
    pair = iface.teaming.persistent if isinstance(iface.teaming, TransientTeaming) else None
    if (failover and not ctx.caps.has_device_prop(driver, "failover")) or (
            pair is not None and not ctx.caps.has_device_prop(driver, "failover_pair_id")):
        raise ConfigUnsupportedError(_FAILOVER_UNSUPPORTED)
    return props(
        ("driver", driver),
        ("mq", True if virtio and queues > 1 else None),
        ("vectors", 2 * queues + 2 if virtio and queues > 1 else None),
        ("host_mtu", iface.mtu),
        ("failover", failover),
        ("netdev", netdev_id(iface)),
        ("id", iface.alias),
        ("mac", str(iface.mac) if iface.mac else None),
        ("bootindex", iface.boot),
        ("failover_pair_id", pair),
        *ctx.pci_props(iface.address, f"interface '{iface.alias}'"),
        *rom_props(iface.rom),
    )


def network_args(ctx: BuildContext) -> list[str]:
    """``-netdev``/``-device`` pairs for every emulated NIC.

    :raises ConfigUnsupportedError: see :func:`_netdev` and :func:`_nic`.
    """
    args: list[str] = []
    for iface in ctx.domain.devices.interfaces:
        if iface.type is InterfaceType.HOSTDEV:
            continue
        args += ["-netdev", to_json(_netdev(ctx, iface)), "-device", to_json(_nic(ctx, iface))]
    return args
