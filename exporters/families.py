"""The one way to build metric families: templates made once from the specs, filled per scrape.

``MetricSpec.family()`` validates the name and builds a family from scratch, and
prometheus-client's ``add_metric`` zips label names with values into a new dict for
every sample: on a collector of many samples that is most of the cost. :class:`Families`
holds one :class:`FamilyTemplate` per spec of a declaration, by short name (the
namespace left off); a template copies a family made once from the spec and memoises
label dicts per label values (each sample still gets its own copy). Per scrape, a
collector either fills a :class:`FamilyBatch` (``add(short, labels, value)``, families
in the order of their first sample) or asks a template for one family
(``start()``/``one()``/:meth:`Families.family`). The results equal ``spec.family()``
filled with ``add_metric``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporters.spec import MetricSpec

KINDS = ("counter", "gauge", "info")


def _sample_maker() -> Callable[[str, dict[str, str], float], Sample]:
    """``Sample(name, labels, value)`` without the namedtuple's Python-level ``__new__``.

    Half the cost of a sample on the hot path; used only where every field after the
    value defaults to None, as in the prometheus-client versions we run on.
    """
    tail = Sample._fields[3:]
    if Sample._fields[:3] != ("name", "labels", "value") or any(
        Sample._field_defaults.get(f, ...) is not None for f in tail
    ):
        return Sample
    new = tuple.__new__
    if len(tail) == 3:
        return lambda name, labels, value: new(Sample, (name, labels, value, None, None, None))
    if len(tail) == 2:
        return lambda name, labels, value: new(Sample, (name, labels, value, None, None))
    return Sample


_sample = _sample_maker()
# Label dicts remembered per template; collectors cap their label values well below
# this, so reaching it means churn, and starting afresh is enough.
MAX_LABEL_SETS = 4096


class FamilyTemplate:
    """One spec's family made once, its sample name, and its memoised label dicts.

    An info family's samples have the value 1 (the labels are the information).
    """

    __slots__ = ("family", "label_names", "labels", "max_label_sets", "sample_name")

    def __init__(
        self, spec: MetricSpec, kinds: tuple[str, ...] = KINDS,
        max_label_sets: int = MAX_LABEL_SETS,
    ) -> None:
        if spec.type not in kinds:
            raise ValueError(f"{spec.name}: only {', '.join(kinds)}, not {spec.type}")
        self.family: Metric = spec.family()
        # A counter family is named without _total and an info family without _info;
        # their samples carry the suffix, as the spec's name does.
        self.sample_name = spec.name
        self.label_names = spec.labels
        self.labels: dict[tuple[str, ...], dict[str, str]] = {}
        self.max_label_sets = max_label_sets

    def new(self) -> Metric:
        """An empty family, equal to ``spec.family()``."""
        family: Metric = object.__new__(type(self.family))
        family.__dict__.update(self.family.__dict__)
        family.samples = []
        return family

    def label_dict(self, values: tuple[str, ...]) -> dict[str, str]:
        """The memoised label dict of ``values`` (callers copy it into their sample)."""
        labels = self.labels.get(values)
        if labels is None:
            if len(self.labels) >= self.max_label_sets:
                self.labels.clear()
            labels = self.labels[values] = dict(zip(self.label_names, values, strict=True))
        return labels

    def sample(self, values: tuple[str, ...], value: float) -> Sample:
        return _sample(self.sample_name, self.label_dict(values).copy(), value)

    def add(self, family: Metric, label_values: tuple[str, ...], value: float) -> None:
        """As ``family.add_metric(list(label_values), value)``."""
        family.samples.append(self.sample(label_values, value))

    def start(self) -> FamilyBuilder:
        """A new family with the template at hand: ``builder.add(labels, value)``."""
        return FamilyBuilder(self, self.new())

    def one(self, value: float) -> Metric:
        """A label-less family with one sample."""
        family = self.new()
        family.samples.append(_sample(self.sample_name, {}, value))
        return family


class FamilyBuilder:
    """One family being filled in for this scrape."""

    __slots__ = ("family", "template")

    def __init__(self, template: FamilyTemplate, family: Metric) -> None:
        self.template = template
        self.family = family

    def add(self, label_values: tuple[str, ...], value: float) -> None:
        self.template.add(self.family, label_values, value)


class Families:
    """The templates of one declaration's specs, by short name (``prefix`` left off)."""

    __slots__ = ("_templates",)

    def __init__(
        self, specs: Iterable[MetricSpec], prefix: str = "",
        max_label_sets: int = MAX_LABEL_SETS,
    ) -> None:
        self._templates: dict[str, FamilyTemplate] = {
            spec.name.removeprefix(prefix): FamilyTemplate(spec, KINDS, max_label_sets)
            for spec in specs
        }

    def __getitem__(self, short: str) -> FamilyTemplate:
        return self._templates[short]

    def start(self) -> FamilyBatch:
        """An empty set of families for one scrape."""
        return FamilyBatch(self._templates)

    def family(self, short: str, values: Mapping[tuple[str, ...], float]) -> Metric:
        """One fresh family with a sample per label tuple of ``values``."""
        template = self._templates[short]
        family = template.new()
        family.samples.extend(template.sample(key, value) for key, value in values.items())
        return family


class FamilyBatch:
    """The families of one scrape: ``add(short name, label values, value)``, then ``list()``.

    Families are listed in the order of their first sample; a family without one is
    left out.
    """

    __slots__ = ("_families", "_open", "_templates")

    def __init__(self, templates: dict[str, FamilyTemplate]) -> None:
        self._templates = templates
        self._families: list[Metric] = []
        # short name -> (the family's sample list, its template)
        self._open: dict[str, tuple[list[Sample], FamilyTemplate]] = {}

    def add(self, short: str, label_values: tuple[str, ...], value: float | None) -> None:
        """One sample (none when ``value`` is None); ``label_values`` in declared order."""
        if value is None:
            return
        entry = self._open.get(short)
        if entry is None:
            template = self._templates[short]
            family = template.new()
            self._families.append(family)
            entry = self._open[short] = (family.samples, template)
        samples, template = entry
        labels = template.labels.get(label_values) or template.label_dict(label_values)
        samples.append(_sample(template.sample_name, labels.copy(), value))

    def list(self) -> list[Metric]:
        return self._families
