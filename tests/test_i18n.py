"""The catalogs: every sentence of the source in every language, with the same
placeholders; plural forms as each language has them; which language a platform's
locale name reads."""

from __future__ import annotations

import asyncio
import json
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n
from bot.core import messages
from bot.discord.buttons import RemixForm
from bot.discord.from_messages import AnimateModal
from tests.support.discord_world import discord_world
from tests.support.fakes.telegram import buttons
from tests.support.provider_world import png_bytes
from tests.support.telegram_world import ADMIN, GROUP, MEMBER, telegram_world

ROOT = Path(__file__).resolve().parent.parent
LOCALES = [locale for locale in i18n.LOCALES if locale != i18n.SOURCE]


def source_messages() -> dict[str, tuple[str, ...]]:
    """What the code marks for translation now, extracted as `pybabel extract` does
    (so a sentence added to the code and to no catalog fails here)."""
    found: dict[str, tuple[str, ...]] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "bot",
        method_map=[("**.py", "python")],
        keywords={"_": None, "N_": None, "ngettext": (1, 2)},
    ):
        forms = message if isinstance(message, tuple) else (message,)
        found[forms[0]] = forms
    return found


def catalog(locale: str):
    path = ROOT / "bot" / "locales" / i18n.CATALOGS[locale] / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return read_po(po, locale=i18n.CATALOGS[locale])


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_with_the_same_placeholders(locale: str) -> None:
    wanted = source_messages()
    assert len(wanted) > 100  # the extraction found the messages
    translated = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalog(locale) if m.id}
    assert sorted(set(wanted) - set(translated)) == []  # not translated
    assert sorted(set(translated) - set(wanted)) == []  # no longer said
    for msgid, forms in wanted.items():
        message = translated[msgid]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and not message.fuzzy, (locale, msgid)
        expected = placeholders(forms[-1])  # a singular may name fewer ({count} apart)
        for text in strings:
            assert placeholders(text) <= expected | placeholders(forms[0]), (locale, text)
            assert placeholders(text) >= placeholders(forms[0]), (locale, msgid, text)
            # Renders with the source's values: no placeholder the source lacks.
            text.format(**dict.fromkeys(expected | placeholders(forms[0]), "x"))


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_renders_in_every_locale(locale: str) -> None:
    now = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    with i18n.use(locale):
        fixed = [getattr(messages, name) for name in messages._FIXED]
        made = [
            messages.accepted(6000, 3, 6, total_seconds=12),
            messages.accepted(1500, 1, 2, draft=True),
            messages.caption("waves", "fal", 7, 6, 6000, 1500, settings="480p", loop=True),
            messages.status_line("submitted", position=2, eta_s=80),
            messages.status_line("running", progress=0.5, eta_s=20),
            messages.until(now + timedelta(days=1, hours=2), now),
            messages.too_long_to_extend(58, 6, 60),
            messages.settings_text("480p", draft=True, steps=10, guidance=4.5),
        ]
    texts = [*fixed, *made]
    assert all(texts) and not any(re.search(r"\{\w*\}", t) for t in texts)
    if locale != i18n.SOURCE:  # a translation, not the English falling through
        with i18n.use(i18n.SOURCE):
            english = [getattr(messages, name) for name in messages._FIXED]
        assert sum(a != b for a, b in zip(fixed, english, strict=True)) == len(fixed)


@pytest.mark.parametrize(
    ("mc", "russian"),
    [
        (1000, "1 кредит"),
        (2000, "2 кредита"),
        (5000, "5 кредитов"),
        (11000, "11 кредитов"),
        (21000, "21 кредит"),
        (24000, "24 кредита"),
        (1500, "1,5 кредита"),
    ],
)
def test_credits_take_the_russian_plural_forms(mc: int, russian: str) -> None:
    with i18n.use("ru"):
        assert messages.credits(mc) == russian
    with i18n.use("en-US"):
        assert messages.credits(mc).endswith("credit" if mc == 1000 else "credits")


def test_numbers_and_durations_follow_the_locale() -> None:
    now = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    later = now + timedelta(hours=3, minutes=38)
    cases = {
        "en-US": ("7.5 credits", "17:38 UTC (in 3 hr 38 min)"),
        "ru": ("7,5 кредита", "17:38 UTC (через 3 ч 38 мин)"),
        "pt-BR": ("7,5 créditos", "17:38 UTC (em 3 h 38 min)"),
        "ja": ("7.5 クレジット", "17:38 UTC（あと3 時間 38 分）"),
    }
    for locale, (credits, until) in cases.items():
        with i18n.use(locale):
            assert (messages.credits(7500), messages.until(later, now)) == (credits, until)


