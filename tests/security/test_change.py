"""Change windows and deployers: which configuration changes are planned."""

from __future__ import annotations

import datetime as dt

import pytest

from exporters.security import OPTIONS
from exporters.security.change import ChangePolicy, ChangeWindow, parse_names, parse_windows


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("window", "when", "inside"),
    [
        ("Mon-Fri 09:00-17:00", "2024-05-01T10:40", True),  # a Wednesday
        ("Mon-Fri 09:00-17:00", "2024-05-01T17:00", False),  # the end is not inside
        ("Mon-Fri 09:00-17:00", "2024-05-04T10:00", False),  # a Saturday
        ("Sat,Sun 02:00-06:00", "2024-05-05T03:00", True),  # a Sunday
        ("01:00-03:00", "2024-05-07T02:59", True),  # every day
        ("Fri 22:00-02:00", "2024-05-03T23:30", True),  # Friday evening
        ("Fri 22:00-02:00", "2024-05-04T01:30", True),  # ...past midnight into Saturday
        ("Fri 22:00-02:00", "2024-05-04T23:30", False),  # Saturday evening is not Friday's
        ("Sat-Mon 00:00-24:00", "2024-05-06T12:00", True),  # a range across the week's end
        ("Sat-Mon 00:00-24:00", "2024-05-07T12:00", False),
    ],
)
def test_a_window_holds_the_times_it_names_in_utc(window: str, when: str, inside: bool) -> None:
    assert ChangeWindow.parse(window).contains(at(when)) is inside


@pytest.mark.parametrize("bad", ["Mon-Fri", "Funday 09:00-10:00", "25:00-26:00", "09:61-10:00"])
def test_a_window_that_cannot_be_read_is_refused_with_its_text(bad: str) -> None:
    with pytest.raises(ValueError, match="change window"):
        ChangeWindow.parse(bad)


def test_the_deploy_pipeline_comes_first_then_the_windows_then_drift() -> None:
    policy = ChangePolicy(
        deployers=parse_names("deploy-bot, argocd"),
        windows=parse_windows(["Tue 20:00-22:00"]),
    )
    tuesday_evening, wednesday = at("2024-04-30T21:00"), at("2024-05-01T10:00")
    assert policy.origin("argocd", wednesday) == "deploy_pipeline"
    assert policy.origin("alice", tuesday_evening) == "change_window"
    assert policy.origin(None, tuesday_evening) == "change_window"
    assert policy.origin("alice", wednesday) == "unplanned"
    assert ChangePolicy().origin("deploy-bot", wednesday) == "unplanned"  # nothing declared


def test_the_options_read_lists_from_the_config_file() -> None:
    options = {option.name: option for option in OPTIONS}
    assert options["config-change.deployers"].parse(["ci", "deploy-bot"]) == {"ci", "deploy-bot"}
    (window,) = options["config-change.windows"].parse(["Mon-Fri 09:00-17:00"])
    assert window.days == frozenset(range(5))
