"""Checking what a person types: names, posts and mobile numbers."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from bot.errors import DomainError

NAME_MAX = 30
POST_MAX = 30

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NAME_CHARS = re.compile(rf"[{_CJK}A-Za-z·.' -]+")
_POST_CHARS = re.compile(rf"[{_CJK}A-Za-z0-9·.()、/ -]+")
_LETTER = re.compile(rf"[{_CJK}A-Za-z]")
_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "∙": "·"})


class InvalidInput(DomainError):
    """Typed input that cannot be used; `key` says why in one sentence."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(**values)
        self.key = key


def _normalize(text: str) -> str:
    """Full-width forms folded, runs of spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_DOTS).split())


def clean_name(text: str) -> str:
    """A person's name as entered (汉字 or letters, 2–30 characters), or InvalidInput."""
    value = _normalize(text)
    if not value:
        raise InvalidInput("registration.name_empty")
    if any(ch.isdigit() for ch in value):
        raise InvalidInput("registration.name_digits")
    if len(value) > NAME_MAX:
        raise InvalidInput("registration.name_too_long", max=NAME_MAX)
    if not _NAME_CHARS.fullmatch(value) or not _LETTER.search(value):
        raise InvalidInput("registration.name_chars")
    if len(value) < 2:
        raise InvalidInput("registration.name_too_short")
    return value


def clean_post(text: str) -> str:
    """A post (职务), 1–30 characters with at least one letter, or InvalidInput."""
    value = _normalize(text)
    if not value:
        raise InvalidInput("registration.post_empty")
    if len(value) > POST_MAX:
        raise InvalidInput("registration.post_too_long", max=POST_MAX)
    if not _POST_CHARS.fullmatch(value) or not _LETTER.search(value):
        raise InvalidInput("registration.post_chars")
    return value


def clean_phone(text: str, *, shared: bool = False) -> str:
    """A mainland China mobile number as its 11 digits (13912345678), or InvalidInput.

    Telegram gives a shared contact's number with its country code, usually without the "+"
    (8613912345678); a typed one is read as a mainland number unless it says otherwise.
    """
    value = re.sub(r"[\s()\-]", "", unicodedata.normalize("NFKC", text))
    if not value:
        raise InvalidInput("registration.phone_invalid")
    if value.startswith("00"):
        value = "+" + value[2:]
    elif shared and not value.startswith("+"):
        value = "+" + value
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        raise InvalidInput("registration.phone_invalid") from None
    if number.country_code != 86:
        raise InvalidInput("registration.phone_not_cn")
    mobile = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in mobile:
        raise InvalidInput("registration.phone_invalid")
    return str(number.national_number)


def format_phone(phone: str) -> str:
    """11 digits grouped as people read them: 139 0954 0001."""
    if len(phone) == 11 and phone.isdigit():
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return phone