@pytest.mark.parametrize(
    ("name", "locale"),
    [
        ("ja", "ja"),
        ("zh-CN", "zh-CN"),
        ("ru", "ru"),
        ("es-ES", "es-ES"),
        ("es-419", "es-ES"),  # Discord's Latin-American Spanish reads the Spanish catalog
        ("pt-BR", "pt-BR"),
        ("en-GB", "en-US"),
        ("fr", "en-US"),  # not one of ours: English
        ("zh-TW", "en-US"),  # Traditional Chinese is not the Simplified catalog
        (None, "en-US"),
        # Telegram's language_code
        ("pt-br", "pt-BR"),
        ("pt", "pt-BR"),
        ("es", "es-ES"),
        ("zh-hans", "zh-CN"),
        ("zh-hant", "en-US"),
        ("ru", "ru"),
        ("de", "en-US"),
    ],
)
def test_platform_locale_names_map_onto_the_six(name: str | None, locale: str) -> None:
    assert i18n.supported(name) == locale


# --- through the real libraries ----------------------------------------------------------------

TWO_SECONDS = {"name": "duration", "type": 10, "value": 2}


@pytest.mark.parametrize(
    ("discord_locale", "queued", "caption_credits"),
    [
        ("ja", "キューに入りました", "2 クレジット"),
        ("pt-BR", "Na fila", "2 créditos"),
        ("fr", "Queued", "2 credits"),  # not one of ours: English
    ],
)
async def test_a_discord_user_reads_the_bot_in_their_clients_language(
    tmp_path: Path, discord_locale: str, queued: str, caption_credits: str
) -> None:
    async with discord_world(tmp_path) as world:
        asked = await world.animate(extra_options=[TWO_SECONDS], locale=discord_locale)
        first = await world.answer_to(asked)
        (post,) = await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == asked["token"]
        )
        await world.service.join()
        refused = await world.animate("", extra_options=[TWO_SECONDS], locale=discord_locale)
        refusal = await world.answer_to(refused)
    assert first.startswith(queued)
    assert caption_credits in post.payload["content"]
    with i18n.use(discord_locale):
        assert refusal == messages.PROMPT_EMPTY  # a refusal in it too
    if discord_locale != "fr":
        with i18n.use("en-US"):
            assert refusal != messages.PROMPT_EMPTY


