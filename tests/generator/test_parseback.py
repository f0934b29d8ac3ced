"""The parse-back loader gives exactly what PyYAML's safe loader gives: values and errors."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.__main__ import render_all
from generator.catalogue import load
from generator.model import Settings
from generator.parseback import load_yaml

SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Everything the direct path hands back to the safe constructor, and what it keeps.
DOCUMENTS = [
    "",
    "# only a comment\n",
    "a: 1\nb: [2.5, true, null, ~, 0x1F, 1e3, .inf, -.inf, 0o17]\n",
    "a: &x [1, *x]\n",
    "&a {b: *a}\n",
    "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",
    "<<: {a: 1}\n",
    "a: &s text\nb: *s\n",
    "- &m {k: v}\n- *m\n",
    "a: b\na: c\n",
    "'quoted': \"x\\ny\"\n",
    "a: !!str 3\n",
    "x: !!map {a: 1}\ny: !!seq [1]\n",
    "a: !!set {x, y}\n",
    "a: !!omap [a: 1, b: 2]\n",
    "t: 2001-12-14t21:59:43.10-05:00\nd: 2002-12-14\n",
    "b: !!binary aGVsbG8=\n",
    "- !!int '12'\n- !!float '1.5'\n- !!bool 'yes'\n",
]
BROKEN = [
    "? [a]\n: 1\n",
    "{[a]: 1}\n",
    "{? {a: 1} : 2}\n",
    "a: !foo 3\n",
    "<<: 3\n",
    "a: [\n",
    "a: *missing\n",
    "--- 1\n--- 2\n",
]


def _outcome(text: str, load: Any) -> tuple[str, str]:
    try:
        return "value", repr(load(text))
    except yaml.YAMLError as err:
        return "error", str(err)


def _safe(text: str) -> Any:
    return yaml.load(text, Loader=SAFE)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_document_loads_to_the_same_values_as_with_the_safe_loader(text: str) -> None:
    assert _outcome(text, load_yaml) == _outcome(text, _safe)
    assert _outcome(text, load_yaml)[0] == "value"


@pytest.mark.parametrize("text", BROKEN)
def test_a_broken_document_fails_with_the_safe_loaders_own_error(text: str) -> None:
    assert _outcome(text, load_yaml) == _outcome(text, _safe)
    assert _outcome(text, load_yaml)[0] == "error"


def test_a_quoted_scalar_stays_a_string_and_a_plain_one_is_resolved() -> None:
    assert load_yaml('a: "1"\nb: 1\nc: "true"\nd: true\ne: ""\nf:\n') == {
        "a": "1",
        "b": 1,
        "c": "true",
        "d": True,
        "e": "",
        "f": None,
    }


def test_every_rendered_yaml_output_loads_to_the_same_values_as_with_the_safe_loader() -> None:
    outputs = render_all(load(), Settings())
    yaml_outputs = {p: t for p, t in outputs.items() if p.endswith((".yml", ".yaml"))}
    assert len(yaml_outputs) > 10
    for path, text in yaml_outputs.items():
        assert load_yaml(text) == _safe(text), path


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=_values, flow=st.sampled_from([None, True, False]), share=st.booleans())
def test_any_dumped_structure_loads_back_the_same_as_with_the_safe_loader(
    value: Any, flow: bool | None, share: bool
) -> None:
    # Shared sub-structures are dumped as anchors and aliases.
    document = {"one": value, "two": value} if share else value
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    assert _outcome(text, load_yaml) == _outcome(text, _safe)
