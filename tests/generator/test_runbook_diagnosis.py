"""Diagnosis steps of the system and meta runbooks are commands an on-call engineer can
paste: every inline snippet is PromQL that parses and names only metrics that exist, and
every shell block is valid shell once its ``<label>`` placeholders are filled in."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from generator.catalogue import meta, system
from generator.model import Area, Threshold
from generator.validate import known_metrics_from_exporters, metric_names

AREAS = (system.AREA, meta.AREA)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
SHELL = re.compile(r"```sh\n(.*?)\n```", re.S)
PLACEHOLDER = re.compile(r"<([a-z_]+)>")
BASH = shutil.which("bash")


def alerts() -> list[tuple[Area, Threshold]]:
    return [(area, t) for area in AREAS for t in area.thresholds]


def ids() -> list[str]:
    return [t.name for _, t in alerts()]


def inline_promql(threshold: Threshold) -> list[str]:
    return [
        snippet
        for step in threshold.runbook.diagnosis
        for snippet in INLINE.findall(SHELL.sub("", step))
    ]


@pytest.mark.parametrize(("area", "threshold"), alerts(), ids=ids())
def test_every_inline_diagnosis_query_parses_and_names_known_metrics(
    area: Area, threshold: Threshold
) -> None:
    known = (
        known_metrics_from_exporters()
        | {r.record for a in AREAS for r in a.recording_rules}
        | set(area.external_metrics)
    )
    queries = inline_promql(threshold)
    assert queries, f"{threshold.name}: no PromQL in its diagnosis"
    for query in queries:
        for name, is_regex in metric_names(query):  # raises when it does not parse
            if is_regex:
                assert any(re.fullmatch(name, k) for k in known), (threshold.name, query)
            else:
                assert name in known, (threshold.name, query)


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@pytest.mark.parametrize(("area", "threshold"), alerts(), ids=ids())
def test_every_diagnosis_has_shell_commands_that_bash_can_parse(
    area: Area, threshold: Threshold
) -> None:
    assert BASH is not None
    blocks = [b for step in threshold.runbook.diagnosis for b in SHELL.findall(step)]
    assert blocks, f"{threshold.name}: no shell commands in its diagnosis"
    for block in blocks:
        filled = PLACEHOLDER.sub(lambda m: m.group(1).upper(), block)
        result = subprocess.run(
            [BASH, "-n"], input=filled, capture_output=True, text=True, timeout=10, check=False
        )
        assert result.returncode == 0, (threshold.name, block, result.stderr)


def test_placeholders_in_diagnosis_name_labels_the_alert_carries() -> None:
    for _, threshold in alerts():
        labels = {"job", "instance"} | {
            name for level in threshold.levels for name, _ in level.test.labels
        }
        labels |= {"receiver"}  # notification failures: the failing receiver's files
        for step in threshold.runbook.diagnosis:
            for name in PLACEHOLDER.findall(step):
                assert name in labels, (threshold.name, name, step)


def test_the_bash_check_notices_a_broken_command() -> None:
    assert BASH is not None
    result = subprocess.run(
        [BASH, "-n"], input="df -h <mountpoint>\n", capture_output=True, text=True, timeout=10
    )
    assert result.returncode != 0  # an unfilled placeholder is a redirection to nowhere
