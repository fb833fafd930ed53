"""Every handler in one ordered list; the menus and /help are generated from the commands.

A new command is one `Command` entry in its feature's handler module (and its description,
`commands.<name>`, in the catalogues): it is then answered, gated for staff, shown in the
right menus and listed by /help.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import menus, roster
from bot.context import Context, add_tick
from handlers import (
    broadcast,
    common,
    export,
    flows,
    invites,
    ledger,
    notice,
    registration,
    reminders,
    review,
    staff,
    uploads,
)
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    Handler,
    actor_of,
    gated,
    language_for,
)
from messages import LANGUAGES, catalogue, t

log = logging.getLogger(__name__)

# The callback data of staff buttons begin so (the console, exports, broadcasts, review,
# invite links, notices, rounds of reminders).
STAFF_BUTTONS = r"^(st|exp|bc|rv|i|nt|remind):"

# In order of precedence (the first handler that matches an update answers it) and of the
# menus. Registration comes before common, so /start with an invite token is taken first.
FEATURES: tuple[Feature, ...] = (
    uploads.FEATURE,
    ledger.FEATURE,
    registration.FEATURE,
    common.FEATURE,
    staff.FEATURE,
    invites.FEATURE,
    reminders.FEATURE,
    broadcast.FEATURE,
    review.FEATURE,
    export.FEATURE,
    notice.FEATURE,
)


def commands() -> list[Command]:
    """Every command, in the order of the features (/help among everyone's)."""
    every = [command for feature in FEATURES for command in feature.commands]
    after_start = next(i for i, c in enumerate(every) if c.name == "start") + 1
    return [*every[:after_start], Command("help", help_command), *every[after_start:]]


def _callback(command: Command) -> Handler:
    return gated(command.callback, staff=command.audience == Audience.STAFF)


def _button_callback(button: Button) -> Handler:
    return gated(button.callback, staff=button.staff)


class ButtonHandler(CallbackQueryHandler[Context, None]):
    """A press whose callback data matches the pattern. (PTB's own handler takes a press that
    carries no data at all as a match of any pattern, with no match object to read.)"""

    def check_update(self, update: object) -> Any:
        if not (isinstance(update, Update) and update.callback_query is not None):
            return None
        if not update.callback_query.data:
            return False
        return super().check_update(update)


def register_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Every handler, in order of precedence, and the menus they define."""
    # group -4: a first look at every update (a person blocking or unblocking the bot, taken
    # here alone; edits are not new input; unreachable no more).
    app.add_handler(
        ChatMemberHandler(common.blocked_or_unblocked, ChatMemberHandler.MY_CHAT_MEMBER), group=-4
    )
    app.add_handler(TypeHandler(Update, common.first_look), group=-4)
    # group -3: buttons that work in any conversation step ("收到" under a notice).
    for feature in FEATURES:
        for button in feature.buttons:
            if button.always:
                app.add_handler(
                    ButtonHandler(_button_callback(button), pattern=button.pattern),
                    group=-3,
                )
    # group -2: a person in a conversation has every update handed to that conversation.
    app.add_handler(TypeHandler(Update, flows.route), group=-2)
    # group -1: claims (the first that matches looks; if it takes the update it stops the rest).
    for feature in FEATURES:
        for claim in feature.claims:
            app.add_handler(claim, group=-1)
    # group 0: commands, buttons and the rest, feature by feature; catch-alls last.
    app.add_handler(CommandHandler("help", help_command))
    for feature in FEATURES:
        for command in feature.commands:
            app.add_handler(
                CommandHandler(
                    command.name,
                    _callback(command),
                    filters=command.filters,
                    has_args=command.has_args,
                )
            )
        for button in feature.buttons:
            if not button.always:
                app.add_handler(ButtonHandler(_button_callback(button), pattern=button.pattern))
        for handler in feature.handlers:
            app.add_handler(handler)
        for name, flow in (feature.flows or {}).items():
            flows.register_flow(name, flow)
        for job in feature.jobs:  # run under the supervisor while the bot serves
            add_tick(app, job.name, job.seconds, job.callback)
    app.add_handler(MessageHandler(filters.COMMAND, common.unknown_command))
    # A staff button no handler took (old, or forged): refused to anyone but staff.
    app.add_handler(ButtonHandler(gated(stale_staff_button, staff=True), pattern=STAFF_BUTTONS))
    app.add_handler(CallbackQueryHandler(common.stale_button))
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & ~filters.COMMAND, common.not_understood)
    )
    menus.define(
        {
            audience.value: tuple(
                dict.fromkeys(c.name for c in commands() if c.audience == audience)
            )
            for audience in Audience
        }
    )


async def stale_staff_button(update: Update, context: Context, lang: str) -> None:
    """A staff member pressed a button that belongs to nothing any more."""
    await common.stale_button(update, context)


async def help_command(update: Update, context: Context) -> None:
    """List the commands this person may use, by who may use them."""
    message = update.effective_message
    actor = await actor_of(update, context)
    if message is None or actor is None:
        return
    lang = await language_for(update, context)
    in_group = message.chat.type != ChatType.PRIVATE
    sections = [Audience.EVERYONE]
    if actor.member:
        sections.append(Audience.MEMBER)
    if actor.staff:
        sections += [Audience.STAFF, Audience.GROUP]
    if in_group:  # only the group's own commands work here
        sections = [Audience.GROUP]
    parts = []
    for audience in sections:
        lines = [t(lang, f"help.heading_{audience}")]
        lines += [help_line(lang, name) for name in menus.audience_commands(audience)]
        parts.append("\n".join(lines))
    if in_group:
        parts.append(t(lang, "help.in_private"))
    await message.reply_text("\n\n".join(parts))


def help_line(lang: str, name: str) -> str:
    """`/unit 单位名称 查看某单位详情`: the command, what it takes, what it does."""
    known = catalogue(lang)
    usage = known.get(f"usage.{name}", "")
    what = known.get(f"help.{name}") or known[f"commands.{name}"]
    if "{languages}" in what:  # /language's line names the languages it offers
        what = what.replace("{languages}", _language_names(lang))
    return t(lang, "help.line", command=f"/{name}", usage=f" {usage}" if usage else "", what=what)


def _language_names(lang: str) -> str:
    """Every language the bot speaks, each by its own name (中文 / English), for /language."""
    names = (t(code, "language.name") for code in LANGUAGES)
    return t(lang, "help.languages_separator").join(names)


async def setup_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Give each kind of person the menu of their own commands (setMyCommands per scope)."""
    services = app.bot_data.services
    for lang in LANGUAGES:
        code = None if lang == services.settings.language else lang
        await app.bot.set_my_commands(
            menus.bot_commands(lang, menus.audience_commands("everyone")),
            scope=BotCommandScopeAllPrivateChats(),
            language_code=code,
        )
        await app.bot.set_my_commands(
            menus.bot_commands(lang, ("help", *menus.audience_commands("group"))),
            scope=BotCommandScopeAllGroupChats(),
            language_code=code,
        )
    for member in await roster.list_staff(services=services):
        person = await roster.actor(services=services, user_id=member.user_id, language_code=None)
        names = menus.person_commands(member=person.member, staff=True)
        try:
            await app.bot.set_my_commands(
                menus.bot_commands(person.language, names),
                scope=BotCommandScopeChat(member.user_id),
            )
        except TelegramError as exc:  # a staff member who never opened the bot has no chat
            log.info("menu for %s not set: %s", member.user_id, exc)
