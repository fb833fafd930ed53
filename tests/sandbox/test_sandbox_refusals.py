"""Calls Telegram refuses are refused with Telegram's status and description."""

from __future__ import annotations

import pytest

from bot.sandbox.client import SandboxClient
from bot.sandbox.models import UserInfo
from bot.sandbox.server import Emulator

from .conftest import RawApi

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup of "
    "the sent message are exactly the same as a current content and reply markup of the sent "
    "message"
)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


async def test_unknown_method_is_404(api: RawApi) -> None:
    reply = await api.call("sendMesage", {"chat_id": 1, "text": "x"})
    assert reply.status == 404
    assert reply.body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_other_paths_under_the_token_are_404(api: RawApi) -> None:
    reply = await api.call("sendMessage/extra", {"chat_id": 1, "text": "x"})
    assert reply.body == {"ok": False, "error_code": 404, "description": "Not Found"}


@pytest.mark.parametrize("token", ["123:short", "abc:AAAAAAAAAAAAAAAAAAAAAAAA", "123456"])
async def test_bad_token_is_401(api: RawApi, token: str) -> None:
    reply = await api.call("getMe", token=token)
    assert reply.status == 401
    assert reply.body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_get_me_describes_the_bot_of_the_token(api: RawApi) -> None:
    me = (await api.call("getMe")).result
    assert me["id"] == 123456789
    assert me["is_bot"] is True
    assert me["username"] == "liaison_demo_bot"
    assert me["can_join_groups"] is True
    assert me["can_read_all_group_messages"] is False
    assert me["supports_inline_queries"] is False


async def test_method_names_are_case_insensitive_and_get_works(api: RawApi) -> None:
    reply = await api.call("GETME", http_method="GET")
    assert reply.status == 200
    assert reply.result["is_bot"] is True


async def test_missing_required_parameters(api: RawApi, user: UserInfo) -> None:
    reply = await api.call("sendMessage", {"chat_id": user.id})
    assert (reply.status, reply.description) == (400, "Bad Request: message text is empty")
    reply = await api.call("sendMessage", {"text": "hello"})
    assert (reply.status, reply.description) == (400, "Bad Request: chat_id is empty")


async def test_wrong_types(api: RawApi, user: UserInfo) -> None:
    reply = await api.call("sendMessage", {"chat_id": [user.id], "text": "x"})
    assert reply.status == 400
    assert reply.description == 'Bad Request: field "chat_id" must be of type Integer or String'
    reply = await api.call(
        "editMessageText", {"chat_id": user.id, "message_id": "first", "text": "x"}, as_form=True
    )
    assert reply.description == 'Bad Request: field "message_id" must be of type Integer'


async def test_text_length_counts_utf16_after_parsing(api: RawApi, user: UserInfo) -> None:
    ok = await api.call("sendMessage", {"chat_id": user.id, "text": "中" * 4096})
    assert ok.status == 200
    too_long = await api.call("sendMessage", {"chat_id": user.id, "text": "中" * 4097})
    assert (too_long.status, too_long.description) == (400, "Bad Request: message is too long")
    emoji = await api.call("sendMessage", {"chat_id": user.id, "text": "😀" * 2049})
    assert emoji.description == "Bad Request: message is too long"
    tagged = "<b>" + "x" * 4000 + "</b>" + "<i>y</i>" * 12
    assert len(tagged) > 4096
    html = await api.call(
        "sendMessage", {"chat_id": user.id, "text": tagged, "parse_mode": "HTML"}
    )
    assert html.status == 200
    assert len(html.result["text"]) == 4012


async def test_caption_length(api: RawApi, user: UserInfo) -> None:
    files = {"photo": ("p.png", PNG)}
    ok = await api.call("sendPhoto", {"chat_id": user.id, "caption": "字" * 1024}, files=files)
    assert ok.status == 200
    bad = await api.call("sendPhoto", {"chat_id": user.id, "caption": "字" * 1025}, files=files)
    assert (bad.status, bad.description) == (400, "Bad Request: message caption is too long")


async def test_callback_data_over_64_bytes(api: RawApi, user: UserInfo) -> None:
    def markup(data: str) -> dict[str, object]:
        return {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}

    ok = await api.call(
        "sendMessage", {"chat_id": user.id, "text": "x", "reply_markup": markup("a" * 64)}
    )
    assert ok.status == 200
    bad = await api.call(
        "sendMessage", {"chat_id": user.id, "text": "x", "reply_markup": markup("a" * 65)}
    )
    assert (bad.status, bad.description) == (400, "Bad Request: BUTTON_DATA_INVALID")
    cjk = await api.call(
        "sendMessage", {"chat_id": user.id, "text": "x", "reply_markup": markup("中" * 22)}
    )
    assert cjk.description == "Bad Request: BUTTON_DATA_INVALID"


