"""Opt-in: ``import libvirt`` gives pyvirt in programs you cannot edit.

This directory holds a module named ``libvirt`` that replaces itself with pyvirt
(:func:`pyvirt.install_as_libvirt`). Put the directory on ``PYTHONPATH`` of the program
(Ansible's ``community.libvirt`` modules run in a Python of their own, so this is the way
to reach them); ``python -m pyvirt.compat`` prints it. Nothing is installed as
``libvirt`` unless you do so, so a real libvirt-python on the same machine is unaffected.
"""

from __future__ import annotations

from pathlib import Path

#: The directory to put on PYTHONPATH.
LIBVIRT_PATH = Path(__file__).resolve().parent / "libvirt_module"
