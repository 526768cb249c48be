"""Small devices parse/format: input, graphics, video, audio, memballoon, rng."""

from __future__ import annotations

from pyvirt.domain.model.misc import (
    Audio,
    Graphics,
    Input,
    InputBus,
    InputType,
    Memballoon,
    Rng,
    Video,
)
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
    text_of,
    yes_no,
    yes_no_attr,
)
from pyvirt.errors import ConfigUnsupportedError


def parse_input(el: Element) -> Input:
    bus = attr(el, "bus")
    return Input(type=enum_value(InputType, attr(el, "type") or "", "input type", el),
                 bus=enum_value(InputBus, bus, "input bus", el) if bus else None,
                 alias=parse_alias(el), address=parse_address(el.find("address")))


def format_input(dev: Input) -> Element:
    el = make("input", [("type", dev.type.value), ("bus", dev.bus.value if dev.bus else None)])
    format_device_info(el, alias=dev.alias, address=dev.address)
    return el


def parse_graphics(el: Element) -> Graphics:
    kind = attr(el, "type") or ""
    if kind != "vnc":
        raise ConfigUnsupportedError(f"graphics type '{kind}' is not supported by pyvirt")
    listen = attr(el, "listen") or attr(el.find("listen"), "address")
    return Graphics(type=kind, port=int_attr(el, "port", minimum=-1, maximum=65535),
                    autoport=yes_no_attr(el, "autoport"), listen=listen)


def format_graphics(dev: Graphics) -> Element:
    el = make("graphics", [
        ("type", dev.type), ("port", dev.port),
        ("autoport", None if dev.autoport is None else yes_no(dev.autoport)),
        ("listen", dev.listen),
    ])
    if dev.listen is not None:
        sub(el, "listen", [("type", "address"), ("address", dev.listen)])
    return el


def parse_video(el: Element) -> Video:
    model = attr(el.find("model"), "type") or "none"
    if model != "none":
        raise ConfigUnsupportedError(f"video model '{model}' is not supported by pyvirt")
    return Video(model=model, alias=parse_alias(el), address=parse_address(el.find("address")))


def format_video(dev: Video) -> Element:
    el = make("video")
    sub(el, "model", [("type", dev.model)])
    format_device_info(el, alias=dev.alias, address=dev.address)
    return el


def parse_audio(el: Element) -> Audio:
    kind = attr(el, "type") or ""
    if kind != "none":
        raise ConfigUnsupportedError(f"audio type '{kind}' is not supported by pyvirt")
    return Audio(id=int_attr(el, "id", minimum=1) or 1, type=kind)


def format_audio(dev: Audio) -> Element:
    return make("audio", [("id", dev.id), ("type", dev.type)])


def parse_memballoon(el: Element) -> Memballoon:
    model = attr(el, "model") or ""
    if model not in ("virtio", "none"):
        raise ConfigUnsupportedError(f"memballoon model '{model}' is not supported by pyvirt")
    return Memballoon(model=model, autodeflate=on_off_attr(el, "autodeflate"),
                      stats_period=int_attr(el.find("stats"), "period"),
                      alias=parse_alias(el), address=parse_address(el.find("address")))


def format_memballoon(dev: Memballoon) -> Element:
    el = make("memballoon", [
        ("model", dev.model),
        ("autodeflate", None if dev.autodeflate is None else on_off(dev.autodeflate))])
    if dev.stats_period is not None:
        sub(el, "stats", [("period", dev.stats_period)])
    format_device_info(el, alias=dev.alias, address=dev.address)
    return el


def parse_rng(el: Element) -> Rng:
    model = attr(el, "model") or ""
    backend = el.find("backend")
    backend_model = attr(backend, "model") or "random"
    if model != "virtio" or backend_model != "random":
        raise ConfigUnsupportedError(
            f"rng model '{model}' with backend '{backend_model}' is not supported by pyvirt")
    rate = el.find("rate")
    return Rng(model=model, backend_model=backend_model, backend=text_of(backend),
               rate_bytes=int_attr(rate, "bytes", minimum=1),
               rate_period=int_attr(rate, "period", minimum=1),
               alias=parse_alias(el), address=parse_address(el.find("address")))


def format_rng(dev: Rng) -> Element:
    el = make("rng", [("model", dev.model)])
    if dev.rate_bytes is not None:
        sub(el, "rate", [("bytes", dev.rate_bytes), ("period", dev.rate_period)])
    sub(el, "backend", [("model", dev.backend_model)], text=dev.backend)
    format_device_info(el, alias=dev.alias, address=dev.address)
    return el
