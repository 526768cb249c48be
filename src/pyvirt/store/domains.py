"""Persistent domain definitions: one XML file per domain in the config directory."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

from pyvirt.domain.io import DomainIdentity, domain_from_xml, domain_to_xml, identity_from_xml
from pyvirt.domain.model import Domain
from pyvirt.errors import NoDomainError, PyvirtError, SystemCallError
from pyvirt.store.atomic import ensure_dir, fsync_dir, remove_file, write_atomic


class DomainStore:
    """Definitions under ``config_dir``; writes are atomic, callers hold the domain lock."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def path_of(self, name: str) -> Path:
        return self.config_dir / f"{name}.xml"

    def names(self) -> list[str]:
        if not self.config_dir.is_dir():
            return []
        # write_atomic's temp files (".NAME.xml.XXXXXXXX") never end in ".xml", so a
        # domain whose name starts with a dot is listed like any other
        return sorted(p.name[:-4] for p in self.config_dir.glob("*.xml"))

    def exists(self, name: str) -> bool:
        return self.path_of(name).is_file()

    def load(self, name: str) -> Domain:
        """:raises NoDomainError: when *name* is not defined; PyvirtError when unreadable."""
        path = self.path_of(name)
        return domain_from_xml(self._read(name), source=str(path))

    def identity(self, name: str) -> DomainIdentity | None:
        """Name and UUID of the definition *name*, read without the schema or the model;
        None when it is not defined or visibly damaged (see ``identity_from_xml``)."""
        try:
            return identity_from_xml(self._read(name))
        except PyvirtError:
            return None

    def with_uuid(self, uuid: str) -> Iterator[Domain]:
        """Every stored definition that parses and has *uuid* (a normalised UUID), as
        :meth:`all` would yield them; only the candidates are parsed in full."""
        for name in self.names():
            found = self.identity(name)
            if found is None or found.uuid != uuid:
                continue
            try:
                domain = self.load(name)
            except PyvirtError:
                continue
            if domain.uuid == uuid:
                yield domain

    def _read(self, name: str) -> bytes:
        path = self.path_of(name)
        try:
            return path.read_bytes()
        except OSError as err:
            if isinstance(err, FileNotFoundError) or err.errno == errno.ENAMETOOLONG:
                raise NoDomainError(f"no domain with matching name '{name}'") from None
            raise PyvirtError(f"cannot read '{path}': {err.strerror}") from err

    def all(self) -> Iterator[Domain]:
        """Every stored definition that parses (a damaged file is skipped, not fatal)."""
        for name in self.names():
            try:
                yield self.load(name)
            except PyvirtError:
                continue

    def save(self, domain: Domain) -> None:
        ensure_dir(self.config_dir)
        write_atomic(self.path_of(domain.name), domain_to_xml(domain))

    def delete(self, name: str) -> None:
        remove_file(self.autostart_link(name))
        remove_file(self.path_of(name))

    # --- autostart: a symlink autostart/NAME.xml -> ../NAME.xml, as libvirt keeps it --

    def autostart_link(self, name: str) -> Path:
        return self.config_dir / "autostart" / f"{name}.xml"

    def autostart(self, name: str) -> bool:
        return self.autostart_link(name).is_symlink()

    def set_autostart(self, name: str, enabled: bool) -> None:
        """Mark (or unmark) the defined domain *name* to start at boot.

        :raises SystemCallError: when the link cannot be made or removed.
        """
        link = self.autostart_link(name)
        if not enabled:
            remove_file(link)
            return
        if link.is_symlink():
            return
        ensure_dir(link.parent)
        try:
            link.symlink_to(Path("..") / f"{name}.xml")
        except FileExistsError:  # a concurrent pyvirt made it
            return
        except OSError as err:
            raise SystemCallError(f"cannot create autostart link '{link}': "
                                  f"{err.strerror}") from err
        fsync_dir(link.parent)
