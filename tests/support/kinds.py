"""Today's two kinds of unit and a third, made up, for the tests of what follows UnitKind.

UnitKind is an enum and cannot gain a member, so `add_trial` gives the modules a test names a
UnitKind of county, member and `trial` (试点单位, a kind no office has), a KINDS_IN_TEXT with
it after today's two, and the catalogues its names, until the test ends. `today_s_kinds` gives
them today's two alone, so a golden text stays today's when a real kind is added.
"""

from __future__ import annotations

from enum import StrEnum
from types import ModuleType

import pytest

from messages import LANGUAGES, catalogue

TRIAL_NAMES = {
    "zh": {
        "common.kind_trial": "试点单位",
        "common.kinds_trial": "试点单位",
        "common.kind_label_trial": "试点单位",
        "broadcast.audience_trial": "各试点单位",
    },
    "en": {
        "common.kind_trial": "pilot unit",
        "common.kinds_trial": "pilot units",
        "common.kind_label_trial": "Pilot units",
        "broadcast.audience_trial": "Pilot units",
    },
}


def today_s_kinds(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> None:
    """Give `modules` today's two kinds alone (county, member)."""
    kinds = StrEnum("UnitKind", [("COUNTY", "county"), ("MEMBER", "member")])  # type: ignore[misc]
    _give(monkeypatch, modules, kinds, (kinds["MEMBER"], kinds["COUNTY"]))


def add_trial(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> StrEnum:
    """Give `modules` today's kinds and `trial` after them; return that new kind."""
    kinds = StrEnum(  # type: ignore[misc]
        "UnitKind", [("COUNTY", "county"), ("MEMBER", "member"), ("TRIAL", "trial")]
    )
    trial = kinds["TRIAL"]
    _give(monkeypatch, modules, kinds, (kinds["MEMBER"], kinds["COUNTY"], trial))
    for lang in LANGUAGES:  # a language shipped later gets the English names
        for key, text in TRIAL_NAMES.get(lang, TRIAL_NAMES["en"]).items():
            monkeypatch.setitem(catalogue(lang), key, text)
    return trial


def _give(
    monkeypatch: pytest.MonkeyPatch,
    modules: tuple[ModuleType, ...],
    kinds: type[StrEnum],
    in_text: tuple[StrEnum, ...],
) -> None:
    for module in modules:
        assert hasattr(module, "UnitKind") or hasattr(module, "KINDS_IN_TEXT"), module
        if hasattr(module, "UnitKind"):
            monkeypatch.setattr(module, "UnitKind", kinds)
        if hasattr(module, "KINDS_IN_TEXT"):
            monkeypatch.setattr(module, "KINDS_IN_TEXT", in_text)
