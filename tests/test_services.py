"""The order in which tests find their shared servers: environment, container, local."""

from __future__ import annotations

import os

import pytest

from tests import services

VAR = "PROMFLEET_TEST_X"


@pytest.fixture()
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """VAR unset now, and unset again after the test (whatever ``_resolve`` exported)."""
    monkeypatch.setenv(VAR, "recorded so that teardown removes it")
    monkeypatch.delenv(VAR)


def test_the_environment_wins_over_a_container_and_the_local_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VAR, "host=db.example port=6543")

    def container() -> str:
        raise AssertionError("no container may start when the environment names a server")

    assert services._resolve(VAR, container, "local", True) == "host=db.example port=6543"


def test_a_container_is_used_where_docker_runs_and_exported_to_subprocesses(unset: None) -> None:
    got = services._resolve(VAR, lambda: "redis://container:1/0", "local", True)
    assert got == "redis://container:1/0"
    assert os.environ[VAR] == "redis://container:1/0"


def test_without_docker_the_local_server_is_used_and_exported(unset: None) -> None:
    def container() -> str:
        raise AssertionError("no container without a Docker engine")

    assert services._resolve(VAR, container, "local", False) == "local"
    assert os.environ[VAR] == "local"


def test_no_variable_leaks_out_of_these_tests() -> None:
    assert VAR not in os.environ
