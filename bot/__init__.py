"""liaison-bot: the double-support office's Telegram bot."""

import os

# Opt in to PTB's future behaviour: durations (RetryAfter.retry_after, …) as timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")