async def test_inline_button_needs_exactly_one_action(api: RawApi, user: UserInfo) -> None:
    bare = {"inline_keyboard": [[{"text": "b"}]]}
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": "x", "reply_markup": bare})
    assert reply.description == (
        "Bad Request: can't parse inline keyboard button: "
        "Text buttons are unallowed in the inline keyboard"
    )
    two = {"inline_keyboard": [[{"text": "b", "callback_data": "c", "url": "https://e.org"}]]}
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": "x", "reply_markup": two})
    assert reply.status == 400
    assert "exactly one" in reply.description


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("Q&A", 'Character "&" must be escaped as "&amp;" at byte offset 1'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ],
)
async def test_bad_html(api: RawApi, user: UserInfo, text: str, description: str) -> None:
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": text, "parse_mode": "HTML"})
    assert reply.status == 400
    assert reply.description == f"Bad Request: can't parse entities: {description}"


async def test_html_that_is_empty_after_parsing(api: RawApi, user: UserInfo) -> None:
    reply = await api.call(
        "sendMessage", {"chat_id": user.id, "text": "<b> </b>", "parse_mode": "HTML"}
    )
    assert reply.description == "Bad Request: message text is empty"


async def test_unsupported_parse_mode(api: RawApi, user: UserInfo) -> None:
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": "x", "parse_mode": "RTF"})
    assert reply.description == "Bad Request: unsupported parse_mode"


async def test_edits(api: RawApi, user: UserInfo, sb: SandboxClient) -> None:
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": "c"}]]}
    sent = (
        await api.call(
            "sendMessage",
            {
                "chat_id": user.id,
                "text": "<b>hi</b>",
                "parse_mode": "HTML",
                "reply_markup": markup,
            },
        )
    ).result
    same = await api.call(
        "editMessageText",
        {
            "chat_id": user.id,
            "message_id": sent["message_id"],
            "text": "<b>hi</b>",
            "parse_mode": "HTML",
            "reply_markup": markup,
        },
    )
    assert (same.status, same.description) == (400, NOT_MODIFIED)
    same_markup = await api.call(
        "editMessageReplyMarkup",
        {"chat_id": user.id, "message_id": sent["message_id"], "reply_markup": markup},
    )
    assert same_markup.description == NOT_MODIFIED
    changed = await api.call(
        "editMessageText",
        {"chat_id": user.id, "message_id": sent["message_id"], "text": "<b>hi</b>"},
    )
    assert changed.status == 200
    assert changed.result["text"] == "<b>hi</b>"
    assert "reply_markup" not in changed.result  # no markup given: the keyboard goes
    [message] = await sb.messages(user.id)
    assert (message.edits, message.reply_markup, message.parse_mode) == (1, None, None)
    missing = await api.call(
        "editMessageText", {"chat_id": user.id, "message_id": 999, "text": "x"}
    )
    assert missing.description == "Bad Request: message to edit not found"
    gone = await api.call("deleteMessage", {"chat_id": user.id, "message_id": 999})
    assert gone.description == "Bad Request: message to delete not found"


async def test_never_started_and_blocked_users_are_403(api: RawApi, sb: SandboxClient) -> None:
    stranger = await sb.add_user(first_name="Stranger")
    reply = await api.call("sendMessage", {"chat_id": stranger.id, "text": "hi"})
    assert reply.status == 403
    assert reply.body == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot can't initiate conversation with a user",
    }
    await sb.start(stranger.id)
    assert (await api.call("sendMessage", {"chat_id": stranger.id, "text": "hi"})).status == 200
    await sb.block(stranger.id)
    reply = await api.call("sendMessage", {"chat_id": stranger.id, "text": "hi"})
    assert (reply.status, reply.description) == (403, "Forbidden: bot was blocked by the user")
    await sb.unblock(stranger.id)
    assert (await api.call("sendMessage", {"chat_id": stranger.id, "text": "hi"})).status == 200


async def test_chat_not_found(api: RawApi) -> None:
    reply = await api.call("sendMessage", {"chat_id": 42, "text": "hi"})
    assert (reply.status, reply.description) == (400, "Bad Request: chat not found")
    reply = await api.call("sendMessage", {"chat_id": "@nobody", "text": "hi"})
    assert reply.description == "Bad Request: chat not found"


