"""The mechanisms, one module each; importing this package registers them all.

The import order is the order ``sim mechanisms`` lists them (pull to push).
"""

# ruff: noqa: I001
from models import short_polling  # noqa: F401
from models import long_polling  # noqa: F401
from models import sse  # noqa: F401
from models import websocket  # noqa: F401
from models import webhook  # noqa: F401
