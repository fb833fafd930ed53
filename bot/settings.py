"""Configuration: environment variables and `.env`, validated once at start."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from messages import DEFAULT_LANGUAGE, LANGUAGES


class SettingsError(Exception):
    """A configuration value is wrong: the variable, and why in the office's language."""

    def __init__(self, variable: str, reason: str, lang: str = DEFAULT_LANGUAGE) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason
        self.lang = lang


class Problem(ValueError):
    """A value one of our checks refuses: `key` (under `setting.` in messages/) and values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


# pydantic's own refusals, by error type: the message key and the context value it names.
PYDANTIC_REASONS: dict[str, tuple[str, str | None]] = {
    "less_than_equal": ("setting.at_most", "le"),
    "less_than": ("setting.below", "lt"),
    "greater_than_equal": ("setting.at_least", "ge"),
    "greater_than": ("setting.above", "gt"),
    "int_parsing": ("setting.not_integer", None),
    "int_type": ("setting.not_integer", None),
    "int_from_float": ("setting.not_integer", None),
    "float_parsing": ("setting.not_number", None),
    "float_type": ("setting.not_number", None),
    "bool_parsing": ("setting.not_bool", None),
    "bool_type": ("setting.not_bool", None),
    "time_parsing": ("setting.not_time", None),
    "time_type": ("setting.not_time", None),
    "string_too_long": ("setting.too_long", "max_length"),
    "string_too_short": ("setting.too_short", "min_length"),
    "literal_error": ("setting.not_one_of", None),
}


class Settings(BaseSettings):
    """Everything the bot reads from its environment (docs/reference.md lists it)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    bot_username: str | None = None
    database_url: str = "sqlite+aiosqlite:///liaison-bot.db"
    staff_ids: Annotated[tuple[int, ...], NoDecode] = ()
    timezone: str = "Asia/Shanghai"
    language: str = DEFAULT_LANGUAGE
    data_dir: Path = Path("./data")
    telegram_proxy: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Delivery pacing (the outbox dispatcher's own limiter).
    send_rate_global: float = Field(default=25.0, gt=0, le=1000)
    send_rate_private: float = Field(default=1.0, gt=0, le=100)
    send_rate_group_per_minute: int = Field(default=20, gt=0, le=600)
    outbox_lease_seconds: int = Field(default=60, ge=5, le=3600)
    request_timeout: float = Field(default=15.0, gt=0, le=300)
    # Delivered outbox rows are deleted this many days after they were sent.
    outbox_retention_days: int = Field(default=365, ge=1, le=3650)

    # Staying up: how long a SQLite write waits for the lock, how often an update that fails
    # by a bug is tried before it is kept as a dead letter, how long a task may keep failing.
    sqlite_busy_timeout: float = Field(default=30.0, gt=0, le=600)
    update_max_attempts: int = Field(default=3, ge=1, le=20)
    task_give_up_seconds: int = Field(default=900, ge=10, le=86400)

    # Invites.
    invite_ttl_days: int = Field(default=14, ge=1, le=365)
    # How staff hear of each completed registration: a notice at once, or one daily digest.
    staff_notifications: Literal["immediate", "digest"] = "immediate"

    # Reminder policy (validated here, so a bad value stops the program at start).
    reminder_time: time = time(9, 30)
    quiet_hours: str = "20:00-08:00"
    reminder_every_workdays: int = Field(default=2, ge=1, le=20)
    reminder_daily_last_workdays: int = Field(default=3, ge=0, le=20)
    reminder_cap: int = Field(default=20, ge=1, le=200)
    escalate_lead_after: int = Field(default=3, ge=1, le=50)
    escalate_office_after_workdays: int = Field(default=2, ge=0, le=60)
    # Not read here: a file that cannot be used is a warning, never a stop (bot/holidays.py).
    holiday_file: Path | None = None
    # Off: only rounds asked for (/remind, `liaison-bot remind`); no scheduled rounds or digests.
    scheduled_reminders: bool = True

    # The office's own documents (通报, 催办通知): who writes, to whom, signed by whom.
    notice_office: str = Field(
        default="固原市拥军优属拥政爱民领导小组办公室", min_length=2, max_length=40
    )
    notice_number_prefix: str = Field(default="固双拥办发", min_length=1, max_length=20)
    notice_signature: str = Field(
        default="固原市拥军优属拥政爱民工作领导小组办公室", min_length=2, max_length=40
    )
    notice_main_to: str = Field(
        default="各县（区）双拥领导小组、市双拥领导小组各成员单位", min_length=2, max_length=200
    )
    notice_copy_to: str = Field(
        default="自治区双拥领导小组办公室，市双拥领导小组组长、副组长", max_length=200
    )
    notice_issuer: str = Field(
        default="固原市拥军优属拥政爱民工作领导小组办公室", min_length=2, max_length=40
    )
    notice_contact: str = Field(default="", max_length=100)
    # Operations: the daily backup (off while BACKUP_DIR is empty) and the health server.
    backup_dir: Path | None = None
    backup_time: time = time(3, 0)
    backup_keep: int = Field(default=7, ge=1, le=366)
    health_port: int | None = Field(default=None, ge=1, le=65535)
    health_host: str = "127.0.0.1"

    @field_validator("staff_ids", mode="before")
    @classmethod
    def _split_staff_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace("，", ",").split(",")]
            try:
                return tuple(int(p) for p in parts if p)
            except ValueError:
                raise Problem("staff_ids") from None
        return value

    @field_validator("staff_ids")
    @classmethod
    def _positive_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v <= 0 for v in value):
            raise Problem("staff_ids_positive")
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language_code(cls, value: object) -> object:
        if isinstance(value, str):
            value = language_code(value)
        if value not in LANGUAGES:
            raise Problem("language", choices=list(LANGUAGES))
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem("timezone", value=value) from None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise Problem("http_url")
        return value.rstrip("/")

    @field_validator("telegram_proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://", "socks5://", "socks4://")):
            raise Problem("proxy_url")
        return value or None

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise Problem("async_url")
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            # (not SQLAlchemy's words: they would repeat the URL, password and all)
            raise Problem("unreadable_url") from None
        return value

    @field_validator("health_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", value):
            raise Problem("host")
        return value.strip("[]")

    @field_validator("bot_username")
    @classmethod
    def _strip_at(cls, value: str | None) -> str | None:
        return value.lstrip("@") or None if value else None

    @field_validator(
        "notice_office",
        "notice_number_prefix",
        "notice_signature",
        "notice_main_to",
        "notice_copy_to",
        "notice_issuer",
        "notice_contact",
    )
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(c) < 32 for c in value):
            raise Problem("one_line")
        return value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        try:
            parse_quiet_hours(value)
        except ValueError:
            raise Problem("quiet_hours") from None
        return value

    @model_validator(mode="after")
    def _reminder_outside_quiet_hours(self) -> Settings:
        start, end = parse_quiet_hours(self.quiet_hours)
        if in_quiet_hours(self.reminder_time, start, end):
            raise Problem("in_quiet_hours")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value() if self.bot_token else ""


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """Parse `HH:MM-HH:MM` into (start, end); an empty string means no quiet hours."""
    if not value.strip():
        return time(0, 0), time(0, 0)
    start_text, end_text = value.split("-")
    return time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())


