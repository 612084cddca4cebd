"""The commands as each user's Discord shows them: descriptions of commands, groups and
options, choice names and the context menu's name, from the same gettext catalogs as
the bot's sentences (bot.i18n). discord.py asks at every sync, for every locale
Discord has; we answer for the ones we have catalogs for.

Command, group and option names stay English everywhere: they are what people type
and what the README, the help texts and other users say ("/animate ... loop:true")."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n import SOURCE, catalog, supported

KEPT_AS_THEY_ARE = {Where.command_name, Where.group_name, Where.parameter_name}


class CatalogTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        ours = supported(locale.value)
        menu = isinstance(context.data, app_commands.ContextMenu)  # its name is a label
        if ours == SOURCE or (context.location in KEPT_AS_THEY_ARE and not menu):
            return None  # Discord shows the English default
        translated = catalog(ours).gettext(string.message)
        return translated if translated != string.message else None
