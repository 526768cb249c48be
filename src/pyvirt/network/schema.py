"""The network grammar (``domain/schema/network.rng``, beside the domain's, where the
one loader finds every grammar) is generated from the model's declarations and
committed; ``make schema`` (``python -m pyvirt.network.schema``) regenerates it, and a
test checks that doing so changes nothing."""

from __future__ import annotations

import sys

from pyvirt.domain.xml.grammar import SCHEMA_DIR
from pyvirt.network.model import Network
from pyvirt.xmlspec.rng import grammar

COMMENT = """  pyvirt's RelaxNG schema for the subset of libvirt network XML that pyvirt supports
  (hostdev pools and host bridges, <forward mode='bridge'/>).
  GENERATED from the declarations in src/pyvirt/network/model.py by `make schema`: do not
  edit by hand.

  Conventions: those of domain.rng (structure strict, values loose, any order)."""


def network_grammar() -> str:
    return grammar("network", Network, comment=COMMENT)


def main() -> None:
    path = SCHEMA_DIR / "network.rng"
    path.write_text(network_grammar())
    sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
