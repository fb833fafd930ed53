"""The log's times: the office's time zone with its offset, whatever the server's zone."""

from __future__ import annotations

import io
import logging
import re

import pytest

from bot.logs import configure_logging
from tests.support.settings import make_settings


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Shanghai", "+08:00"), ("UTC", "+00:00")])
def test_a_line_s_time_is_office_time_with_its_offset(zone: str, offset: str) -> None:
    settings = make_settings("sqlite+aiosqlite:///x.db", timezone=zone)
    stream = io.StringIO()
    handler = configure_logging(settings, stream)
    try:
        logging.getLogger("bot.test").warning("reminder round")
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
    assert re.fullmatch(stamp + re.escape(offset) + r" WARNING bot\.test: reminder round", line)
