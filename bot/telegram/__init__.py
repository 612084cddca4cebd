"""The Telegram adapter, on python-telegram-bot 22: ways in, live status, inline
buttons, commands and delivery. Decisions stay in bot.core."""
