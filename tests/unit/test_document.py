"""Hardened XML loading and pyvirt's RelaxNG schemas (domain/xml/document.py)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from lxml import etree

from pyvirt.domain.xml.document import MAX_XML_BYTES, load_xml, read_xml_file
from pyvirt.domain.xml.unknown import UnknownElementWarning, unknown_elements_refused
from pyvirt.errors import PyvirtError, SchemaError, SystemCallError, XmlSyntaxError

CONFORMANCE = Path("/work/shared/conformance/libvirt-9.0.0")
CONFORMANCE_INPUTS = sorted(CONFORMANCE.glob("*.xml"))

MINIMAL = "<domain type='kvm'><name>a</name><memory>1</memory>{}</domain>"

# Every element and attribute of the supported subset, children in an unusual order.
KITCHEN_SINK = """\
<domain type='kvm' id='3'>
  <devices>
    <rng model='virtio'>
      <address type='pci' domain='0' bus='0' slot='9' function='0'/>
      <rate period='1000' bytes='1024'/>
      <backend model='random'>/dev/urandom</backend>
      <alias name='rng0'/>
    </rng>
    <memballoon model='virtio' autodeflate='on'><stats period='5'/><alias name='b'/></memballoon>
    <audio id='1' type='none'/>
    <video><alias name='v'/><model type='vga' heads='1' primary='yes'/><address type='pci'/></video>
    <graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'>
      <listen type='address' address='0.0.0.0'/>
      <listen type='none'/>
    </graphics>
    <input type='tablet' bus='usb'><address type='usb' bus='0'/><alias name='in0'/></input>
    <console type='pty'><target type='serial' port='0'/><alias name='c0'/></console>
    <serial type='file'>
      <log file='/tmp/log' append='on'/>
      <target port='0'/>
      <source path='/tmp/serial' append='off' mode='bind'/>
      <address type='isa'/>
    </serial>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <rom bar='off' file='/x.rom' enabled='no'/>
      <boot order='2'/>
      <teaming type='transient' persistent='ua-net0'/>
      <source><product id='0x10ed'/><vendor id='0x8086'/></source>
      <driver name='vfio'/>
      <alias name='ua-hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </hostdev>
    <interface type='bridge' managed='no'>
      <address type='pci' multifunction='on'/>
      <alias name='ua-net0'/>
      <rom bar='on'/>
      <boot order='1'/>
      <mtu size='1500'/>
      <link state='up'/>
      <teaming type='persistent'/>
      <model type='virtio'/>
      <target dev='vnet0' managed='no'/>
      <vlan trunk='yes'><tag id='42' nativeMode='untagged'/><tag id='43'/></vlan>
      <driver name='vhost' queues='4'/>
      <source bridge='br0' network='n' dev='eth0' mode='vepa'/>
      <mac address='52:54:00:00:00:01'/>
    </interface>
    <interface type='hostdev'>
      <source><address type='pci' domain='0' bus='3' slot='7' function='1'/></source>
    </interface>
    <controller type='pci' index='1' model='pcie-root-port'>
      <address type='pci'/>
      <driver queues='2'/>
      <target chassis='1' port='0x8' busNr='1'/>
      <model name='pcie-root-port'/>
    </controller>
    <disk type='file' device='cdrom'>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
      <alias name='d'/>
      <boot order='3'/>
      <readonly/>
      <target dev='sda' bus='sata'/>
      <source file='/x.iso'/>
      <driver name='qemu' type='raw' cache='none'/>
    </disk>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
  <on_crash>destroy</on_crash>
  <on_reboot>restart</on_reboot>
  <on_poweroff>destroy</on_poweroff>
  <clock offset='utc'/>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <features><pae/><apic/><acpi/></features>
  <os>
    <bootmenu enable='yes' timeout='100'/>
    <boot dev='cdrom'/>
    <cmdline>console=ttyS0</cmdline>
    <initrd>/initrd</initrd>
    <kernel>/vmlinuz</kernel>
    <boot dev='hd'/>
    <type machine='q35' arch='x86_64'>hvm</type>
  </os>
  <vcpu current='1' placement='static'>2</vcpu>
  <currentMemory unit='KiB'>1024</currentMemory>
  <memory unit='KiB'>2048</memory>
  <metadata>
    <app:info xmlns:app='urn:example' anything='goes'><deep><deeper>text</deeper></deep></app:info>
  </metadata>
  <description>a guest</description>
  <title>Guest</title>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <name>sink</name>