async def test_rate_limit_per_private_chat(api: RawApi, user: UserInfo, sb: SandboxClient) -> None:
    await sb.set_limits(private_limit=3, private_window=5.0)
    for _ in range(3):
        assert (await api.call("sendMessage", {"chat_id": user.id, "text": "x"})).status == 200
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": "x"})
    assert reply.status == 429
    retry_after = reply.body["parameters"]["retry_after"]
    assert retry_after in range(1, 6)
    assert reply.description == f"Too Many Requests: retry after {retry_after}"
    await sb.set_limits(enabled=False)
    assert (await api.call("sendMessage", {"chat_id": user.id, "text": "x"})).status == 200


async def test_rate_limit_overall(api: RawApi, sb: SandboxClient) -> None:
    await sb.set_limits(global_per_second=2)
    users = [await sb.add_user(started=True) for _ in range(3)]
    statuses = [
        (await api.call("sendMessage", {"chat_id": u.id, "text": "x"})).status for u in users
    ]
    assert statuses == [200, 200, 429]


async def test_rate_limit_per_group(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    await sb.set_limits(group_limit=2, group_window=60.0)
    group = await sb.add_group("Office", [user.id])
    for _ in range(2):
        assert (await api.call("sendMessage", {"chat_id": group.id, "text": "x"})).status == 200
    reply = await api.call("sendMessage", {"chat_id": group.id, "text": "x"})
    assert reply.status == 429
    assert 59 <= reply.body["parameters"]["retry_after"] <= 60


async def test_unknown_file_id(api: RawApi, user: UserInfo) -> None:
    reply = await api.call("sendDocument", {"chat_id": user.id, "document": "no-such-file"})
    assert reply.description == "Bad Request: wrong file identifier/HTTP URL specified"
    reply = await api.call("getFile", {"file_id": "no-such-file"})
    assert reply.status == 400


async def test_file_too_big_for_get_file(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    big = await sb.send_document(user.id, file_name="scan.pdf", size=20 * 1024 * 1024 + 1)
    reply = await api.call("getFile", {"file_id": big.file_id})
    assert (reply.status, reply.description) == (400, "Bad Request: file is too big")
    fits = await sb.send_document(user.id, file_name="scan.pdf", size=20 * 1024 * 1024)
    assert (await api.call("getFile", {"file_id": fits.file_id})).status == 200


async def test_unknown_parameter_passes_but_is_flagged(
    api: RawApi, user: UserInfo, sb: SandboxClient
) -> None:
    assert await sb.warnings() == []
    reply = await api.call(
        "sendMessage", {"chat_id": user.id, "text": "x", "parse_mod": "HTML"}, as_form=True
    )
    assert reply.status == 200
    [warning] = await sb.warnings()
    assert (warning.method, warning.param) == ("sendMessage", "parse_mod")
    await sb.clear_warnings()
    assert await sb.warnings() == []


async def test_unimplemented_method_is_501_and_flagged(api: RawApi, sb: SandboxClient) -> None:
    reply = await api.call(
        "sendPoll", {"chat_id": 1, "question": "q", "options": [{"text": "a"}, {"text": "b"}]}
    )
    assert reply.status == 501
    assert reply.body == {
        "ok": False,
        "error_code": 501,
        "description": "Not Implemented: sendPoll",
    }
    assert [w.method for w in await sb.warnings()] == ["sendPoll"]


async def test_query_string_and_form_parameters(api: RawApi, user: UserInfo) -> None:
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": "q"}, http_method="GET")
    assert reply.result["text"] == "q"
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": "c"}]]}
    reply = await api.call(
        "sendMessage", {"chat_id": str(user.id), "text": "f", "reply_markup": markup}, as_form=True
    )
    assert reply.result["reply_markup"] == markup


async def test_answer_callback_query_twice_or_unknown(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": "c"}]]}
    await api.call("sendMessage", {"chat_id": user.id, "text": "x", "reply_markup": markup})
    ref = await sb.press(user.id, data="c")
    ok = await api.call("answerCallbackQuery", {"callback_query_id": ref.callback_query_id})
    assert ok.result is True
    again = await api.call("answerCallbackQuery", {"callback_query_id": ref.callback_query_id})
    assert again.description == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )


async def test_send_chat_action_checks_action(api: RawApi, user: UserInfo) -> None:
    assert (await api.call("sendChatAction", {"chat_id": user.id, "action": "typing"})).result
    bad = await api.call("sendChatAction", {"chat_id": user.id, "action": "dancing"})
    assert bad.description == "Bad Request: wrong parameter action in request"


async def test_configured_token_only(emulator: Emulator, api: RawApi) -> None:
    emulator.state.config.token = "42:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert (await api.call("getMe")).status == 401
    reply = await api.call("getMe", token="42:AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert reply.result["id"] == 42