def in_quiet_hours(moment: time, start: time, end: time) -> bool:
    """Tell whether a wall-clock time falls in the quiet window (which may span midnight)."""
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def after_quiet_hours(settings: Settings, now: datetime) -> datetime:
    """Now, or the end of the quiet hours if now is inside them (staff are not woken)."""
    start, end = parse_quiet_hours(settings.quiet_hours)
    local = now.astimezone(settings.tz)
    if not in_quiet_hours(local.time(), start, end):
        return now
    moment = datetime.combine(local.date(), end, tzinfo=settings.tz)
    if moment <= local:
        moment += timedelta(days=1)
    return moment


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        # The only whole-model check is the reminder time against the quiet hours.
        field = str(loc[0]) if loc else "reminder_time"
        lang = _language_of_errors()
        raise SettingsError(field.upper(), _reason(lang, field, error), lang) from None


def language_code(value: str) -> str:
    """LANGUAGE is also gettext's variable (en_US:en, zh_CN.UTF-8): its first language."""
    first = value.split(":")[0].replace("-", "_").split("_")[0].split(".")[0].lower()
    return first or value


class _LanguageOnly(BaseSettings):
    """LANGUAGE alone, read as Settings reads it, to say what else is wrong in that language."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    language: str = DEFAULT_LANGUAGE


def _language_of_errors() -> str:
    try:
        lang = language_code(_LanguageOnly().language)
    except Exception:  # (an unreadable .env is said by the error itself)
        return DEFAULT_LANGUAGE
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _reason(lang: str, field: str, error: ErrorDetails) -> str:
    """Why a value is refused, in the catalogue's words (by pydantic's error type, or by the
    key of our own check)."""
    from messages import plain

    context = error.get("ctx") or {}
    problem = context.get("error")
    if isinstance(problem, Problem):
        return plain(lang, f"setting.{problem.key}", **problem.values)
    key, limit = PYDANTIC_REASONS.get(error["type"], ("setting.unusable", None))
    if error["type"] == "literal_error":
        choices = get_args(Settings.model_fields[field].annotation)
        return plain(lang, key, choices=[str(c) for c in choices])
    bound = context.get(limit, "") if limit else ""
    if isinstance(bound, float) and bound.is_integer():
        bound = int(bound)  # 0, not 0.0
    return plain(lang, key, limit=bound)
