"""How many updates the property tests sent to the application, for the end of the run.

`make fuzz` promises more than 10,000; tests/handlers/conftest.py prints the figures in
pytest's terminal summary.
"""

from __future__ import annotations

from collections import Counter

SENT: Counter[str] = Counter()
