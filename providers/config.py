"""What a provider takes from configuration: the settings every remote provider has,
which its module extends with its own (its default base URL, its options). The bot's
configuration (`bot.config`) has one section per provider in the registry, made of
these; providers/ imports nothing of the bot's."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

Seconds = Annotated[float, Field(gt=0, le=86_400)]

MIN_SECRET = 8  # characters


def _plausible_secret(value: SecretStr | None) -> SecretStr | None:
    # A token or key this short is a mistake (a placeholder, a cut paste), and would
    # make the log's redaction blank out every occurrence of those few letters.
    if value is not None and len(value.get_secret_value()) < MIN_SECRET:
        raise ValueError(
            f"is under {MIN_SECRET} characters: not a real token or key (check what was pasted)"
        )
    return value


def _blank_is_unset(value: Any) -> Any:
    # `DISCORD_TOKEN=` as a copied .env.example leaves it: not set, not a short token.
    return None if isinstance(value, str) and not value.strip() else value


Secret = Annotated[
    SecretStr | None, BeforeValidator(_blank_is_unset), AfterValidator(_plausible_secret)
]


class Section(BaseModel):
    """A config section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteProviderConfig(Section):
    enabled: bool = True
    api_key: Secret = None
    base_url: AnyUrl | None = None
    connect_timeout: Seconds = 10
    read_timeout: Seconds = 60
    poll_interval: Annotated[float, Field(ge=0.5, le=60)] = 3
    max_poll_interval: Annotated[float, Field(ge=0.5, le=300)] = 15
    # Overall limit for one job, from submit to a downloaded result.
    deadline: Seconds = 1800
    # Requests (submits and status polls) in flight at once; waiting jobs hold none.
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 16

    @property
    def usable(self) -> bool:
        return self.enabled and self.api_key is not None and self.base_url is not None

    @model_validator(mode="after")
    def _poll_bounds(self) -> RemoteProviderConfig:
        if self.max_poll_interval < self.poll_interval:
            raise ValueError("max_poll_interval must be at least poll_interval")
        return self
