"""Actions in front of the shopping cart.

This example reuses the event-sourced cart of ``examples/shoppingcart`` (the package
``shoppingcart``); it is put on the import path here so that ``python -m cartactions.main`` works
from this directory without installing anything.
"""

import sys
from pathlib import Path

_SHOPPINGCART = Path(__file__).resolve().parents[2] / "shoppingcart"
if _SHOPPINGCART.is_dir() and str(_SHOPPINGCART) not in sys.path:
    sys.path.append(str(_SHOPPINGCART))
