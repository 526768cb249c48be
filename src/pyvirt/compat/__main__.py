"""``python -m pyvirt.compat``: the directory to put on PYTHONPATH for ``import libvirt``."""

from pyvirt.compat import LIBVIRT_PATH

print(LIBVIRT_PATH)
