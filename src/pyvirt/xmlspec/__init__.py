"""Declarative XML: each item declared once on the dataclass field that holds it; parsing,
formatting and the RelaxNG grammar are derived (:mod:`.fields`, :mod:`.engine`, :mod:`.rng`)."""
