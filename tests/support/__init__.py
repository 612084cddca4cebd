"""Everything the tests share: loopback fakes of the platforms and providers
(`fakes/`), worlds that wire the real libraries to them (`*_world.py`), media and
engine builders, and the processes some tests run (`helpers/`). Tests import from
here, never from one another; pytest fixtures are in tests/conftest.py."""
