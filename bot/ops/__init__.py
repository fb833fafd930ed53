"""Running the bot for real: backups that restore, health and metrics."""
