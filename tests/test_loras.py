"""LoRAs from the chat: picked by name (`lora=wave:0.7`), refused clearly where they
cannot be (a remote backend, a name the operator did not install, a bad weight), and
on the local engine loaded once and set per job. The engine's side in detail:
tests/test_local_engine.py."""

from __future__ import annotations

from pathlib import Path

from bot.core.api import Accepted, Refused
from providers.contract import LoraChoice, format_loras, parse_loras
from tests.support import tiny_framepack as tiny
from tests.support.service_world import animate, local_service, service_world


class AdapterLog:
    """diffusers' pipeline with its set_adapters calls kept (what the engine asked)."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.set: list[tuple[list[str], list[float]]] = []

    def __getattr__(self, name: str):
        return getattr(self.pipe, name)

    def __call__(self, **kwargs):
        return self.pipe(**kwargs)

    def set_adapters(self, names, weights) -> None:
        self.set.append((list(names), list(weights)))
        self.pipe.set_adapters(names, weights)


def test_lora_choices_read_and_write_as_users_type_them() -> None:
    assert parse_loras("Wave:0.7, glow") == (
        LoraChoice(name="wave", weight=0.7),
        LoraChoice(name="glow"),
    )
    assert format_loras(parse_loras("wave:0.7,glow")) == "wave:0.7,glow"
    assert parse_loras("") == ()


async def test_a_remote_backend_refuses_a_lora_and_bad_choices_are_one_line(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        remote = await world.service.submit(animate(lora="wave"))
        too_many = await world.service.submit(animate(lora="a,b,c"))
        heavy = await world.service.submit(animate(lora="wave:5"))
    assert isinstance(remote, Refused) and "LoRAs work on the local engine only" in remote.message
    assert isinstance(too_many, Refused) and "at most 2 LoRAs at once" in too_many.message
    assert isinstance(heavy, Refused) and "“wave:5” is not a LoRA choice" in heavy.message
    assert world.fake.submits == 0


async def test_the_local_engine_takes_installed_loras_with_their_default_weight(
    tmp_path: Path,
) -> None:
    wave = tiny.save_lora(tmp_path / "wave")
    engine = tiny.engine(
        tmp_path / "tiny",
        loras={"wave": wave},
    )
    engine.pipe = log = AdapterLog(engine.pipe)
    async with local_service(tmp_path, engine, loras={"wave": 0.8}) as world:
        unknown = await world.service.submit(animate(lora="sparkle"))
        outcomes = []
        for lora in ("wave", "wave:0.3"):
            outcomes.append(await world.service.submit(animate(num_frames=30, steps=4, lora=lora)))
            await world.service.join()
        states = [(await world.store.jobs.require(o.job_id)).state.value for o in outcomes]
    assert isinstance(unknown, Refused) and "no LoRA named sparkle here (wave)" in unknown.message
    assert all(isinstance(o, Accepted) for o in outcomes) and states == ["delivered"] * 2
    assert log.set == [(["wave"], [0.8]), (["wave"], [0.3])]  # the operator's default, then asked
    assert engine.loras.loads == 1
