"""How strongly an arm reasons before it answers, on a 0-1 scale.

The function lives in :mod:`ponder._thinking`, where the menu can use it without importing
the ML package; it is re-exported here for the classifiers' own modules.
"""

from ponder._thinking import EFFORT_STRENGTH, FULL_BUDGET, reasoning_strength

__all__ = ["EFFORT_STRENGTH", "FULL_BUDGET", "reasoning_strength"]
