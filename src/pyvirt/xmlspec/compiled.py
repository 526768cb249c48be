"""Formatting, compiled: one straight-line Python function per class, made from its
declarations the first time the class is written (the way :mod:`dataclasses` makes
``__init__``). It does what :func:`pyvirt.xmlspec.engine.write` would do field by field,
without the per-field dispatch, so a declared class formats as fast as a hand-written
formatter. Only names and string literals from the declarations enter the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from pyvirt.xmlspec.fields import Child, Custom, Flag, Leaf, Union, split

Element = etree._Element
Formatter = Callable[[Element, Any], None]


def compile_writer(fields: tuple[tuple[str, object, bool], ...],
                   write: Callable[[Element, Any], None],
                   write_leaf: Callable[[Element, Leaf, Any], None],
                   ensure_path: Callable[[Element, tuple[str, ...]], Element]) -> Formatter:
    """The formatter of a class whose declarations are ``fields`` (engine.plan order).

    ``write`` formats nested objects; ``write_leaf`` the rare leaf the fast cases skip
    (text, repeated, or deeper than one child); ``ensure_path`` finds or makes a path of
    elements."""
    ns: dict[str, Any] = {"SubElement": etree.SubElement, "write": write,
                          "write_leaf": write_leaf, "ensure_path": ensure_path}
    body: list[str] = []
    kids: dict[str, str] = {}  # child tag -> local variable holding it
    made = [0]

    def child(tag: str) -> str:
        var = kids.get(tag)
        if var is None:
            var = kids[tag] = f"k{made[0]}"
            made[0] += 1
            body.insert(0, f"    {var} = None")
        return var

    customs = [False]  # has a custom item (which may add any child) been written yet?

    def ensure(tag: str, indent: str) -> str:
        var = child(tag)
        body.append(f"{indent}if {var} is None:")
        if customs[0]:
            body.append(f"{indent}    {var} = el.find({tag!r})")
            body.append(f"{indent}    if {var} is None:")
            body.append(f"{indent}        {var} = SubElement(el, {tag!r})")
        else:  # only this function has written children so far: it knows them all
            body.append(f"{indent}    {var} = SubElement(el, {tag!r})")
        return var

    for i, (name, spec, _init) in enumerate(fields):
        value = f"obj.{name}"
        if isinstance(spec, Custom):
            ns[f"c{i}"] = spec.write
            body.append(f"    c{i}(el, obj)")
            kids.clear()  # a custom item may have added children: look them up again
            customs[0] = True
            continue
        body.append(f"    v = {value}")
        if isinstance(spec, Flag):
            elems = split(spec.path)[0]
            body.append("    if v:")
            if len(elems) == 1:
                ensure(elems[0], "        ")
            else:
                ns[f"f{i}"] = elems
                body.append(f"        ensure_path(el, f{i})")
            continue
        many = isinstance(spec, Child) and spec.many  # an empty tuple makes no parent
        body.append("    if v:" if many else "    if v is not None:")
        if isinstance(spec, Leaf):
            elems, attr = split(spec.path)
            ns[f"e{i}"] = spec.codec.encode
            if spec.many or len(elems) > 1:
                ns[f"s{i}"] = spec
                body.append(f"        write_leaf(el, s{i}, v)")
            elif not elems:
                body.append(f"        el.set({attr!r}, e{i}(v))" if attr is not None
                            else f"        el.text = e{i}(v)")
            else:
                var = ensure(elems[0], "        ")
                body.append(f"        {var}.set({attr!r}, e{i}(v))" if attr is not None
                            else f"        {var}.text = e{i}(v)")
        elif isinstance(spec, Union):
            body.append("        write(el, v)")
        else:
            assert isinstance(spec, Child)
            elems = split(spec.path)[0]
            parent = "el" if len(elems) == 1 else ensure(elems[0], "        ")
            assert len(elems) <= 2, "a nested child deeper than two elements"
            last = elems[-1]
            if spec.many:
                body.append("        for item in v:")
                body.append(f"            write(SubElement({parent}, {last!r}), item)")
            else:
                body.append(f"        write(SubElement({parent}, {last!r}), v)")
    source = "def formatter(el, obj):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(compile(source, "<pyvirt.xmlspec formatter>", "exec"), ns)
    formatter: Formatter = ns["formatter"]
    return formatter


Reader = Callable[[Element, set[str]], Any]
Parser = Callable[[Element, set[str], frozenset[str], dict[str, Any]], None]


def compile_reader(readers: tuple[tuple[str, bool, str | None, bool, Reader], ...]) -> Parser:
    """The loop over a class's non-union fields, unrolled: ``parser(el, tags, claimed,
    values)`` reads each field whose element is there (or that must report its absence)
    into ``values``, skipping elements a union variant claimed."""
    ns: dict[str, Any] = {}
    body: list[str] = []
    for i, (name, init, first, strict, read) in enumerate(readers):
        ns[f"r{i}"] = read
        indent = "    "
        if first is not None:
            cond = f"{first!r} not in claimed" if strict else \
                f"{first!r} in tags and {first!r} not in claimed"
            body.append(f"    if {cond}:")
            indent = "        "
        if init:
            body.append(f"{indent}v = r{i}(el, tags)")
            body.append(f"{indent}if v is not None:")
            body.append(f"{indent}    values[{name!r}] = v")
        else:
            body.append(f"{indent}r{i}(el, tags)")
    source = ("def parser(el, tags, claimed, values):\n"
              + "\n".join(body or ["    pass"]) + "\n")
    exec(compile(source, "<pyvirt.xmlspec parser>", "exec"), ns)
    parser: Parser = ns["parser"]
    return parser
