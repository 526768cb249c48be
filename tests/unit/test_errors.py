"""The one exception tree: every class lives in ``pyvirt.errors`` and is drawn in its
docstring with its parent and libvirt code; errors cross the migration channel as class +
detail and come back as the same class with the same message."""

from __future__ import annotations

import asyncio
import errno
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pyvirt
import pyvirt.api
from pyvirt import errors
from pyvirt.errors import (
    CommandFailedError,
    MigrationFailedError,
    NetlinkCallError,
    NoDomainError,
    ProcessError,
    PyvirtError,
    RemoteError,
    XmlSyntaxError,
    error_classes,
    from_wire,
    to_wire,
)
from pyvirt.migration.protocol import Channel, encode
from pyvirt.migration.transport import attach_agent, spawn_agent
from pyvirt.store.roots import parse_uri

_TREE_LINE = re.compile(r"^(?P<indent> *)(?P<name>\w+) +(?P<const>VIR_\w+) \((?P<code>\d+)\)$")


def drawn_tree() -> dict[str, tuple[str | None, str, int]]:
    """name -> (parent, code constant, code) as the docstring draws it."""
    doc = errors.__doc__ or ""
    block = doc.split("The tree::\n\n", 1)[1].split("\n\n", 1)[0]
    tree: dict[str, tuple[str | None, str, int]] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = _TREE_LINE.match(line)
        assert match, f"not a tree line: {line!r}"
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        tree[match["name"]] = (stack[-1][1] if stack else None, match["const"],
                               int(match["code"]))
        stack.append((depth, match["name"]))
    return tree


