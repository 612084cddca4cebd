"""Loopback fakes that speak the real protocols: providers (and later Discord and
Telegram). Each is a real HTTP server on 127.0.0.1 with switches for the faults the
real services show."""
