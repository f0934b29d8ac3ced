"""The order in which tests find their shared servers: environment, container, local."""

from __future__ import annotations

import pytest

from tests import services


def test_the_environment_wins_over_a_container_and_the_local_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMFLEET_TEST_X", "host=db.example port=6543")

    def container() -> str:
        raise AssertionError("no container may start when the environment names a server")

    assert services._resolve("PROMFLEET_TEST_X", container, "local", True) == (
        "host=db.example port=6543"
    )


def test_a_container_is_used_where_docker_runs_and_exported_to_subprocesses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMFLEET_TEST_X", raising=False)
    got = services._resolve("PROMFLEET_TEST_X", lambda: "redis://container:1/0", "local", True)
    assert got == "redis://container:1/0"
    import os

    assert os.environ["PROMFLEET_TEST_X"] == "redis://container:1/0"


def test_without_docker_the_local_server_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMFLEET_TEST_X", raising=False)

    def container() -> str:
        raise AssertionError("no container without a Docker engine")

    assert services._resolve("PROMFLEET_TEST_X", container, "local", False) == "local"
