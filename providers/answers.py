"""Providers' answers read as data, never trusted as code.

Each client declares the shape it reads as an `Answer` model. Reading is lenient where
providers are sloppy and never raises: unknown keys are ignored, and a value of the
wrong shape (a string where a number belongs, a list where an object belongs) reads as
absent, so the client decides what an incomplete answer means (keep polling, a failed
job, an ambiguous submit) instead of crashing on it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @field_validator("*", mode="wrap")
    @classmethod
    def _absent_if_malformed(cls, value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:
            return None


A = TypeVar("A", bound=Answer)


def read(model: type[A], data: Any) -> A:
    """`data` (anything JSON gave) as `model`; never raises."""
    return model.model_validate(data if isinstance(data, dict) else {})


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _error_text(value: Any) -> str | None:
    """Whatever a provider put where its error goes, as one line (None when empty)."""
    if value in (None, "", [], {}, False):
        return None
    if isinstance(value, dict):
        for key in ("message", "detail", "raw_message", "error", "msg"):
            if value.get(key):
                return _error_text(value[key])
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)[:500]


def only_objects(value: Any) -> list[Any]:
    """A list of objects, keeping the entries that are objects (use with BeforeValidator
    on a `list[SomeAnswer]` field)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# Field types for answers.
Text = Annotated[str | None, BeforeValidator(_text)]
ErrorText = Annotated[str | None, BeforeValidator(_error_text)]
Items = Annotated[list[Any], BeforeValidator(_items)]


def is_web_url(url: str | None) -> bool:
    """An absolute http(s) URL with a host: the only kind we fetch."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
