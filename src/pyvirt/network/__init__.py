"""Network definitions (libvirt's ``<network>``): the model, declared with
:mod:`pyvirt.xmlspec` like the domain's, its XML and its generated grammar. A sibling of
``domain/``: it may use the domain model (``Vlan``), never anything above."""
