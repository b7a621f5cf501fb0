"""The mechanisms, one module each; importing this package registers them all."""

from models import short_polling  # noqa: F401
