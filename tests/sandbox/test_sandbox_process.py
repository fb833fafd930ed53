"""`python -m bot.sandbox` as a separate process: prints its URL, answers, stops on SIGTERM."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from .conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]


def _read_line(process: subprocess.Popen[str], seconds: float) -> str:
    """The first stdout line, or fail after `seconds`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(seconds):
            raise AssertionError("the emulator printed nothing")
    return process.stdout.readline().strip()


def _get_json(url: str) -> dict[str, object]:
    """GET a JSON document from the loopback."""
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


def test_separate_process_serves_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox", "--port", "0", "--username", "proc_bot"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _read_line(process, 30)
        assert url.startswith("http://127.0.0.1:")
        me = _get_json(f"{url}/bot{TOKEN}/getMe")
        assert me["ok"] is True
        assert me["result"] == {
            "id": 123456789,
            "is_bot": True,
            "first_name": "Liaison Demo Bot",
            "username": "proc_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        assert _get_json(f"{url}/_control/health")["ok"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _, stderr = process.communicate()
    assert "Traceback" not in stderr
