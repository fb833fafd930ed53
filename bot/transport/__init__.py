"""Talking to Telegram: taking updates, HTTP, and delivering the outbox."""
