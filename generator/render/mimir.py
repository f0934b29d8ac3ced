"""Renders ``deploy/mimir/<file>.yml``: every rule file of rules/ as a Mimir ruler
namespace file (``namespace:`` then ``groups:``; ``mimirtool rules load``), the
namespace ``promfleet-<file>``; a group the ``mimir_source_tenants`` setting names is a
federated group that reads those tenants (``source_tenants``). Derived from the rendered
rule files, so every group reaches it."""

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

# Fields of a Mimir namespace file that Prometheus' own promtool does not know.
MIMIR_ONLY_TOP_FIELDS = ("namespace",)
MIMIR_ONLY_GROUP_FIELDS = ("source_tenants",)


def namespace(stem: str) -> str:
    return f"promfleet-{stem}"


def derive(outputs: Mapping[str, str], catalogue: Catalogue, settings: Settings) -> dict[str, str]:
    files = rule_files(outputs, settings)
    pairs = settings.mimir_source_tenants
    check_group_settings("mimir_source_tenants", (g for g, _ in pairs), files)
    out = {}
    for file in files:
        groups: list[dict[str, Any]] = []
        for group in file.groups:
            tenants = for_group(pairs, str(group["name"]))
            head: dict[str, Any] = {"name": group["name"]}
            if tenants:
                head["source_tenants"] = list(tenants)
            groups.append({**head, **{k: v for k, v in group.items() if k != "name"}})
        notes = [f"Mimir ruler namespace from {file.path} "
                 f"(mimirtool rules load deploy/mimir/{file.stem}.yml)."]
        out[f"deploy/mimir/{file.stem}.yml"] = render_document(
            {"namespace": namespace(file.stem), "groups": groups}, [*notes, *file.notes]
        )
    return out
