"""The catalogues: every shipped language has the same keys and the same placeholders."""

from __future__ import annotations

import string
from datetime import datetime

import pytest

from messages import (
    LANGUAGES,
    catalogue,
    format_date,
    format_time,
    join_or,
    kind_name,
    normalize_language,
    own,
    plain,
    role_name,
    shorten,
    strip_html,
    t,
)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_shipped_language_has_every_key() -> None:
    assert LANGUAGES[0] == "zh"  # the default first; then every folder of messages/
    assert {"zh", "en"} <= set(LANGUAGES)
    keys = {lang: set(own(lang)) for lang in LANGUAGES}
    assert len(keys["zh"]) > 50
    for lang in LANGUAGES:
        assert keys[lang] == keys["zh"], lang


@pytest.mark.parametrize("key", sorted(k for k in catalogue("zh") if not k.startswith("formats.")))
def test_placeholders_match_across_languages(key: str) -> None:
    assert placeholders(own("zh")[key]) == placeholders(own("en")[key])


def test_date_formats_use_only_the_parts_of_a_date() -> None:
    parts = {"year", "month", "day", "month_name", "weekday", "hour", "minute"}
    for lang in LANGUAGES:
        for key in ("date", "month_day", "weekday_date", "time", "short_time", "clock"):
            assert placeholders(own(lang)[f"formats.{key}"]) <= parts
        assert len(own(lang)["formats.months"].split()) == 12
        assert len(own(lang)["formats.weekdays"].split()) == 7


def test_a_moment_writes_its_day_as_a_date_is_written() -> None:
    """截至2026年12月5日 15:38, as the office writes a day, never 2026-12-05."""
    moment = datetime(2026, 12, 5, 15, 38)
    assert format_time(moment, "zh") == "2026年12月5日 15:38"  # golden text
    for lang in LANGUAGES:
        assert format_time(moment, lang).startswith(format_date(moment.date(), lang)), lang


def test_values_are_escaped_for_html_but_not_for_the_terminal() -> None:
    assert "&lt;b&gt;&amp;" in t("zh", "cli.unit_not_found", name="<b>&")
    assert "<b>&" in plain("zh", "cli.unit_not_found", name="<b>&")
    assert strip_html("<b>A&amp;B</b>") == "A&B"


def test_a_list_is_joined_as_each_language_lists_things() -> None:
    names = ("市民政局", "<市卫健委>")
    assert t("zh", "cli.unit_not_found", name=names).count("市民政局、&lt;市卫健委&gt;") == 1
    assert plain("zh", "cli.unit_not_found", name=list(names)).count("市民政局、<市卫健委>") == 1
    assert plain("en", "cli.unit_not_found", name=names).count("市民政局, <市卫健委>") == 1


@pytest.mark.parametrize("lang", LANGUAGES)
def test_role_names_read_the_same_in_a_chat_and_on_a_terminal(lang: str) -> None:
    """role_name serves HTML messages, Word documents and the command line alike."""
    for role in ("liaison", "lead"):
        name = role_name(lang, role)
        assert name == t(lang, f"common.role_{role}") == plain(lang, f"common.role_{role}")
        assert name == strip_html(name)
        assert not set(name) & set("<>&{}")


def test_no_exclamation_marks_in_chinese() -> None:
    """The office's register: 特此提醒, not an advertisement."""
    assert not [k for k, v in catalogue("zh").items() if "！" in v or "!" in v]


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh-hans", "zh"), ("zh", "zh"), ("en-US", "en"), ("en", "en"), ("xx", "zh"), (None, "zh")],
)
def test_telegram_language_codes(code: str | None, expected: str) -> None:
    assert normalize_language(code) == expected


def test_alternatives_end_with_or() -> None:
    assert join_or("zh", ["“休”"]) == "“休”"
    assert join_or("zh", ["“成员单位”", "“县（区）”"]) == "“成员单位”或“县（区）”"
    assert join_or("zh", ["甲", "乙", "丙"]) == "甲、乙或丙"
    assert join_or("en", ["member", "county"]) == "member or county"
    assert join_or("en", ["member", "county", "street"]) == "member, county or street"


def test_a_kind_is_named_once_or_as_several() -> None:
    assert kind_name("zh", "county") == kind_name("zh", "county", plural=True) == "县（区）"
    assert kind_name("en", "member") == "member unit"
    assert kind_name("en", "member", plural=True) == "member units"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("八一建军节走访慰问", "八一建军节走访慰问"),  # fits: as it is
        ("八一建军节走访慰问驻军", "八一建军节走访慰…"),  # cut: the mark counts in the limit
    ],
)
def test_a_long_text_is_cut_with_an_ellipsis_within_its_limit(text: str, shown: str) -> None:
    assert shorten(text, 9) == shown
    assert len(shorten(text, 9)) <= 9
