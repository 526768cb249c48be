"""The domain grammar (``domain/schema/domain.rng``) is generated from the model's
declarations and committed; ``make schema`` (``python -m pyvirt.domain.xml.schema``)
regenerates it, and a test checks that doing so changes nothing."""

from __future__ import annotations

import sys

from pyvirt.domain.model import Devices, Domain
from pyvirt.domain.xml.grammar import SCHEMA_DIR
from pyvirt.xmlspec.rng import grammar

COMMENT = """  pyvirt's RelaxNG schema for the subset of libvirt domain XML that pyvirt supports.
  GENERATED from the declarations in src/pyvirt/domain/model/ by `make schema`: do not
  edit by hand.

  Conventions (src/pyvirt/domain/xml/grammar.py relies on them to explain failures):
  * Structure is strict: element and attribute names, nesting and cardinality.
  * Values are loose: every attribute value and text node is plain <text/>, because the
    codecs check values and report libvirt's own messages.
  * Children may come in any order (<interleave>); a child name is defined once per parent.
  * device.rng and devices.rng include this grammar and start from the "device" choice."""


def domain_grammar() -> str:
    return grammar("domain", Domain, comment=COMMENT, devices=("devices", Devices, "device"))


def main() -> None:
    path = SCHEMA_DIR / "domain.rng"
    path.write_text(domain_grammar())
    sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