</domain>
"""


def _raises(call: Callable[[], object], kind: type[PyvirtError] = PyvirtError) -> str:
    """Run ``call``; it must raise ``kind`` with a one-line message, which is returned."""
    with pytest.raises(PyvirtError) as info:
        call()
    assert isinstance(info.value, kind), repr(info.value)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def _quick(
    call: Callable[[], object], kind: type[PyvirtError] = PyvirtError, limit: float = 1.0
) -> str:
    """Like :func:`_raises`, and the refusal must take less than ``limit`` seconds."""
    started = time.monotonic()
    message = _raises(call, kind)
    assert time.monotonic() - started < limit
    return message


# ---------------------------------------------------------------- valid documents


@pytest.mark.parametrize("path", CONFORMANCE_INPUTS, ids=lambda p: p.name)
def test_conformance_inputs_validate(path: Path) -> None:
    root = read_xml_file(path)
    assert root.tag == "domain"
    assert load_xml(path.read_bytes()).findtext("name") == "QEMUGuest1"


def test_conformance_inputs_exist() -> None:
    assert len(CONFORMANCE_INPUTS) >= 10


@pytest.mark.parametrize("path", CONFORMANCE_INPUTS, ids=lambda p: p.name)
def test_every_conformance_device_validates_as_a_device_document(path: Path) -> None:
    for device in load_xml(path.read_bytes()).iterfind("devices/*"):
        if device.tag != "emulator":
            assert load_xml(etree.tostring(device), schema="device").tag == device.tag


def test_every_supported_element_in_any_order_validates() -> None:
    root = load_xml(KITCHEN_SINK)
    assert root.findtext("name") == "sink"
    assert root.find("metadata/{urn:example}info/deep/deeper") is not None


def test_str_input_with_an_encoding_declaration() -> None:
    text = "<?xml version='1.0' encoding='ISO-8859-1'?>" + MINIMAL.format("<title>é</title>")
    assert load_xml(text).findtext("title") == "é"


def test_bytes_input_honours_the_declared_encoding() -> None:
    text = "<?xml version='1.0' encoding='ISO-8859-1'?>" + MINIMAL.format("<title>é</title>")
    assert load_xml(text.encode("latin-1")).findtext("title") == "é"


def test_comments_are_dropped_but_kept_inside_metadata() -> None:
    doc = MINIMAL.format(
        "<!-- a --><title>x<!-- b -->y</title><?pi z?><metadata><!--kept--><m/></metadata>"
    )
    root = load_xml(doc)
    assert root.findtext("title") == "xy"
    assert [type(n) for n in root.iter(etree.Comment)] == [etree._Comment]
    assert not list(root.iter(etree.ProcessingInstruction))
    assert b"<!--kept-->" in etree.tostring(cast(etree._Element, root.find("metadata")))


def test_processing_instructions_are_ignored() -> None:
    assert load_xml("<?xml-stylesheet href='x'?>" + MINIMAL.format("")).tag == "domain"


# ---------------------------------------------------------------- schema errors


def _schema_error(doc: str, schema: str = "domain") -> str:
    return _raises(lambda: load_xml(doc, schema=schema), SchemaError)


PREFIX = "XML document failed to validate against schema: "


def test_unknown_element_names_element_parent_and_line() -> None:
    doc = (CONFORMANCE / "q35-teaming.xml").read_text()
    doc = doc.replace("<model type='virtio'/>", "<model type='virtio'/><bandwidth/>", 1)
    assert _schema_error(doc) == PREFIX + "unsupported element <bandwidth> in <interface> (line 23)"


def test_unknown_attribute_names_attribute_element_and_line() -> None:
    doc = MINIMAL.format(
        "\n<devices>\n<interface type='user'>\n<mac foo='1' address='x'/></interface></devices>"
    )
    assert _schema_error(doc) == PREFIX + "unsupported attribute 'foo' on <mac> (line 4)"


def test_namespaced_element_outside_metadata_is_dropped_with_a_warning() -> None:
    """libvirt skips an element of a foreign namespace; pyvirt says so."""
    doc = MINIMAL.format("<q:commandline xmlns:q='urn:q'/>")
    with pytest.warns(UnknownElementWarning,
                      match=r"^ignoring unknown element <q:commandline> \(line 1\)$"):
        root = load_xml(doc)
    assert root.find("{urn:q}commandline") is None
    with unknown_elements_refused():
        assert _schema_error(doc) == PREFIX + (
            "unknown element <q:commandline> (line 1): libvirt's domain schema does not "
            "have it")


def test_an_element_of_libvirt_s_qemu_namespace_is_refused_naming_it() -> None:
    """Known to libvirt, not run by pyvirt: refused, not dropped."""
    ns = "http://libvirt.org/schemas/domain/qemu/1.0"
    message = _schema_error(MINIMAL.format(f"<q:commandline xmlns:q='{ns}'/>"))
    assert message == PREFIX + "unsupported element <q:commandline> in <domain> (line 1)"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<name>a</name>", "missing required element <memory> in <domain> (line 1)"),
        (
            "<memory>1</memory><name>a</name><name>b</name>",
            "element <name> may appear only once in <domain> (line 1)",
        ),
        (
            "<name>a</name><memory>1</memory><features><acpi>on</acpi></features>",
            "unexpected text 'on' in <acpi> (line 1)",
        ),
        (
            "<name>a</name><memory>1</memory><devices><interface type='user'><mac/>"
            "</interface></devices>",
            "missing required attribute 'address' on <mac> (line 1)",
        ),
        (
            "<name>a</name><memory>1</memory><devices><interface type='user'><vlan/>"
            "</interface></devices>",
            "missing required element <tag> in <vlan> (line 1)",
        ),
        (
            "<name>a</name><memory>1</memory><devices><hostdev mode='subsystem' type='pci'>"
            "<source><address/><vendor id='1'/></source></hostdev></devices>",
            "element <vendor> cannot be combined with <address> in <source> (line 1)",
        ),
        (
            "<name>a</name><memory>1</memory><devices><hostdev mode='subsystem' type='pci'>"
            "<source/></hostdev></devices>",
            "missing required element <address> in <source> (line 1)",
        ),
        (
            "<name>a</name><memory>1</memory><devices>stray<emulator>e</emulator></devices>",
            "unexpected text 'stray' in <devices> (line 1)",
        ),
    ],
)
def test_schema_messages(body: str, expected: str) -> None:
    assert _schema_error(f"<domain type='kvm'>{body}</domain>") == PREFIX + expected


def test_missing_name() -> None:
    message = _schema_error("<domain type='kvm'>\n<memory>1</memory></domain>")
    assert message == PREFIX + "missing required element <name> in <domain> (line 1)"


def test_attribute_values_are_left_to_the_parsers() -> None:
    doc = MINIMAL.format(
        "<devices><interface type='bogus'><mac address='not-a-mac'/><model type='??'/>"
        "<teaming type='sideways' persistent=''/><alias name='!'/></interface>"
        "<hostdev mode='weird' type='odd'><source><address bus='zz'/></source></hostdev>"
        "</devices>"
    )
    assert load_xml(doc).tag == "domain"


def test_wrong_root() -> None:
    assert _schema_error("<foo/>") == PREFIX + "expected <domain>, found <foo> (line 1)"


def test_device_schema() -> None:
    assert load_xml("<interface type='user'/>", schema="device").tag == "interface"
    assert "found <domain>" in _schema_error(MINIMAL.format(""), schema="device")
    message = _schema_error("<disk type='file'><bogus/></disk>", schema="device")
    assert message == PREFIX + "unsupported element <bogus> in <disk> (line 1)"


# ---------------------------------------------------------------- hostile or broken input


def test_malformed_xml() -> None:
    message = _raises(lambda: load_xml("<domain type='kvm'>\n<name>a\n</domain>"), XmlSyntaxError)
    assert message == (
        "XML error: Opening and ending tag mismatch: name line 2 and domain (line 3)"
    )


@pytest.mark.parametrize("data", [b"", "", b"   \n\t", "\n"])
def test_empty_input(data: bytes | str) -> None:
    assert _raises(lambda: load_xml(data), XmlSyntaxError) == "XML error: Document is empty"


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 4, b"\x00" * 64, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"<\x00\x01\x02"],
)
def test_binary_garbage(data: bytes) -> None:
    assert _raises(lambda: load_xml(data), XmlSyntaxError).startswith("XML error: ")


def test_non_utf8_bytes() -> None:
    message = _raises(lambda: load_xml(b"<domain type='kvm'>\n<name>\xff\xfe</name></domain>"))
    assert message == "XML error: Invalid bytes in character encoding (line 2)"


def test_lone_surrogate_in_str() -> None:
    _raises(lambda: load_xml("<domain>\udcff</domain>"), XmlSyntaxError)


def test_nul_and_control_characters() -> None:
    _raises(lambda: load_xml("<domain>\x00</domain>"), XmlSyntaxError)
    _raises(lambda: load_xml(b"<domain>\x01</domain>"), XmlSyntaxError)


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE domain [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<domain type='kvm'><name>&lol9;</name><memory>1</memory></domain>"
)


def test_entity_bomb_is_refused() -> None:
    message = _quick(lambda: load_xml(BILLION_LAUGHS), XmlSyntaxError)
    assert message == "XML error: DOCTYPE is not allowed (line 2)"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_external_entity_is_refused(encoding: str) -> None:
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<!DOCTYPE domain [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
        "<domain type='kvm'><name>&xxe;</name><memory>1</memory></domain>"
    )
    message = _raises(lambda: load_xml(doc.encode(encoding)), XmlSyntaxError)
    assert message == "XML error: DOCTYPE is not allowed (line 2)"


def test_doctype_after_comments_and_pis_is_refused() -> None:
    doc = "<!-- x -->\n<?pi?>\n<!DOCTYPE domain SYSTEM 'http://example.invalid/x.dtd'>\n<domain/>"
    assert "DOCTYPE is not allowed" in _raises(lambda: load_xml(doc), XmlSyntaxError)


def test_undefined_entity_is_a_syntax_error() -> None:
    _raises(lambda: load_xml(MINIMAL.format("<title>&nope;</title>")), XmlSyntaxError)


def test_deep_nesting_is_refused_quickly() -> None:
    doc = "<domain>" + "<a>" * 10_000 + "</a>" * 10_000 + "</domain>"
    message = _quick(lambda: load_xml(doc), XmlSyntaxError)
    assert "Excessive depth in document" in message


def test_oversized_data_is_refused_quickly() -> None:
    _quick(lambda: load_xml(b" " * (MAX_XML_BYTES + 1)), XmlSyntaxError)
    _quick(lambda: load_xml("<" * (100 * 1024 * 1024)), XmlSyntaxError)


# ---------------------------------------------------------------- files


def test_hundred_megabyte_file_is_refused_quickly(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    with big.open("wb") as stream:
        stream.truncate(100 * 1024 * 1024)  # sparse: no disk space used
    message = _quick(lambda: read_xml_file(big), SystemCallError)
    assert message == f"Failed to read file '{big}': Value too large for defined data type"


def test_file_just_under_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "padded.xml"
    doc = MINIMAL.format("<metadata>{}</metadata>").encode()
    filler = b"<m>x</m>\n" * ((MAX_XML_BYTES - len(doc)) // 9)
    path.write_bytes(doc.replace(b"{}", filler))
    assert MAX_XML_BYTES - 9 < path.stat().st_size <= MAX_XML_BYTES
    assert read_xml_file(path).tag == "domain"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.xml"
    assert _raises(lambda: read_xml_file(path), SystemCallError) == (
        f"Failed to open file '{path}': No such file or directory"
    )


def test_directory(tmp_path: Path) -> None:
    assert _raises(lambda: read_xml_file(tmp_path), SystemCallError) == (
        f"Failed to open file '{tmp_path}': Is a directory"
    )


def test_unreadable_paths(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert "Not a directory" in _raises(lambda: read_xml_file(plain / "x.xml"), SystemCallError)
    message = _raises(lambda: read_xml_file(str(tmp_path / "a\nb\x00")), SystemCallError)
    assert message == f"Failed to open file '{tmp_path}/a\\nb\\x00': embedded null byte"


def test_file_errors_are_parsed_as_documents(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    assert _raises(lambda: read_xml_file(path), XmlSyntaxError) == "XML error: Document is empty"


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(MINIMAL.format("").encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    assert read_xml_file("-").tag == "domain"


def test_oversized_stdin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b" " * (MAX_XML_BYTES + 1)))
    monkeypatch.setattr("sys.stdin", stdin)
    assert "Value too large" in _raises(lambda: read_xml_file("-"), SystemCallError)


# ---------------------------------------------------------------- explanations are exact


def _sink_elements() -> list[int]:
    """Indexes (in ``iter()`` order) of KITCHEN_SINK elements outside <metadata>."""
    return [
        index
        for index, el in enumerate(etree.fromstring(KITCHEN_SINK).iter())
        if isinstance(el.tag, str) and next(el.iterancestors("metadata"), None) is None
    ]


def _mutated(index: int, change: Callable[[etree._Element], object]) -> tuple[bytes, str, str]:
    """KITCHEN_SINK with ``change`` applied to element ``index``; the tags of it and its
    parent, each with the element's line, as the messages show them."""
    root = etree.fromstring(KITCHEN_SINK)
    el = list(root.iter())[index]
    parent = el.getparent()
    tag = f"<{el.tag}> (line {el.sourceline})"
    parent_tag = f"<{parent.tag}> (line {el.sourceline})" if parent is not None else ""
    change(el)
    return etree.tostring(root), tag, parent_tag


