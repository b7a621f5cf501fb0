"""The mechanisms, one module each; importing this package registers them all."""

from models import short_polling  # noqa: F401
from models import long_polling  # noqa: F401
from models import sse  # noqa: F401
from models import websocket  # noqa: F401
from models import webhook  # noqa: F401
