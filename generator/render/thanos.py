"""Renders ``deploy/thanos/<file>.rules.yml``: every rule file of rules/ for the Thanos
ruler (``thanos rule --rule-file``), each group with the ``partial_response_strategy``
the ``thanos_partial_response_strategy`` setting gives it (none: Thanos' default,
``abort``). Derived from the rendered rule files, so every group reaches it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.model import Catalogue, Settings
from generator.render._deploy import (
    check_group_settings,
    for_group,
    render_document,
    rule_files,
)

# Fields of a Thanos rule file that Prometheus' own promtool does not know.
THANOS_ONLY_GROUP_FIELDS = ("partial_response_strategy",)


def derive(outputs: Mapping[str, str], catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    files = rule_files(outputs, settings)
    pairs = settings.thanos_partial_response_strategy
    check_group_settings("thanos_partial_response_strategy", (g for g, _ in pairs), files)
    out = {}
    for file in files:
        groups: list[dict[str, Any]] = []
        for group in file.groups:
            strategy = for_group(pairs, str(group["name"]))
            head = {"name": group["name"]}
            if strategy:
                head["partial_response_strategy"] = strategy
            groups.append({**head, **{k: v for k, v in group.items() if k != "name"}})
        notes = [f"Thanos ruler rule file from {file.path} (thanos rule --rule-file=...)."]
        out[f"deploy/thanos/{file.stem}.rules.yml"] = render_document(
            {"groups": groups}, [*notes, *file.notes]
        )
    return out
