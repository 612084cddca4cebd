"""The platform-neutral core: the job service and everything a user experiences apart
from the chat surface. Adapters (bot.discord, bot.telegram) and the CLI call into it;
it never imports them."""
