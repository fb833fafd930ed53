"""A local Telegram Bot API emulator for demos, end-to-end tests and benchmarks."""

from bot.sandbox.client import SandboxClient, SandboxError, SandboxTimeout
from bot.sandbox.server import Emulator

__all__ = ["Emulator", "SandboxClient", "SandboxError", "SandboxTimeout"]
