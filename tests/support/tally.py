"""How many updates the property tests sent to the application, for the end of the run.

`make fuzz` promises more than 10,000; tests/conftest.py prints the figures in pytest's
terminal summary, adding up the workers' counts when pytest-xdist runs the tests.
"""

from __future__ import annotations

from collections import Counter

SENT: Counter[str] = Counter()
