"""``<serial>`` and ``<console>`` parse/format."""

from __future__ import annotations

from pyvirt.domain.model.chardev import CharDevice, CharType
from pyvirt.domain.xml.address import format_device_info, parse_address, parse_alias
from pyvirt.domain.xml.util import (
    Element,
    attr,
    enum_value,
    int_attr,
    make,
    on_off,
    on_off_attr,
    sub,
)
from pyvirt.errors import ParseError


def parse_chardev(el: Element) -> CharDevice:
    kind = enum_value(CharType, attr(el, "type") or "pty", f"{el.tag} type", el)
    source = el.find("source")
    if kind in (CharType.FILE, CharType.UNIX) and attr(source, "path") is None:
        raise ParseError("Missing source path attribute for char device")
    target = el.find("target")
    log = el.find("log")
    return CharDevice(
        type=kind, path=attr(source, "path"), append=on_off_attr(source, "append"),
        mode=attr(source, "mode"), target_type=attr(target, "type"),
        target_port=int_attr(target, "port", maximum=255),
        log_file=attr(log, "file"), log_append=on_off_attr(log, "append"),
        alias=parse_alias(el), address=parse_address(el.find("address")),
    )


def format_chardev(tag: str, dev: CharDevice) -> Element:
    el = make(tag, [("type", dev.type.value)])
    if dev.path is not None:
        sub(el, "source", [("mode", dev.mode), ("path", dev.path),
                           ("append", None if dev.append is None else on_off(dev.append))])
    if dev.log_file is not None:
        sub(el, "log", [("file", dev.log_file),
                        ("append", None if dev.log_append is None else on_off(dev.log_append))])
    if dev.target_type is not None or dev.target_port is not None:
        sub(el, "target", [("type", dev.target_type), ("port", dev.target_port)])
    format_device_info(el, alias=dev.alias, address=dev.address)
    return el
