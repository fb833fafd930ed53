"""The catalogues: every language has the same keys and the same placeholders."""

from __future__ import annotations

import string

import pytest

from messages import LANGUAGES, catalogue, normalize_language, plain, strip_html, t


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys() -> None:
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    assert keys["zh"] == keys["en"]
    assert len(keys["zh"]) > 50


@pytest.mark.parametrize("key", sorted(catalogue("zh")))
def test_placeholders_match_across_languages(key: str) -> None:
    assert placeholders(catalogue("zh")[key]) == placeholders(catalogue("en")[key])


def test_values_are_escaped_for_html_but_not_for_the_terminal() -> None:
    assert "&lt;b&gt;&amp;" in t("zh", "cli.unit_not_found", name="<b>&")
    assert "<b>&" in plain("zh", "cli.unit_not_found", name="<b>&")
    assert strip_html("<b>A&amp;B</b>") == "A&B"


def test_no_exclamation_marks_in_chinese() -> None:
    """The office's register: 特此提醒, not an advertisement."""
    assert not [k for k, v in catalogue("zh").items() if "！" in v or "!" in v]


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh-hans", "zh"), ("zh", "zh"), ("en-US", "en"), ("en", "en"), ("fr", "zh"), (None, "zh")],
)
def test_telegram_language_codes(code: str | None, expected: str) -> None:
    assert normalize_language(code) == expected
