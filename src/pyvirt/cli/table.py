"""virsh's table layout: a leading space, columns three spaces apart, a dash rule."""

from __future__ import annotations

from collections.abc import Sequence


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return (" " + "   ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))
                ).rstrip()

    rule = "-" * (sum(widths) + 3 * (len(widths) - 1) + 2)
    return "\n".join([line(header), rule, *(line(r) for r in rows)]) + "\n"


def render_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """``Key:            value`` lines as in ``virsh dominfo``."""
    width = max(len(k) for k, _ in pairs) + 2
    return "".join(f"{(k + ':').ljust(width)}{v}\n" for k, v in pairs)
