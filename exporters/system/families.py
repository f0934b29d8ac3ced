"""Fresh metric families for the system collectors, made cheaply scrape after scrape.

``MetricSpec.family()`` validates the name and builds a family from scratch, and
prometheus-client's ``add_metric`` zips label names with values into a new dict for
every sample: on a procfs collector that is most of the cost. A :class:`FamilyMaker`
copies a family made once from the spec, and appends samples directly, with label
dicts memoised per label values (each sample still gets its own dict).
"""

from __future__ import annotations

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporters.spec import MetricSpec
from exporters.system.metrics import SPECS

# Label sets remembered per family; device names are capped well below this by the
# collectors, so reaching it means churn, and starting afresh is enough.
MAX_LABEL_SETS = 1024


class FamilyMaker:
    """Makes fresh families of one counter or gauge spec, and adds samples to them."""

    __slots__ = ("_labels", "label_names", "sample_name", "template")

    def __init__(self, spec: MetricSpec) -> None:
        if spec.type not in ("counter", "gauge"):
            raise ValueError(f"{spec.name}: only counters and gauges, not {spec.type}")
        self.template: Metric = spec.family()
        # A counter family is named without _total; its samples carry it, as the spec does.
        self.sample_name = spec.name
        self.label_names = spec.labels
        self._labels: dict[tuple[str, ...], dict[str, str]] = {}

    def new(self) -> Metric:
        """An empty family, equal to ``spec.family()``."""
        family: Metric = object.__new__(type(self.template))
        family.__dict__.update(self.template.__dict__)
        family.samples = []
        return family

    def add(self, family: Metric, label_values: tuple[str, ...], value: float) -> None:
        """As ``family.add_metric(list(label_values), value)``."""
        labels = self._labels.get(label_values)
        if labels is None:
            if len(self._labels) >= MAX_LABEL_SETS:
                self._labels.clear()
            labels = dict(zip(self.label_names, label_values, strict=True))
            self._labels[label_values] = labels
        family.samples.append(Sample(self.sample_name, labels.copy(), value))

    def start(self) -> FamilyBuilder:
        """A new family with the maker at hand: ``builder.add(labels, value)``."""
        return FamilyBuilder(self, self.new())

    def one(self, value: float) -> Metric:
        """A label-less family with one sample."""
        family = self.new()
        family.samples.append(Sample(self.sample_name, {}, value))
        return family


class FamilyBuilder:
    """One family being filled in for this scrape."""

    __slots__ = ("family", "maker")

    def __init__(self, maker: FamilyMaker, family: Metric) -> None:
        self.maker = maker
        self.family = family

    def add(self, label_values: tuple[str, ...], value: float) -> None:
        self.maker.add(self.family, label_values, value)


MAKERS: dict[str, FamilyMaker] = {key: FamilyMaker(spec) for key, spec in SPECS.items()}
