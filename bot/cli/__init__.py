"""The command line: `liaison-bot COMMAND …` (the same as `python -m bot`)."""
