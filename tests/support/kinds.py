"""A third kind of unit for one test: 街道 (street), registered as a newcomer would add it.

UnitKind is an enum and cannot gain a member, so `add_street` gives the modules a test names a
UnitKind that has one (and a KINDS_IN_TEXT with it last), and the catalogues its names, until
the test ends.
"""

from __future__ import annotations

from enum import StrEnum
from types import ModuleType

import pytest

from bot.enums import UnitKind
from messages import LANGUAGES, catalogue

STREET_NAMES = {
    "zh": {
        "common.kind_street": "街道",
        "common.kinds_street": "街道",
        "outstanding.kind_street": "街道",
        "stats.kind_street": "街道",
        "broadcast.audience_street": "各街道",
    },
    "en": {
        "common.kind_street": "subdistrict",
        "common.kinds_street": "subdistricts",
        "outstanding.kind_street": "Subdistricts",
        "stats.kind_street": "Subdistricts",
        "broadcast.audience_street": "Subdistricts",
    },
}


def add_street(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> StrEnum:
    """Give `modules` a UnitKind with `street` after today's kinds; return that new kind."""
    kinds = StrEnum(  # type: ignore[misc]
        "UnitKind", [(kind.name, kind.value) for kind in UnitKind] + [("STREET", "street")]
    )
    street = kinds["STREET"]
    for module in modules:
        if hasattr(module, "UnitKind"):
            monkeypatch.setattr(module, "UnitKind", kinds)
        if hasattr(module, "KINDS_IN_TEXT"):
            monkeypatch.setattr(module, "KINDS_IN_TEXT", (*module.KINDS_IN_TEXT, street))
    for lang in LANGUAGES:
        for key, text in STREET_NAMES[lang].items():
            monkeypatch.setitem(catalogue(lang), key, text)
    return street