@pytest.mark.parametrize(
    ("language_code", "caption_credits"),
    [("ja", "2 クレジット"), ("pt-br", "2 créditos"), ("de", "2 credits")],
)
async def test_a_telegram_user_reads_the_bot_in_their_apps_language(
    tmp_path: Path, language_code: str, caption_credits: str
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(
            png_bytes(128, 72), "/animate waves duration=2", language_code=language_code
        )
        fake.push_update(message=request)
        video = await world.video_for(request)
        await world.service.join()
        bad = fake.photo_message(
            png_bytes(128, 72), "/animate waves loop=maybe", language_code=language_code
        )
        fake.push_update(message=bad)
        refusal = await world.answer(5001)
    assert caption_credits in video["caption"]
    with i18n.use(language_code):
        frame = messages.bad_option("loop", "REASON").split("REASON")[0]
    assert refusal.startswith(frame)  # "オプション loop が正しくありません: …"


async def test_the_discord_commands_carry_their_descriptions_in_our_languages(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        await asyncio.wait_for(world.discord.synced.wait(), 10)
        commands = {c["name"]: c for c in world.discord.commands["global"]}
    animate, menu, admin = commands["animate"], commands["Animate"], commands["fpadmin"]
    assert animate["description_localizations"]["ja"] == "画像を短い動画にします。"
    assert (
        animate["description_localizations"]["es-419"] == "Convierte una imagen en un vídeo corto."
    )
    assert "en-GB" not in animate["description_localizations"]  # English is the default
    assert "fr" not in animate["description_localizations"]
    prompt = next(o for o in animate["options"] if o["name"] == "prompt")
    assert prompt["description_localizations"]["ru"].startswith("Что должно происходить")
    # Names are what people type and share: kept; the menu's name is a label: translated.
    assert not animate.get("name_localizations") and not prompt.get("name_localizations")
    assert menu["name_localizations"]["pt-BR"] == "Animar"
    grant = next(o for o in admin["options"] if o["name"] == "quota")["options"]
    assert {o["name"]: o["description_localizations"]["zh-CN"] for o in grant}["grant"] == (
        "今天（及本月）的额外积分"
    )


async def test_telegram_gets_a_command_menu_per_language(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        calls = world.telegram.of_method("setMyCommands")
    menus = {
        (c.params.get("language_code"), _decoded(c.params["scope"])["type"]): {
            command["command"]: command["description"] for command in _decoded(c.params["commands"])
        }
        for c in calls
    }
    assert set(menus) == {
        (code, scope)
        for code in (None, "ja", "zh", "ru", "es", "pt")
        for scope in ("all_private_chats", "all_group_chats")
    }
    assert menus[(None, "all_private_chats")]["quota"] == "Your credits left"
    assert menus[("ja", "all_private_chats")]["quota"] == "残りのクレジット"
    assert menus[("pt", "all_group_chats")]["safety"].startswith("Admins: ligar ou desligar")
    assert set(menus[("ru", "all_group_chats")]) == set(menus[(None, "all_group_chats")])


def _decoded(value):
    """A Bot API parameter as sent: JSON in a form field, or already in a JSON body."""
    return json.loads(value) if isinstance(value, str) else value


async def test_a_discord_user_chooses_their_language_with_slash_language(
    tmp_path: Path,
) -> None:
    def language(value: str) -> list[dict]:
        return [{"name": "language", "type": 3, "value": value}]

    async with discord_world(tmp_path) as world:
        chosen = await world.answer_to(await world.command("language", language("ja")))
        asked = await world.animate(extra_options=[TWO_SECONDS])  # an English client
        queued = await world.answer_to(asked)
        await world.service.join()
        back = await world.answer_to(await world.command("language", language("auto")))
        again = await world.answer_to(await world.animate(extra_options=[TWO_SECONDS]))
        await world.service.join()
    assert chosen == "これからは日本語でお答えします。"
    assert queued.startswith("キューに入りました")
    assert back == "From now on I answer you in your app's language (now English)."
    assert again.startswith("Queued")


async def test_a_telegram_user_chooses_their_language_with_slash_language(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        said = []
        for n, text in enumerate(("/language", "/language klingon", "/language pt-BR"), 1):
            fake.push_update(message=fake.message(text, language_code="en"))
            said.append(await world.answer(5001, n))  # one at a time: updates run at once
        menu, unknown, chosen = said
        request = fake.photo_message(png_bytes(128, 72), "/animate waves duration=2")
        fake.push_update(message=request)
        video = await world.video_for(request)
        await world.service.join()
    assert "/language ja · 日本語" in menu and menu.endswith("/language auto")
    assert unknown == menu  # not one of ours: the list again
    assert chosen == "A partir de agora respondo você em Português (Brasil)."
    assert "2 créditos" in video["caption"]


async def test_a_servers_language_captions_its_videos_unless_the_requester_chose_one(
    tmp_path: Path,
) -> None:
    admin = {"user_id": "700000000000000009", "permissions": str(1 << 5)}  # Manage Server
    set_ja = [{"name": "language", "type": 1, "options": [
        {"name": "language", "type": 3, "value": "ja"}]}]  # fmt: skip

    async def caption_of(asked: dict) -> str:
        (post,) = await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == asked["token"]
        )
        await world.service.join()
        return post.payload["content"]

    async with discord_world(tmp_path) as world:
        said = await world.answer_to(await world.command("fpadmin", set_ja, **admin))
        asked = await world.animate(extra_options=[TWO_SECONDS])  # an English client
        queued = await world.answer_to(asked)
        server_caption = await caption_of(asked)
        chosen = [{"name": "language", "type": 3, "value": "pt-BR"}]
        await world.answer_to(await world.command("language", chosen))
        own_caption = await caption_of(await world.animate(extra_options=[TWO_SECONDS]))
        refused = await world.answer_to(
            await world.command("fpadmin", set_ja, user_id="700000000000000003")
        )
    assert said.startswith("Videos in this server are now captioned in 日本語")
    assert queued.startswith("Queued")  # the answer to the requester: their language
    assert "2 クレジット" in server_caption  # what the channel sees: the server's
    assert "2 créditos" in own_caption  # a requester's own choice wins
    assert refused == "Only admins of this server or group, or the bot's operators, can do that."


def test_every_fixed_sentence_the_code_names_exists() -> None:
    """`messages.NAME` and `texts.NAME` are looked up when said (module __getattr__), so a
    misspelt name would pass the type check: every one the code uses is declared."""
    from bot.telegram import texts

    for module, name in (("messages", messages), ("texts", texts)):
        used = set()
        for path in (ROOT / "bot").rglob("*.py"):
            used |= set(re.findall(rf"\b{module}\.([A-Z][A-Z0-9_]+)\b", path.read_text()))
        assert used, module
        with i18n.use("ja"):
            assert [n for n in sorted(used) if not isinstance(getattr(name, n, None), str)] == []


def _labels(components: list[dict]) -> list[str]:
    """Every label in a Discord message's or form's components, in order."""
    found = []
    for component in components:
        if "label" in component:
            found.append(component["label"])
        found.extend(_labels(component.get("components", [])))
    return found


async def test_discord_buttons_and_forms_are_in_the_users_language(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        asked = await world.animate(extra_options=[TWO_SECONDS], locale="ja")
        (post,) = await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == asked["token"]
        )
        await world.service.join()
        target = world.discord.user_message("first", attachments=[world.image()])
        menu = world.discord.message_command("Animate", target, locale="ru")
        await world.discord.dispatch("INTERACTION_CREATE", menu)
        form = (await world.callback_for(menu)).payload["data"]
    assert _labels(post.payload["components"]) == ["再試行", "延長", "リミックス"]
    assert form["title"] == "Оживить это изображение"
    assert _labels(form["components"]) == [
        "Что должно произойти?",
        "Секунды (необязательно)",
        "Ссылка на последний кадр (необязательно)",
    ]


async def test_telegram_buttons_and_option_reasons_are_in_the_users_language(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(
            png_bytes(128, 72), "/animate waves duration=2", language_code="es"
        )
        fake.push_update(message=request)
        video = await world.video_for(request)
        await world.service.join()

        users = iter(range(7101, 7200))  # one each: a user may ask three times a minute

        def photo(options: str) -> dict:
            request = fake.photo_message(
                png_bytes(128, 72),
                f"/animate waves {options}",
                user_id=next(users),
                language_code="es",
            )
            fake.push_update(message=request)
            return request

        # Read by the chat's option parser: answered at once, in a message.
        photo("steps=many")
        not_a_number = await world.answer(5001, 1)
        photo("colour=red")
        unknown = await world.answer(5001, 2)
        # Refused by the core's options model: the status says so.
        too_many = await world.caption_of(photo("steps=100"), lambda c: "steps" in c)
        not_a_choice = await world.caption_of(photo("res=4k"), lambda c: "resolution" in c)
    assert list(buttons(video)) == ["Reintentar", "Alargar", "Remix"]
    assert not_a_number == "La opción steps no es válida: debe ser un número entero."
    assert unknown.startswith("No conozco la opción «colour». Opciones:")
    assert too_many == "La opción steps no es válida: debe ser como máximo 50."
    assert not_a_choice == "La opción resolution no es válida: debe ser uno de '480p' o '720p'."


async def test_a_telegram_groups_admin_sets_its_captions_language(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram

        async def say(user: int, text: str, n: int) -> str:
            fake.push_update(message=fake.message(text, chat_id=GROUP, user_id=user))
            return await world.answer(GROUP, n)

        refused = await say(MEMBER, "/group_language ja", 1)
        usage = await say(ADMIN, "/group_language klingon", 2)
        said = await say(ADMIN, "/group_language ja", 3)
        request = fake.photo_message(
            png_bytes(128, 72), "/animate waves duration=2", chat_id=GROUP, language_code="en"
        )
        fake.push_update(message=request)
        video = await world.video_for(request)
        await world.service.join()
    assert refused.startswith("Only admins")
    assert usage.startswith("Usage: /group_language <en-US | ja | zh-CN | ru | es-ES | pt-BR")
    assert said.startswith("Videos in this server are now captioned in 日本語")
    assert "2 クレジット" in video["caption"]
    assert list(buttons(video)) == ["再試行", "延長", "リミックス"]  # the buttons with it


@pytest.mark.parametrize("locale", i18n.LOCALES)
async def test_the_discord_forms_fit_discords_limits_in_every_language(locale: str) -> None:
    """Discord refuses a form whose title or a label is over 45 characters."""
    with i18n.use(locale):
        forms = [
            AnimateModal(None, SimpleNamespace(id=1)),  # type: ignore[arg-type]
            RemixForm("0123456789ab", "waves"),
        ]
    for form in forms:
        labels = _labels(form.to_components())
        assert len(labels) == len(form.children)
        assert all(0 < len(text) <= 45 for text in [form.title, *labels]), (form.title, labels)
