"""``import libvirt`` -> pyvirt (see :mod:`pyvirt.compat`)."""

import pyvirt

pyvirt.install_as_libvirt()  # sys.modules["libvirt"] is pyvirt from here on
