"""``<controller>`` parse/format."""

from __future__ import annotations

from pyvirt.domain.model.controller import Controller, ControllerType
from pyvirt.domain.xml.address import format_device_info, parse_address, parse_alias
from pyvirt.domain.xml.util import Element, attr, enum_value, int_attr, make, sub


def parse_controller(el: Element) -> Controller:
    kind = enum_value(ControllerType, attr(el, "type") or "", "controller type", el)
    target = el.find("target")
    return Controller(
        type=kind, index=int_attr(el, "index", maximum=255) or 0, model=attr(el, "model"),
        model_name=attr(el.find("model"), "name"),
        chassis=int_attr(target, "chassis", maximum=255),
        port=int_attr(target, "port", maximum=255),
        bus_nr=int_attr(target, "busNr", maximum=255),
        queues=int_attr(el.find("driver"), "queues", minimum=1),
        alias=parse_alias(el), address=parse_address(el.find("address")),
    )


def format_controller(ctl: Controller) -> Element:
    el = make("controller", [("type", ctl.type.value), ("index", ctl.index),
                             ("model", ctl.model)])
    if ctl.model_name is not None:
        sub(el, "model", [("name", ctl.model_name)])
    if ctl.chassis is not None or ctl.port is not None or ctl.bus_nr is not None:
        sub(el, "target", [
            ("chassis", ctl.chassis),
            ("port", None if ctl.port is None else f"0x{ctl.port:x}"),
            ("busNr", ctl.bus_nr),
        ])
    if ctl.queues is not None:
        sub(el, "driver", [("queues", ctl.queues)])
    format_device_info(el, alias=ctl.alias, address=ctl.address)
    return el
