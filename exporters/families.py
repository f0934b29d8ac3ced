"""Fresh metric families made cheaply scrape after scrape, shared by the exporters.

``MetricSpec.family()`` validates the name and builds a family from scratch, and
prometheus-client's ``add_metric`` zips label names with values into a new dict for
every sample: on a collector of many samples that is most of the cost. A
:class:`FamilyTemplate` copies a family made once from the spec, and gives label dicts
memoised per label values (each sample still gets its own copy).
"""

from __future__ import annotations

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporters.spec import MetricSpec


class FamilyTemplate:
    """One spec's family made once, its sample name, and its memoised label dicts.

    ``max_label_sets`` bounds the memo: collectors cap their label values well below it,
    so reaching it means churn, and starting afresh is enough.
    """

    __slots__ = ("family", "label_names", "labels", "max_label_sets", "sample_name")

    def __init__(
        self, spec: MetricSpec, kinds: tuple[str, ...] = ("counter", "gauge"),
        max_label_sets: int = 1024,
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
        return Sample(self.sample_name, self.label_dict(values).copy(), value)