def _subclasses(cls: type[PyvirtError]) -> Iterator[type[PyvirtError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def every_pyvirt_error_class() -> set[type[PyvirtError]]:
    """Every PyvirtError subclass defined anywhere in the pyvirt package."""
    for module in pkgutil.walk_packages(pyvirt.__path__, "pyvirt."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    return {PyvirtError} | {c for c in _subclasses(PyvirtError)
                            if c.__module__.split(".")[0] == "pyvirt"}


def test_every_error_class_lives_in_errors_and_is_drawn_with_its_parent() -> None:
    classes = every_pyvirt_error_class()
    tree = drawn_tree()
    assert {c.__name__ for c in classes} == set(tree)
    for cls in classes:
        assert cls.__module__ == "pyvirt.errors", cls
        parent, _const, _code = tree[cls.__name__]
        if cls is PyvirtError:
            assert parent is None
        else:
            assert cls.__bases__ == (getattr(errors, str(parent)),), cls
    assert set(error_classes()) == classes


def test_the_drawn_codes_are_the_classes_and_the_api_exports_them() -> None:
    for name, (_parent, const, code) in drawn_tree().items():
        cls = getattr(errors, name)
        assert cls.code == code == getattr(errors, const) == getattr(pyvirt.api, const), name
        assert getattr(pyvirt, const) == code  # the lazy package root, as clients use it


def test_a_prefix_names_one_libvirt_code() -> None:
    seen: dict[str, int] = {}
    for cls in error_classes():
        if cls.prefix:
            assert seen.setdefault(cls.prefix, cls.code) == cls.code, cls


def test_the_old_homes_still_import_the_same_classes() -> None:
    from pyvirt.domain.device import DeviceMissingError
    from pyvirt.host.netlink import NetlinkCallError as FromNetlink
    from pyvirt.host.pools import NoNetworkError
    from pyvirt.host.sysfs import NoNodeDeviceError
    from pyvirt.qmp.monitor import CommandFailedError as FromMonitor
    from pyvirt.service.config import ConfigFileError
    from pyvirt.store.locks import LockTimeoutError
    assert (DeviceMissingError, FromNetlink, NoNetworkError, NoNodeDeviceError, FromMonitor,
            ConfigFileError, LockTimeoutError) == (
        errors.DeviceMissingError, errors.NetlinkCallError, errors.NoNetworkError,
        errors.NoNodeDeviceError, errors.CommandFailedError, errors.ConfigFileError,
        errors.LockTimeoutError)


# --- wire form -------------------------------------------------------------------------

def over_the_wire(err: PyvirtError) -> PyvirtError:
    return from_wire(json.loads(json.dumps(to_wire(err))))


@given(cls=st.sampled_from(sorted(error_classes(), key=lambda c: c.__name__)),
       detail=st.text())
def test_every_class_round_trips_with_the_same_class_and_message(
        cls: type[PyvirtError], detail: str) -> None:
    err = cls(detail)
    back = over_the_wire(err)
    assert type(back) is cls
    assert back.detail == err.detail and str(back) == str(err)


@pytest.mark.parametrize("err", [
    CommandFailedError.answered("device_add", "GenericError", "Duplicate ID 'net0'"),
    NetlinkCallError("cannot set MAC of VF 3 of 'eth0'", errno.EPERM),
    ProcessError("qemu exited at once", ("qemu", "-S"), 1, "log tail"),
], ids=["qmp", "netlink", "process"])
def test_classes_with_extra_fields_keep_their_message(err: PyvirtError) -> None:
    back = over_the_wire(err)
    assert type(back) is type(err) and str(back) == str(err)


def test_a_class_this_side_does_not_know_comes_back_as_its_message() -> None:
    class NewerError(PyvirtError):  # a newer peer's class
        prefix = "brand new: "

    back = over_the_wire(NewerError("detail"))
    assert type(back) is RemoteError
    assert str(back) == "brand new: detail"
    assert back.code == errors.VIR_ERR_RPC


@pytest.mark.parametrize(("wire", "message"), [
    ("operation failed: old peer", "operation failed: old peer"),  # protocol version 1
    ({"class": "Nope", "detail": "d"}, "d"),
    ({"class": "NoDomainError"}, "unreadable error from the peer: {'class': 'NoDomainError'}"),
    (None, "unreadable error from the peer: None"),
])
def test_unreadable_wire_errors_fall_back_to_a_remote_error(wire: Any, message: str) -> None:
    back = from_wire(wire)
    assert type(back) is RemoteError and str(back) == message


def _channel_answering(answer: dict[str, Any]) -> Channel:
    class Sink:
        def write(self, data: bytes) -> None:
            pass

        async def drain(self) -> None:
            pass

    reader = asyncio.StreamReader()
    reader.feed_data(encode(answer))
    return Channel(reader, Sink())  # type: ignore[arg-type]


def test_the_channel_raises_the_agents_class() -> None:
    sent = NoDomainError("no domain with matching name 'g'")

    async def ask() -> None:
        await _channel_answering({"ok": False, "error": to_wire(sent)}).request("x", 5)

    with pytest.raises(NoDomainError) as caught:
        asyncio.run(ask())
    assert str(caught.value) == str(sent)


def test_the_real_agent_answers_with_its_error_classes(tmp_path: Path) -> None:
    dest = parse_uri(f"qemu:///embed?root={tmp_path / 'root'}")

    async def talk() -> list[PyvirtError]:
        agent = await attach_agent(spawn_agent(dest))
        caught: list[PyvirtError] = []
        try:
            assert (await agent.channel.request("hello", 60))["version"] == 2
            for op, args in [("prepare", {"xml": "<domain", "persistent": False,
                                          "listen": "127.0.0.1"}),
                             ("prepare", {}), ("dance", {})]:
                with pytest.raises(PyvirtError) as err:
                    await agent.channel.request(op, 60, **args)
                caught.append(err.value)
            await agent.channel.request("bye", 10)
        finally:
            await agent.close()
        return caught

    bad_xml, bad_request, unknown = asyncio.run(talk())
    assert type(bad_xml) is XmlSyntaxError and str(bad_xml).startswith("XML error: ")
    assert type(bad_request) is MigrationFailedError
    assert str(bad_request) == "operation failed: bad request 'prepare': 'xml'"
    assert type(unknown) is MigrationFailedError
    assert str(unknown) == "operation failed: unknown request 'dance'"


# --- the API ---------------------------------------------------------------------------

def test_the_api_error_carries_libvirts_numbers(tmp_path: Path) -> None:
    conn = pyvirt.api.open(f"qemu:///embed?root={tmp_path / 'root'}")
    with pytest.raises(pyvirt.libvirtError) as caught:
        conn.lookupByName("missing")
    err = caught.value
    assert err.get_error_code() == pyvirt.VIR_ERR_NO_DOMAIN == 42
    assert err.get_error_domain() == pyvirt.VIR_FROM_QEMU == 10
    assert err.get_error_level() == pyvirt.VIR_ERR_ERROR == 2
    assert err.get_error_message() == str(err) == \
        "Domain not found: no domain with matching name 'missing'"
    with pytest.raises(pyvirt.libvirtError) as caught:
        conn.defineXML("<domain")
    assert caught.value.get_error_code() == pyvirt.VIR_ERR_XML_ERROR
