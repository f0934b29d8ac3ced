"""Application instrumentation: the ``promfleet_app_*`` families services publish.

``METRICS`` declares every family the library can publish (the generator checks the
application rules against it). Importing this package loads prometheus-client only;
the framework glue lives in ``aiohttp_middleware`` (aiohttp server), ``asgi`` (any
ASGI framework, no import of one) and ``client`` (aiohttp client trace).
"""

from exporters.app.instrument import Instrumentation, status_class
from exporters.app.metrics import METRICS, NAMESPACE, InstrumentationConfig

__all__ = ["METRICS", "NAMESPACE", "Instrumentation", "InstrumentationConfig", "status_class"]
