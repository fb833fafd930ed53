"""The test helpers themselves: the key matcher, the recording request, eventually(), factories."""

from __future__ import annotations

import string

import pytest
from telegram import Update
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import TypeHandler

from bot.enums import ItemState
from bot.ledger.status import load_obligations
from bot.services import Services
from messages import LANGUAGES, catalogue, t
from tests.support import factories
from tests.support.application import BotHarness, running_bot
from tests.support.messages import label, mentions, pattern, says
from tests.support.waiting import eventually

# ---- the message-key matcher -------------------------------------------------------------------


def _only_values(text: str) -> bool:
    """A sentence that is only its values (the English masthead is the office's name alone):
    no pattern can tell it apart."""
    return not "".join(literal for literal, *_ in string.Formatter().parse(text)).strip()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_sentence_is_recognised_by_its_own_key(lang: str) -> None:
    skipped: set[str] = set()
    for key, text in catalogue(lang).items():
        if key.startswith("formats."):
            continue
        if _only_values(text):
            skipped.add(key)
            continue
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        filled = t(lang, key, **dict.fromkeys(names, "值<1>"))
        assert says(filled, key, lang), (key, filled)
    # Only these may be their values alone, in any language (a person named by unit, role and
    # name is so in Chinese: 市民政局联络员张伟).
    alone = {"audit.actor_person", "help.line", "notice.mark", "runtime.dead_letter_who_role"}
    assert skipped <= alone, skipped


def test_values_given_must_be_there_and_others_match_anything() -> None:
    sent = t("zh", "ledger.file_received", name="计划.pdf", files=2)
    assert says(sent, "ledger.file_received")
    assert says(sent, "ledger.file_received", files=2, name="计划.pdf")
    assert not says(sent, "ledger.file_received", files=3)
    assert not says(sent, "ledger.file_duplicate")
    with pytest.raises(ValueError, match="no placeholder"):
        says(sent, "ledger.file_received", unit="市民政局")


def test_a_sentence_within_a_longer_message_is_mentioned_not_said() -> None:
    message = "\n\n".join((t("zh", "registration.phone_saved"), t("zh", "registration.ask_name")))
    assert mentions(message, "registration.ask_name")
    assert mentions(message, "registration.phone_saved")
    assert not says(message, "registration.ask_name")


def test_html_as_sent_and_text_as_shown_compare_alike() -> None:
    sent = t("zh", "registration.confirm_liaison", unit="A&B局")
    assert "<b>A&amp;B局</b>" in sent
    shown = "您好。这是A&B局联络员的登记链接。\n请确认您是该单位的联络员。"
    assert says(sent, "registration.confirm_liaison", unit="A&B局")
    assert says(shown, "registration.confirm_liaison", unit="A&B局")
    assert label("registration.button_confirm") == t("zh", "registration.button_confirm")


def test_english_is_matched_against_the_english_catalogue() -> None:
    sent = t("en", "common.staff_only")
    assert says(sent, "common.staff_only", "en")
    assert not says(sent, "common.staff_only")


def test_a_key_with_no_words_of_its_own_is_refused() -> None:
    with pytest.raises(ValueError, match="no words"):
        pattern("audit.actor_person")
    with pytest.raises(KeyError):
        pattern("no.such_key")


# ---- eventually() -------------------------------------------------------------------------------


async def test_eventually_returns_the_first_truthy_value() -> None:
    tries: list[int] = []

    async def third_time() -> int | None:
        tries.append(1)
        return len(tries) if len(tries) >= 3 else None

    assert await eventually(third_time, seconds=5, every=0) == 3


async def test_eventually_fails_with_the_last_assertion() -> None:
    async def never() -> bool:
        raise AssertionError("the reply never came")

    with pytest.raises(AssertionError, match="the reply never came"):
        await eventually(never, seconds=0)


async def test_eventually_stops_at_once_on_any_other_error() -> None:
    tries: list[int] = []

    async def broken() -> bool:
        tries.append(1)
        raise RuntimeError("the bot exited")

    with pytest.raises(RuntimeError):
        await eventually(broken, seconds=5)
    assert tries == [1]


