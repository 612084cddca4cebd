"""Slash-command payloads checked against the commands this bot registered, before
discord.py parses them. A client with an older command list (or anyone forging an
interaction) can send an option of another type, a string where a number belongs, or an
attachment id missing from `resolved`: discord.py then raises outside its error
handling (a ValueError while building the namespace leaves the user on "thinking…"
for ever) or deep inside a transformer. Here such a payload is named stale and the
user is asked to run the command again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from discord import AppCommandOptionType, app_commands

# The custom_ids this bot gives its buttons and forms; anything else is answered as
# expired (discord.py would ignore it, and the user would see "This interaction failed").
JOB_BUTTON_ID = r"fp:(?P<action>cancel|keep|retry|extend|hd|remix):(?P<job>[0-9a-f]{12})"
REMIX_FORM_ID = r"fp:remix-modal:(?P<job>[0-9a-f]{12})"
KNOWN_CUSTOM_ID = re.compile(
    rf"{JOB_BUTTON_ID}|fp:remix-modal:[0-9a-f]{{12}}|fp:animate-modal:\d{{1,20}}"
)

# What each option type's value must be in the JSON.
_VALUE_TYPES: dict[AppCommandOptionType, tuple[type, ...]] = {
    AppCommandOptionType.string: (str,),
    AppCommandOptionType.integer: (int,),
    AppCommandOptionType.number: (int, float),
    AppCommandOptionType.boolean: (bool,),
    AppCommandOptionType.attachment: (str,),
    AppCommandOptionType.user: (str,),
    AppCommandOptionType.channel: (str,),
    AppCommandOptionType.role: (str,),
    AppCommandOptionType.mentionable: (str,),
}
_GROUPS = (AppCommandOptionType.subcommand.value, AppCommandOptionType.subcommand_group.value)


def stale_reason(tree: app_commands.CommandTree, data: Mapping[str, Any]) -> str | None:
    """Why a chat-input command's payload does not fit the registered command, or None."""
    if data.get("type", 1) != 1:
        return None  # context menus carry no options
    command: Any = tree.get_command(str(data.get("name", "")))
    options = data.get("options") or []
    while command is not None and isinstance(command, app_commands.Group):
        chosen = next((o for o in options if o.get("type") in _GROUPS), None)
        if chosen is None:
            return "a group without a subcommand"
        command, options = command.get_command(str(chosen.get("name"))), chosen.get("options", [])
    if command is None:
        return f"an unknown command {data.get('name')!r}"
    parameters = {p.display_name: p for p in command.parameters}
    resolved = (data.get("resolved") or {}).get("attachments") or {}
    given = set()
    for option in options:
        name = option.get("name")
        parameter = parameters.get(name)
        if parameter is None:
            return f"an unknown option {name!r}"
        given.add(name)
        if option.get("type") != parameter.type.value:
            return f"option {name!r} of type {option.get('type')}, not {parameter.type.value}"
        value = option.get("value")
        expected = _VALUE_TYPES.get(parameter.type, (object,))
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            return f"option {name!r} has a value of the wrong kind"
        if parameter.type is AppCommandOptionType.attachment and value not in resolved:
            return f"attachment {value!r} is not in resolved"
    missing = [
        p.display_name for p in command.parameters if p.required and p.display_name not in given
    ]
    if missing:
        return f"required options missing: {', '.join(missing)}"
    return None
