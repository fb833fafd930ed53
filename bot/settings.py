"""Configuration: environment variables and `.env`, validated once at start."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from messages import DEFAULT_LANGUAGE, LANGUAGES


class SettingsError(Exception):
    """A configuration value is wrong; the message names the variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


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
                raise ValueError("expected comma-separated numeric Telegram user ids") from None
        return value

    @field_validator("staff_ids")
    @classmethod
    def _positive_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v <= 0 for v in value):
            raise ValueError("Telegram user ids are positive numbers")
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language_code(cls, value: object) -> object:
        # LANGUAGE is also gettext's variable (en_US:en, zh_CN.UTF-8): take its first language.
        if isinstance(value, str):
            first = value.split(":")[0].replace("-", "_").split("_")[0].split(".")[0].lower()
            value = first or value
        if value not in LANGUAGES:
            raise ValueError(f"one of {', '.join(LANGUAGES)} (the folders of messages/)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("telegram_proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://", "socks5://", "socks4://")):
            raise ValueError("must start with http://, https:// or socks5://")
        return value or None

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use an async URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://…"
            )
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            # (not SQLAlchemy's words: they would repeat the URL, password and all)
            raise ValueError(
                "not a URL SQLAlchemy can read: check its host, port and name"
            ) from None
        return value

    @field_validator("health_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", value):
            raise ValueError("expected an address such as 127.0.0.1, 0.0.0.0 or ::1")
        return value.strip("[]")

    @field_validator("bot_username")
    @classmethod
    def _strip_at(cls, value: str | None) -> str | None:
        return value.lstrip("@") or None if value else None

    @field_validator("holiday_file")
    @classmethod
    def _readable_holiday_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        from bot.importing import ImportRejected
        from bot.workdays import load_holiday_file

        if not value.is_file():
            raise ValueError(f"no such file: {value}")
        try:
            load_holiday_file(value)
        except ImportRejected as exc:
            raise ValueError(f"{value.name}: {exc}") from None
        return value

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
            raise ValueError("must be one line of text without control characters")
        return value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        try:
            parse_quiet_hours(value)
        except ValueError:
            raise ValueError("expected HH:MM-HH:MM, e.g. 20:00-08:00") from None
        return value

    @model_validator(mode="after")
    def _reminder_outside_quiet_hours(self) -> Settings:
        start, end = parse_quiet_hours(self.quiet_hours)
        if in_quiet_hours(self.reminder_time, start, end):
            raise ValueError("falls inside QUIET_HOURS; choose a time outside them")
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


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        # The only whole-model check is the reminder time against the quiet hours.
        variable = str(loc[0]).upper() if loc else "REMINDER_TIME"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(variable, message) from None
