"""Unit tests for option resolution: precedence, every problem reported, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters.runtime.config import ConfigError, env_name, help_text, resolve
from tests.fixtures.demo import EXPORTER

ENV = "PROMFLEET_DEMO_"


def test_defaults_apply_when_nothing_is_given() -> None:
    runtime, settings, want_help = resolve(EXPORTER, [], {})
    assert not want_help
    assert settings["demo.value"] == 1
    assert settings.sources["demo.value"] == "default"
    assert (runtime.listen_host, runtime.listen_port) == ("", EXPORTER.default_port)
    assert runtime.timeout_offset_s == 0.5
    assert runtime.default_timeout_s == 10.0


def test_flags_beat_environment_which_beats_file_which_beats_defaults(tmp_path: Path) -> None:
    config = tmp_path / "demo.yml"
    config.write_text("demo:\n  value: 3\n  sleep: 3s\ndemo.block: 30ms\n")
    environ = {f"{ENV}DEMO_VALUE": "2", f"{ENV}DEMO_SLEEP": "2s"}
    _, settings, _ = resolve(EXPORTER, [f"--config.file={config}", "--demo.value", "1"], environ)
    assert settings["demo.value"] == 1 and settings.sources["demo.value"] == "flag"
    assert settings["demo.sleep"] == 2.0 and settings.sources["demo.sleep"] == "env"
    assert settings["demo.block"] == pytest.approx(0.03)
    assert settings.sources["demo.block"] == "file"
    assert settings["demo.fail"] is False and settings.sources["demo.fail"] == "default"


def test_config_file_may_come_from_the_environment_and_use_underscored_keys(
    tmp_path: Path,
) -> None:
    config = tmp_path / "demo.yml"
    config.write_text("scrape:\n  timeout_offset: 250ms\n")
    runtime, _, _ = resolve(EXPORTER, [], {f"{ENV}CONFIG_FILE": str(config)})
    assert runtime.timeout_offset_s == pytest.approx(0.25)


def test_every_problem_from_every_source_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "demo.yml"
    config.write_text("demo.sleep: forever\nnot.an-option: 1\n")
    with pytest.raises(ConfigError) as caught:
        resolve(
            EXPORTER,
            [f"--config.file={config}", "--demo.value=-4", "--no-such-flag=1"],
            {f"{ENV}DEMO_FAIL": "maybe"},
        )
    problems = {(p.option, p.source.split(" ")[0]) for p in caught.value.problems}
    assert problems == {
        ("demo.value", "flag"),
        ("--no-such-flag", "flag"),
        ("demo.fail", "env"),
        ("demo.sleep", "file"),
        ("not.an-option", "file"),
    }
    message = str(caught.value)
    for name in ("demo.value", "--no-such-flag", "demo.fail", "demo.sleep", "not.an-option"):
        assert name in message


def test_a_missing_or_unparseable_config_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        resolve(EXPORTER, [f"--config.file={tmp_path / 'absent.yml'}"], {})
    broken = tmp_path / "broken.yml"
    broken.write_text("demo: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(EXPORTER, [f"--config.file={broken}"], {})


def test_a_secret_comes_from_a_file_named_in_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    runtime, settings, _ = resolve(EXPORTER, [], {f"{ENV}DEMO_PASSWORD_FILE": str(secret)})
    assert settings["demo.password"] == "s3cret-value"
    assert "s3cret-value" in runtime.secret_values
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in repr(runtime)


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("one")
    with pytest.raises(ConfigError, match="set one"):
        resolve(
            EXPORTER,
            [],
            {f"{ENV}DEMO_PASSWORD": "two", f"{ENV}DEMO_PASSWORD_FILE": str(secret)},
        )


def test_structured_options_take_yaml_text_from_flags_and_lists_from_the_file(
    tmp_path: Path,
) -> None:
    _, settings, _ = resolve(EXPORTER, ['--demo.kinds=["x", "y"]'], {})
    assert settings["demo.kinds"] == ("x", "y")
    config = tmp_path / "demo.yml"
    config.write_text("demo.kinds: [p, q]\n")
    _, settings, _ = resolve(EXPORTER, [f"--config.file={config}"], {})
    assert settings["demo.kinds"] == ("p", "q")


def test_a_boolean_flag_alone_means_true_and_a_listen_address_is_host_and_port() -> None:
    runtime, settings, _ = resolve(EXPORTER, ["--demo.fail", "--web.listen-address=[::1]:9300"], {})
    assert settings["demo.fail"] is True
    assert (runtime.listen_host, runtime.listen_port) == ("::1", 9300)


def test_help_lists_every_option_with_its_environment_name_and_default() -> None:
    _, _, want_help = resolve(EXPORTER, ["--help"], {})
    assert want_help
    text = help_text(EXPORTER)
    for option in EXPORTER.options:
        assert f"--{option.name}=" in text
        assert env_name("demo", option) in text
    assert "--scrape.timeout-offset=" in text and "0.5" in text
    assert "PROMFLEET_DEMO_DEMO_PASSWORD_FILE" in text
