"""The shipped API description and the parameter checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox import make_spec
from bot.sandbox.errors import ApiError
from bot.sandbox.spec import SPEC_PATH, ApiSpec, Upload

FULL_SPEC = Path("/work/shared/telegram/bot-api-spec.json")
BUTTON_TEXT_ERROR = (
    'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
)
NEEDED_TYPES = [
    "InlineKeyboardMarkup",
    "InlineKeyboardButton",
    "ReplyKeyboardMarkup",
    "KeyboardButton",
    "ReplyKeyboardRemove",
    "ForceReply",
    "BotCommand",
    "BotCommandScope",
    "BotCommandScopeChat",
    "BotCommandScopeDefault",
    "LinkPreviewOptions",
    "ReplyParameters",
    "InputMedia",
    "InputMediaPhoto",
    "InputMediaDocument",
    "MessageEntity",
]


@pytest.fixture(scope="module")
def spec() -> ApiSpec:
    return ApiSpec.load()


def test_shipped_copy_has_methods_types_version_and_licence() -> None:
    data = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    assert data["version"].startswith("Bot API")
    assert len(data["methods"]) > 150
    assert set(data["methods"]["sendMessage"]["fields"][0]) <= {"name", "types", "required"}
    for name in NEEDED_TYPES:
        assert name in data["types"], name
    licence = SPEC_PATH.with_name("bot-api-spec.LICENSE").read_text(encoding="utf-8")
    assert "MIT" in licence or "Permission is hereby granted" in licence


@pytest.mark.skipif(not FULL_SPEC.exists(), reason="the full description is not on this machine")
def test_shipped_copy_is_what_make_spec_produces() -> None:
    full = json.loads(FULL_SPEC.read_text(encoding="utf-8"))
    assert make_spec.dump(make_spec.trim(full)) == SPEC_PATH.read_text(encoding="utf-8")


def test_methods_resolve_case_insensitively(spec: ApiSpec) -> None:
    resolved = spec.resolve("SENDMESSAGE")
    assert resolved is not None
    assert resolved.name == "sendMessage"
    assert spec.resolve("sendMessages") is None


def test_form_strings_are_converted_to_declared_types(spec: ApiSpec) -> None:
    method = spec.resolve("sendMessage")
    assert method is not None
    checked = spec.check(
        method,
        {
            "chat_id": "-100123",
            "text": "12",
            "disable_notification": "true",
            "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}',
        },
    )
    assert checked.values["chat_id"] == -100123
    assert checked.values["text"] == "12"
    assert checked.values["disable_notification"] is True
    assert checked.values["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    assert checked.unknown == []


def test_username_chat_id_stays_a_string(spec: ApiSpec) -> None:
    method = spec.resolve("getChat")
    assert method is not None
    assert spec.check(method, {"chat_id": "@channel"}).values["chat_id"] == "@channel"


@pytest.mark.parametrize(
    ("method", "params", "description"),
    [
        ("sendMessage", {"chat_id": 1}, "Bad Request: message text is empty"),
        ("sendMessage", {"text": "x"}, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": 1, "text": ""}, "Bad Request: message text is empty"),
        (
            "sendMessage",
            {"chat_id": {"a": 1}, "text": "x"},
            'Bad Request: field "chat_id" must be of type Integer or String',
        ),
        (
            "deleteMessage",
            {"chat_id": 1, "message_id": "seven"},
            'Bad Request: field "message_id" must be of type Integer',
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": "{not json"},
            "Bad Request: can't parse reply keyboard markup JSON object",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": ["t"]}]]}},
            BUTTON_TEXT_ERROR,
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"url": "x"}]]}},
            BUTTON_TEXT_ERROR,
        ),
        (
            "setMyCommands",
            {"commands": [{"command": "a"}]},
            'Bad Request: can\'t parse BotCommand: Field "description" must be of type String',
        ),
        (
            "getUpdates",
            {"allowed_updates": [["message"]]},
            'Bad Request: field "allowed_updates" must be of type Array of String',
        ),
    ],
)
def test_refusals_are_worded_like_telegram(
    spec: ApiSpec, method: str, params: dict[str, object], description: str
) -> None:
    resolved = spec.resolve(method)
    assert resolved is not None
    with pytest.raises(ApiError) as caught:
        spec.check(resolved, params)
    assert caught.value.code == 400
    assert caught.value.description == description


def test_unknown_parameters_and_nested_fields_are_reported(spec: ApiSpec) -> None:
    method = spec.resolve("sendMessage")
    assert method is not None
    checked = spec.check(
        method,
        {
            "chat_id": 1,
            "text": "x",
            "parse_mod": "HTML",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_dat": "b"}]]},
        },
    )
    assert checked.unknown == ["reply_markup.inline_keyboard[0][0].callback_dat", "parse_mod"]


def test_union_types_pick_the_member_by_its_type(spec: ApiSpec) -> None:
    method = spec.resolve("setMyCommands")
    assert method is not None
    scope = {"type": "chat", "chat_id": "5"}
    checked = spec.check(
        method, {"commands": [{"command": "a", "description": "b"}], "scope": scope}
    )
    assert checked.values["scope"] == {"type": "chat", "chat_id": 5}
    with pytest.raises(ApiError):
        spec.check(method, {"commands": [], "scope": {"type": "chat"}})


def test_attached_files_are_resolved_and_not_reported_unknown(spec: ApiSpec) -> None:
    method = spec.resolve("sendMediaGroup")
    assert method is not None
    one = Upload("one", "a.png", "image/png", b"1")
    two = Upload("two", "b.png", "image/png", b"2")
    media = [
        {"type": "photo", "media": "attach://one"},
        {"type": "photo", "media": "attach://two"},
    ]
    checked = spec.check(
        method, {"chat_id": 1, "media": json.dumps(media), "one": one, "two": two}
    )
    assert checked.unknown == []
    assert set(checked.attachments) == {"one", "two"}
