"""The Telegram HTML parser: plain text, entities in UTF-16 units, tdlib's errors."""

from __future__ import annotations

import pytest

from bot.sandbox.html import EntityParseError, parse_html, strip_formatted, utf16_len


def test_plain_text_and_basic_entities() -> None:
    text, entities = parse_html("<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code>")
    assert text == "bold it u s c"
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("bold", 0, 4),
        ("italic", 5, 2),
        ("underline", 8, 1),
        ("strikethrough", 10, 1),
        ("code", 12, 1),
    ]


def test_synonym_tags_and_spoilers() -> None:
    text, entities = parse_html(
        "<strong>a</strong><em>b</em><ins>c</ins><del>d</del><strike>e</strike>"
        '<span class="tg-spoiler">f</span><tg-spoiler>g</tg-spoiler>'
    )
    assert text == "abcdefg"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
    ]


def test_entities_decoded_and_counted_as_one_character() -> None:
    text, entities = parse_html("<b>&lt;&gt;&amp;&quot;&#65;&#x42;</b>")
    assert text == '<>&"AB'
    assert entities == [{"type": "bold", "offset": 0, "length": 6}]


def test_offsets_are_utf16_code_units() -> None:
    text, entities = parse_html("😀 <b>中文</b>")
    assert text == "😀 中文"
    assert entities == [{"type": "bold", "offset": 3, "length": 2}]
    assert utf16_len("😀") == 2


def test_links_mentions_and_custom_emoji() -> None:
    users = {42: {"id": 42, "is_bot": False, "first_name": "Bo"}}
    text, entities = parse_html(
        '<a href="https://example.org/x?a=1&amp;b=2">site</a> '
        '<a href="tg://user?id=42">Bo</a> <tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        users=users.get,
    )
    assert text == "site Bo 👍"
    assert entities[0] == {
        "type": "text_link",
        "offset": 0,
        "length": 4,
        "url": "https://example.org/x?a=1&b=2",
    }
    assert entities[1]["type"] == "text_mention"
    assert entities[1]["user"]["first_name"] == "Bo"
    assert entities[2]["type"] == "custom_emoji"
    assert entities[2]["custom_emoji_id"] == "5368324170671202286"


def test_pre_with_language_and_blockquotes() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x = 1</code></pre>'
        "<blockquote>q</blockquote><blockquote expandable>e</blockquote>"
    )
    assert text == "x = 1qe"
    assert entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"},
        {"type": "blockquote", "offset": 5, "length": 1},
        {"type": "expandable_blockquote", "offset": 6, "length": 1},
    ]


def test_tags_are_case_insensitive_and_empty_entities_dropped() -> None:
    text, entities = parse_html("<B>x</B><i></i>")
    assert text == "x"
    assert entities == [{"type": "bold", "offset": 0, "length": 1}]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("a <b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("x<b", "Unclosed start tag at byte offset 1"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("中文 & x", 'Character "&" must be escaped as "&amp;" at byte offset 7'),
        ("a&nbsp;b", 'Unsupported HTML entity "&nbsp;" at byte offset 1'),
        ('<a href="x>y', "Unclosed start tag at byte offset 0"),
        ("<tg-emoji emoji-id=abc>x</tg-emoji>", "Invalid custom emoji identifier specified"),
    ],
)
def test_bad_markup_is_refused_with_tdlib_reason(source: str, reason: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(source)
    assert str(caught.value) == reason


def test_lenient_mode_keeps_a_bare_ampersand_like_tdlib() -> None:
    assert parse_html("AT&T &nbsp;", strict_ampersand=False)[0] == "AT&T &nbsp;"


def test_strip_moves_and_clips_entities() -> None:
    text, entities = strip_formatted(
        "\n  hi there \n", [{"type": "bold", "offset": 1, "length": 6}]
    )
    assert text == "hi there"
    assert entities == [{"type": "bold", "offset": 0, "length": 4}]
