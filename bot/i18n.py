"""The language each user reads, and the bot's sentences in it.

Catalogs are gettext `.po` files managed with Babel (`pybabel extract` / `update`,
see the README), one per locale under bot/locales, compiled in memory the first time
a locale is used (no `.mo` files to forget to rebuild). Numbers and durations are
formatted with Babel's locale data (CLDR).

Locales are named as Discord names them (`ja`, `zh-CN`, `pt-BR`...); Telegram's
`language_code` (IETF tags such as `pt-br`, `zh-hans`) is mapped onto them, and
anything else reads the English source.

Which locale is in force is a context variable: an adapter sets the requester's
around its handling of one interaction or update, and the job service sets a job's
own around the texts it makes for that job later (progress, captions), so sentences
are rendered in the right language wherever they are made. Operators' surfaces (the
CLI, `doctor`, the log) never set one: they stay in English, which people search.
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from importlib import resources

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from babel.units import format_unit

SOURCE = "en-US"
# Discord's locale names -> the catalog folders (gettext's names).
CATALOGS = {"ja": "ja", "zh-CN": "zh_CN", "ru": "ru", "es-ES": "es_ES", "pt-BR": "pt_BR"}
LOCALES = (SOURCE, *CATALOGS)
# Other names that read one of ours: Discord's Latin-American Spanish and British
# English, and Telegram's bare language codes.
ALIASES = {
    "en": SOURCE,
    "en-GB": SOURCE,
    "es": "es-ES",
    "es-419": "es-ES",
    "pt": "pt-BR",
    "zh": "zh-CN",
    "zh-Hans": "zh-CN",
    "zh-Hans-CN": "zh-CN",
}
LANGUAGE_NAMES = {
    "en-US": "English",
    "ja": "日本語",
    "zh-CN": "简体中文",
    "ru": "Русский",
    "es-ES": "Español",
    "pt-BR": "Português (Brasil)",
}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("locale", default=SOURCE)


def supported(name: str | None) -> str:
    """One of LOCALES for a platform's locale name or language code (any case, `_` or
    `-`); English for anything unknown or missing. A language alone reads its one
    catalog (`pt` -> pt-BR), except Chinese: only Simplified has one (`zh-TW`, `zh-hant`
    read English)."""
    if not name:
        return SOURCE
    tag = name.replace("_", "-").strip().lower()
    known = {key.lower(): key for key in (*LOCALES, *ALIASES)}
    language = tag.split("-")[0]
    found = known.get(tag) or (None if language == "zh" else known.get(language))
    if found is None:
        return SOURCE
    return ALIASES.get(found, found)


def current() -> str:
    return _current.get()


def speak(locale: str | None) -> str:
    """`locale` for the rest of this task (an interaction's, a job's): a task is one
    conversation, and the next task starts from its creator's."""
    chosen = supported(locale)
    _current.set(chosen)
    return chosen


@contextmanager
def use(locale: str | None) -> Iterator[str]:
    """Render sentences in `locale` (normalised by `supported`) within the block."""
    chosen = supported(locale)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


@cache
def catalog(locale: str) -> NullTranslations:
    """The locale's translations, compiled from its `.po` at first use."""
    folder = CATALOGS.get(locale)
    if folder is None:
        return NullTranslations()
    source = resources.files("bot") / "locales" / folder / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as po:
        messages = read_po(po, locale=folder)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return Translations(compiled)


def _(text: str) -> str:
    """`text` (the English source) in the current locale."""
    return catalog(current()).gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` in the current locale's plural rules (Russian has three)."""
    return catalog(current()).ngettext(singular, plural, n)


def N_(text: str) -> str:
    """Marks `text` for the catalogs where it is defined; translated where it is used."""
    return text


def babel_locale(locale: str | None = None) -> Locale:
    return Locale.parse((locale or current()).replace("-", "_"))


def number(value: int | float | Decimal, pattern: str | None = None) -> str:
    """1,234.5 / 1 234,5 / 1.234,5 as the current locale writes it (`pattern`: a CLDR
    number pattern such as "0.0" for exactly one decimal)."""
    return format_decimal(value, format=pattern, locale=babel_locale())


def duration(parts: list[tuple[int, str]]) -> str:
    """'3 hr 38 min' from [(3, "hour"), (38, "minute")], in the current locale's short
    units (day, hour, minute)."""
    return " ".join(
        format_unit(count, f"duration-{unit}", length="short", locale=babel_locale())
        for count, unit in parts
    )
