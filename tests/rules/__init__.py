"""Tests of what the generated alerting and recording rules do, evaluated by promtool.

One place for every rule test, one naming: ``test_<area>[_<topic>]_rules.py`` evaluates
``rules/<area>.rules.yml`` on cases the generated tests (``rules/tests/``) do not reach;
``<area>[_<topic>].behaviour.test.yml`` are promtool files written by hand, all run by
``test_behaviour.py``. How the rules are rendered is tested under ``tests/generator/``.
"""
