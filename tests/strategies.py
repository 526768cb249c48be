"""Hypothesis strategies derived from the XML declarations (pyvirt.xmlspec): a class's
strategy draws each declared field from its codec's samples, nested classes recursively,
one variant of each union. Custom items (code, not declarations) take their strategy from
CUSTOM; the test that uses this module fails on a custom item missing there."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from pyvirt.domain.model import (
    Disk,
    Domain,
    Graphics,
    HostdevSource,
    Interface,
    Os,
    PciHostdev,
    PersistentTeaming,
    Rng,
    TransientTeaming,
)
from pyvirt.domain.model.chardev import Channel, CharDevice, CharType
from pyvirt.domain.model.clock import Timer
from pyvirt.errors import PyvirtError
from pyvirt.types import DriveAddress, PciAddress
from pyvirt.xmlspec.engine import plan
from pyvirt.xmlspec.fields import Child, Custom, Flag, Leaf, Union

pci = st.builds(PciAddress, st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0x1F),
                st.integers(0, 7), st.sampled_from([None, True, False]))
drive = st.builds(DriveAddress, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3),
                  st.integers(0, 3))
aliases = st.from_regex(r"ua-[A-Za-z0-9_-]{1,12}", fullmatch=True)

CUSTOM: dict[tuple[type, str], st.SearchStrategy[Any]] = {
    (Domain, "metadata"): st.none() | st.just(
        '<metadata><app:x xmlns:app="urn:app" a="1"/></metadata>'),
    (Domain, "memory"): st.integers(1, 2**30),
    (Domain, "current_memory"): st.none() | st.integers(1, 2**30),
    (Interface, "teaming"): st.none() | st.just(PersistentTeaming()) | aliases.map(
        TransientTeaming),
    (PciHostdev, "teaming"): st.none() | aliases.map(TransientTeaming),
    (HostdevSource, "address"): pci,
    (PciHostdev, "source"): pci,
    (Disk, "source"): st.none() | st.just("/var/lib/images/a.qcow2"),
    (Graphics, "listen"): st.none() | st.just("127.0.0.1"),
}
ADDRESS = st.none() | pci | drive
# Fields whose values depend on another field's (a rule the class checks across fields).
DEPENDENT: dict[tuple[type, str], st.SearchStrategy[Any]] = {
    (CharDevice, "type"): st.just(CharType.FILE),
    (CharDevice, "path"): st.just("/var/log/serial.log"),
}
# Combinations the model can hold but no document can say.
FILTERS: dict[type, Any] = {
    Interface: lambda nic: not (nic.is_hostdev and nic.driver is not None)
    and (nic.target_managed is None or nic.target_dev is not None),
    Os: lambda os: os.bootmenu_timeout is None or os.bootmenu is not None,
    CharDevice: lambda dev: dev.log_append is None or dev.log_file is not None,
    Rng: lambda rng: rng.rate_period is None or rng.rate_bytes is not None,
    Channel: lambda ch: ch.type is not CharType.FILE or ch.path is not None,
    Timer: lambda timer: _passes(timer),
    Domain: lambda dom: not dom.timers or dom.clock_offset is not None,
}


def _passes(obj: Any) -> bool:
    """Whether ``obj`` keeps its class's cross-field rule (``xml_check``)."""
    try:
        obj.xml_check(None)
    except PyvirtError:
        return False
    return True


def _leaf(spec: Leaf, optional: bool) -> st.SearchStrategy[Any]:
    values = st.sampled_from(spec.codec.sample)
    if spec.many:
        return st.lists(values, max_size=3).map(tuple)
    return st.none() | values if optional else values


def field_strategy(cls: type, f: dataclasses.Field[Any], spec: object) -> \
        st.SearchStrategy[Any]:
    key = (cls, f.name)
    if key in DEPENDENT:
        return DEPENDENT[key]
    optional = f.default is None
    if isinstance(spec, Custom):
        if key in CUSTOM:
            return CUSTOM[key]
        assert f.name == "address", f"no strategy for the custom item {key}"
        return ADDRESS
    if isinstance(spec, Leaf):
        return _leaf(spec, optional)
    if isinstance(spec, Flag):
        return st.booleans()
    if isinstance(spec, Union):
        return st.one_of([of(v) for v in spec.variants.values()])
    assert isinstance(spec, Child)
    inner = st.one_of([of(v) for v in spec.target.variants.values()]) \
        if isinstance(spec.target, Union) else of(spec.target)
    if spec.many:
        return st.lists(inner, min_size=1 if spec.required else 0, max_size=2).map(tuple)
    return st.none() | inner if optional else inner


def of(cls: type) -> st.SearchStrategy[Any]:
    """Every declared field of ``cls`` drawn from its declaration."""
    specs = {name: spec for name, spec, init in plan(cls).fields if init}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    built = st.builds(cls, **{name: field_strategy(cls, fields[name], spec)
                              for name, spec in specs.items()})
    return built.filter(FILTERS[cls]) if cls in FILTERS else built
