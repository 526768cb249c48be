"""Record a QEMU capabilities fixture from a real binary.

    .venv/bin/python tests/data/caps/record.py                      # qemu-7.2-x86_64.json
    .venv/bin/python tests/data/caps/record.py --without-failover   # ...-nofailover.json

The file name is derived from the probed version and the binary's architecture
(``qemu-MAJOR.MINOR-ARCH[-nofailover].json``) unless ``--output`` is given.

``--without-failover`` removes ``failover`` from virtio-net-pci and ``failover_pair_id``
from every device, which is what a QEMU older than 4.2 (no virtio-net failover) reports
for those devices; golden tests use it for the "failover unsupported" errors.

``kvm_present`` is recorded as probed, so it depends on the recording host (true when
/dev/kvm was usable). Golden tests must not depend on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from pyvirt.qemu.caps import QemuCaps
from pyvirt.runtime.probe import probe_sync

HERE = Path(__file__).resolve().parent
DEFAULT_BINARY = "/usr/bin/qemu-system-x86_64"


def without_failover(caps: QemuCaps) -> QemuCaps:
    """*caps* as a QEMU without virtio-net failover support would report them."""
    props = {name: names - {"failover_pair_id"} for name, names in caps.device_props.items()}
    if "virtio-net-pci" in props:
        props["virtio-net-pci"] = props["virtio-net-pci"] - {"failover"}
    return dataclasses.replace(caps, device_props=props)


def fixture_name(caps: QemuCaps, stripped: bool) -> str:
    arch = os.path.basename(caps.binary).removeprefix("qemu-system-")
    major, minor, _ = caps.version
    return f"qemu-{major}.{minor}-{arch}{'-nofailover' if stripped else ''}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=DEFAULT_BINARY)
    parser.add_argument("--without-failover", action="store_true")
    parser.add_argument("--output", type=Path, help="default: derived name in this directory")
    args = parser.parse_args(argv)

    caps = probe_sync(args.binary)
    if args.without_failover:
        caps = without_failover(caps)
    output = args.output or HERE / fixture_name(caps, args.without_failover)
    output.write_text(caps.to_json(), encoding="utf-8")
    print(f"wrote {output} (QEMU {'.'.join(map(str, caps.version))}, "
          f"failover {'yes' if caps.supports_failover else 'no'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