# ---- the recording request -------------------------------------------------------------


@pytest.fixture
async def bot(services: Services) -> BotHarness:
    async with running_bot(services) as harness:
        return harness


async def test_the_request_answers_getme_and_records_each_call(bot: BotHarness) -> None:
    assert bot.app.bot.username == "liaison_test_bot"
    assert [c.method for c in bot.request.calls] == ["getMe"]


async def test_bad_html_is_refused_as_telegram_refuses_it(services: Services) -> None:
    async with running_bot(services) as harness:
        with pytest.raises(BadRequest, match="an't parse entities"):
            await harness.app.bot.send_message(1, "<b>unclosed")
        sent = await harness.app.bot.send_message(1, "<b>粗体</b> &amp; 正文")
        assert sent.text == "粗体 & 正文"
        assert sent.text_html == "<b>粗体</b> &amp; 正文"


async def test_edits_change_the_message_and_an_unchanged_edit_is_refused(
    services: Services,
) -> None:
    async with running_bot(services) as harness:
        sent = await harness.app.bot.send_message(1, "第一版")
        await sent.edit_text("第二版")
        [record] = harness.request.sent(1)
        assert (record.text, record.edits) == ("第二版", 1)
        with pytest.raises(BadRequest, match="not modified"):
            await harness.app.bot.edit_message_text(
                "第二版", chat_id=1, message_id=sent.message_id
            )


async def test_faults_are_raised_as_ptb_raises_telegrams_errors(services: Services) -> None:
    async with running_bot(services) as harness:
        harness.request.fail("sendChatAction", 403, chat_id=7)
        with pytest.raises(Forbidden, match="blocked"):
            await harness.app.bot.send_chat_action(7, "typing")
        await harness.app.bot.send_chat_action(7, "typing")  # once only
        harness.request.fail("sendMessage", 429, retry_after=3, description="Too Many Requests")
        with pytest.raises(RetryAfter):
            await harness.app.bot.send_message(7, "x", rate_limit_args={"retry": False})


async def test_registered_files_can_be_fetched_and_downloaded(services: Services) -> None:
    async with running_bot(services) as harness:
        harness.request.add_file("F1", b"%PDF-1.4 bytes")
        found = await harness.app.bot.get_file("F1")
        assert bytes(await found.download_as_bytearray()) == b"%PDF-1.4 bytes"
        harness.request.add_file("BIG", b"x", size=25 * 1024 * 1024)
        with pytest.raises(BadRequest, match="too big"):
            await harness.app.bot.get_file("BIG")


async def test_a_handler_that_raises_fails_the_test(services: Services) -> None:
    async def broken(update: object, context: object) -> None:
        raise RuntimeError("a handler's bug")

    async with running_bot(services) as harness:
        harness.app.add_handler(TypeHandler(Update, broken), group=-100)
        with pytest.raises(RuntimeError, match="a handler's bug"):
            await harness.say(3001, "你好")


# ---- factories --------------------------------------------------------------------------


async def test_factories_make_rows_the_read_model_sees(services: Services) -> None:
    unit = await factories.add_unit(services, "市民政局")
    await factories.add_person(services, unit, "liaison", user_id=1001)
    await factories.add_person(services, unit, "lead")
    plan, minutes, education, *_ = await factories.items_for(services, unit)
    await factories.add_submission(services, unit, plan, "accepted")
    await factories.add_submission(services, unit, minutes, "returned", note="缺少盖章页")
    await factories.add_exemption(services, unit, education)
    own = await factories.add_item(services, "防汛预案", unit=unit)
    async with services.db.sessions() as session:
        [ledger] = await load_obligations(session, [unit.id])
    states = {i.title: i.state for i in ledger.every_item}
    assert states[plan.title] == ItemState.ACCEPTED
    assert states[minutes.title] == ItemState.RETURNED
    assert states[education.title] == ItemState.EXEMPT
    assert states[own.title] == ItemState.MISSING
