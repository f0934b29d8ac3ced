"""Fresh metric families for the system collectors (see :mod:`exporters.families`)."""

from __future__ import annotations

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporters.families import FamilyTemplate
from exporters.spec import MetricSpec
from exporters.system.metrics import SPECS

# Label sets remembered per family; device names are capped well below this by the
# collectors, so reaching it means churn, and starting afresh is enough.
MAX_LABEL_SETS = 1024


class FamilyMaker(FamilyTemplate):
    """Makes fresh families of one counter or gauge spec, and adds samples to them."""

    __slots__ = ()

    def __init__(self, spec: MetricSpec) -> None:
        super().__init__(spec, ("counter", "gauge"), MAX_LABEL_SETS)

    def add(self, family: Metric, label_values: tuple[str, ...], value: float) -> None:
        """As ``family.add_metric(list(label_values), value)``."""
        family.samples.append(self.sample(label_values, value))

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
