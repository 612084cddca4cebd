"""The registry of remote providers: every module of this package (or of a `providers/`
folder elsewhere on the path, see __init__) that names its client in `PROVIDER`.

Each client class carries what the rest of the bot reads about it — its name, its
models with their modes and ranges (`capabilities`), its config section
(`config_class`: whether it is enabled, its key, its options) and the variable its own
documentation names for the key (`key_variable`). The config, the Discord choices, the
Telegram help, the CLI, `doctor` and the README's table read it here, so a new
provider is its module, its fake and its tests."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from providers.remote import RemoteProvider

# Modules of the package that hold no remote client (the local engine's adapter has
# its own config section and is imported only by whoever enables it).
NOT_CLIENTS = frozenset(
    {"answers", "catalog", "config", "contract", "errors", "local", "mp4", "registry", "remote"}
    | {"transport"}
)


def discover(package: str, path: Iterable[str]) -> dict[str, type[RemoteProvider]]:
    """name -> client class, in the order the clients ask for (`listed`), then by name."""
    found: dict[str, type[RemoteProvider]] = {}
    for module in pkgutil.iter_modules(list(path)):
        if module.ispkg or module.name in NOT_CLIENTS or module.name.startswith("_"):
            continue
        client = getattr(importlib.import_module(f"{package}.{module.name}"), "PROVIDER", None)
        if isinstance(client, type) and issubclass(client, RemoteProvider):
            if client.name in found:
                raise RuntimeError(f"two providers are called {client.name!r}")
            found[client.name] = client
    return dict(sorted(found.items(), key=lambda item: (_listed(item[1]), item[0])))


def _listed(client: type[RemoteProvider]) -> int:
    # The client's own place, not one it inherits: a client built on another's
    # (as one speaking fal's API may be) does not jump the queue with it.
    place = vars(client).get("listed", RemoteProvider.listed)
    return place if isinstance(place, int) else RemoteProvider.listed