def _precise_schema_error(doc: bytes) -> str | None:
    """The schema message for ``doc`` (None if valid); it must be pyvirt's, not libxml2's."""
    try:
        load_xml(doc)
    except SchemaError as err:
        detail = str(err).removeprefix(PREFIX)
        assert detail[0].islower() and "failed to validate" not in detail, detail
        return detail
    return None


STRICT_ELEMENTS = [
    i for i in _sink_elements() if list(etree.fromstring(KITCHEN_SINK).iter())[i].tag != "metadata"
]


@pytest.mark.parametrize("index", STRICT_ELEMENTS)
def test_every_element_refuses_an_unknown_attribute_precisely(index: int) -> None:
    doc, tag, _ = _mutated(index, lambda el: el.set("bogus", "1"))
    assert _precise_schema_error(doc) == f"unsupported attribute 'bogus' on {tag}"


@pytest.mark.parametrize("index", STRICT_ELEMENTS)
def test_every_element_refuses_an_unknown_child_precisely(index: int) -> None:
    # an element libvirt knows (one it does not is dropped before the grammar sees it)
    doc, tag, _ = _mutated(index, lambda el: el.append(etree.Element("watchdog")))
    message = _precise_schema_error(doc) or ""
    assert message.startswith(f"unsupported element <watchdog> in {tag.split()[0]} (line ")


