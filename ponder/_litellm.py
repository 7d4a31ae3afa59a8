"""litellm, imported on first use and the same way by every part of ponder.

``import litellm`` takes seconds, so nothing imports it at import time. Unless told
otherwise it also fetches a fresh price table over the network on import (with retries,
several seconds more when there is no network); ponder reads litellm's packaged table
(:mod:`ponder._pricing`) and bills by the menu's prices, so the import is told to use the
packaged one. A module that imported litellm itself would skip that setting, and the first
import decides it for the whole process: every ponder module goes through here.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_litellm() -> ModuleType:
    """The litellm module, with its price table read from the package (no network) and its
    debugging hints off. Cheap after the first call (Python caches the import)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm
