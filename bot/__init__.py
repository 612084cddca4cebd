"""The chat side: a platform-neutral job service and thin Discord/Telegram adapters."""

__version__ = "0.1.0"
