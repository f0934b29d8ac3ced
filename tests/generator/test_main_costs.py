"""What a generator run does not do twice: the collector paused, outputs not re-read."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from generator.__main__ import gc_paused, marked_files, render_all, write
from generator.catalogue import load
from generator.model import Settings
from generator.render import MARKER


def test_the_garbage_collector_is_paused_during_a_run_and_enabled_again_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_garbage_collector_is_enabled_again_when_a_run_fails() -> None:
    with pytest.raises(RuntimeError, match="renderer failed"), gc_paused():
        raise RuntimeError("renderer failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_before_the_run_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_rendering_leaves_the_collector_as_it_found_it() -> None:
    render_all(load(), Settings())
    assert gc.isenabled()


def test_marked_files_skips_the_paths_it_is_given_and_still_finds_the_others(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "kept.rules.yml").write_text(f"# {MARKER}\ngroups: []\n")
    (tmp_path / "rules" / "old.rules.yml").write_text(f"# {MARKER}\ngroups: []\n")
    (tmp_path / "rules" / "mine.yml").write_text("groups: []\n")
    assert marked_files(tmp_path) == {"rules/kept.rules.yml", "rules/old.rules.yml"}
    assert marked_files(tmp_path, skip={"rules/kept.rules.yml"}) == {"rules/old.rules.yml"}


def test_a_second_write_changes_nothing_and_removes_only_stale_marked_files(
    tmp_path: Path,
) -> None:
    outputs = render_all(load(), Settings())
    written, removed = write(tmp_path, outputs)
    assert sorted(written) == sorted(outputs) and removed == []
    stale = tmp_path / "runbooks" / "GoneAlert.md"
    stale.write_text(f"<!-- {MARKER} -->\n# GoneAlert\n")
    written, removed = write(tmp_path, outputs)
    assert written == [] and removed == ["runbooks/GoneAlert.md"]
    assert not stale.exists()
    assert all((tmp_path / path).read_text(encoding="utf-8") == outputs[path] for path in outputs)