@pytest.mark.parametrize("index", _sink_elements())
def test_every_attribute_removal_is_valid_or_precise(index: int) -> None:
    keys = [str(key) for key in list(etree.fromstring(KITCHEN_SINK).iter())[index].attrib]
    for key in keys:

        def drop(el: etree._Element, key: str = key) -> None:
            del el.attrib[key]

        doc, tag, _ = _mutated(index, drop)
        message = _precise_schema_error(doc)
        assert message in (None, f"missing required attribute '{key}' on {tag}")


@pytest.mark.parametrize("index", _sink_elements()[1:])
def test_every_duplicate_or_removal_is_valid_or_precise(index: int) -> None:
    doc, tag, parent = _mutated(index, lambda el: el.addnext(etree.fromstring(etree.tostring(el))))
    message = _precise_schema_error(doc)
    assert message is None or message.startswith(f"element {tag.split()[0]} may appear only once")
    doc, tag, parent = _mutated(index, lambda el: cast(etree._Element, el.getparent()).remove(el))
    message = _precise_schema_error(doc)
    assert message is None or f"{tag.split()[0]} in {parent.split()[0]}" in message, message


# ---------------------------------------------------------------- resource limits


def test_many_attributes_in_metadata_validate_quickly() -> None:
    attributes = " ".join(f"a{i}='1'" for i in range(20_000))
    started = time.monotonic()
    load_xml(MINIMAL.format(f"<metadata><m {attributes}/></metadata>"))
    assert time.monotonic() - started < 1.0


def test_many_siblings_in_metadata_validate_quickly() -> None:
    started = time.monotonic()
    load_xml(MINIMAL.format("<metadata>" + "<m a='1'>x</m>" * 100_000 + "</metadata>"))
    assert time.monotonic() - started < 1.0


def test_largest_allowed_device_list_validates_quickly() -> None:
    doc = MINIMAL.format("<devices>" + "<audio id='1' type='none'/>" * 9_990 + "</devices>")
    started = time.monotonic()
    load_xml(doc)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("node", ["<audio id='1' type='none'/>", "<!---->", "<?p?>"])
def test_too_many_nodes_are_refused_quickly(node: str) -> None:
    doc = MINIMAL.format("<devices>" + node * ((MAX_XML_BYTES - 200) // len(node)) + "</devices>")
    # parsing 10 MiB alone takes about half a second; without the cap this takes hours
    message = _quick(lambda: load_xml(doc), XmlSyntaxError, limit=3.0)
    assert message == "XML error: document has more than 10000 nodes outside <metadata>"


def test_huge_text_is_refused() -> None:
    _quick(lambda: load_xml(MINIMAL.format("<title>" + "x" * (MAX_XML_BYTES - 100) + "</title>")))
