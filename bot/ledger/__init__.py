"""Ledger materials (资料台账): the checklist, what each unit owes, submitting and review."""
