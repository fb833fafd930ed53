"""Reminders (催报): chase every outstanding unit until it owes nothing, and never after."""
