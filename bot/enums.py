"""The words of the domain, one value each everywhere: unit kinds, roles, item states."""

from __future__ import annotations

from enum import StrEnum


class UnitKind(StrEnum):
    """A kind of reporting unit; each has its own checklist. Listed in this order.

    A new kind is a member here (a value of at most 10 characters: the kind columns are
    String(10)), its spellings in KIND_ALIASES, its names in the catalogues
    (`common.kind_<kind>`, `outstanding.kind_<kind>`, `stats.kind_<kind>`,
    `audit.scope_<kind>`, `notice.bulletin.{count,lead,summary,none}_<kind>`) and its
    checklist. Two places name the kinds by hand: the broadcast audiences (`counties`,
    `members` in bot/staff/broadcasts.py) and the 通报's opening sentence and default 主送.
    """

    COUNTY = "county"  # 县（区）
    MEMBER = "member"  # 成员单位


# How a roster or checklist file may name each kind (any case, spaces ignored).
KIND_ALIASES: dict[UnitKind, tuple[str, ...]] = {
    UnitKind.COUNTY: ("county", "县（区）", "县(区)", "县区", "县", "区"),
    UnitKind.MEMBER: ("member", "成员单位", "成员"),
}
KIND_ORDER = {kind.value: index for index, kind in enumerate(UnitKind)}
# The order a sentence naming every kind lists them in (the checklist preview's counts, the
# kinds an import accepts): the city's own member units first, as those sentences have always
# read, then the others in UnitKind's order.
KINDS_IN_TEXT: tuple[UnitKind, ...] = tuple(sorted(UnitKind, key=lambda k: k != UnitKind.MEMBER))


class Role(StrEnum):
    """A role a person holds in a unit."""

    LIAISON = "liaison"  # 联络员
    LEAD = "lead"  # 分管领导


class ItemState(StrEnum):
    """Where one required item of one unit stands."""

    ACCEPTED = "accepted"  # 通过
    PENDING = "pending"  # 待审核
    NOT_APPLICABLE_PENDING = "not_applicable_pending"  # "not applicable", awaiting review
    RETURNED = "returned"  # 退回, with the reviewer's reason
    MISSING = "missing"  # nothing submitted yet (a draft may be in progress)
    EXEMPT = "exempt"  # the office excused the unit from it


AWAITING_REVIEW = (ItemState.PENDING, ItemState.NOT_APPLICABLE_PENDING)
OPEN = (ItemState.MISSING, ItemState.RETURNED)
