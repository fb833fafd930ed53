"""The words of the domain, one value each everywhere: unit kinds, roles, item states."""

from __future__ import annotations

from enum import StrEnum


class UnitKind(StrEnum):
    """A kind of reporting unit; each has its own checklist. Listed in this order.

    A new kind is, and needs no more than (tests/test_kinds.py checks each):
    - a member here, its value at most 10 characters (the kind columns are String(10)); the
      values sort in UnitKind's order (lists of units order by the value first: UNIT_ORDER
      in storage/models.py, with the index ix_unit_kind_position; everything else goes by
      UnitKind's order);
    - its spellings in KIND_ALIASES, its value and its Chinese name among them;
    - its names in both catalogues: `common.kind_<kind>` (one unit), `common.kinds_<kind>`
      (several, in running text), `common.kind_label_<kind>` (the /outstanding button's and
      the chart panel's label), `broadcast.audience_<kind>`, and the 通报's
      `notice.bulletin.{count,lead,summary,none}_<kind>`;
    - its items in the default checklist (bot/data/default_checklist.csv);
    - its name where the docs list the kinds: docs/reference.md (`units import`, `checklist
      import`, `deadline --kind`) and the two guides (the roster's columns, the audiences).
    The 通报's opening sentence (`notice.bulletin.opening`) and its default 主送
    (`notice_main_to` in bot/settings.py) address the counties and the member units in the
    office's own words; a new kind is added to them by hand if it is to be addressed there.
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
