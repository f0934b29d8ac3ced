"""Tests of the shared runtime: exporters/runtime/, exporters/spec.py, exporters/targets.py,
the registry and exporters.docs; exporters are stood in for by tests/fixtures/demo.py."""
