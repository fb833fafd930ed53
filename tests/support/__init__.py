"""What the tests share: factories, fake Telegram and clocks, waiting, the command line."""
