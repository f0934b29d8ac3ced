"""The local runner: the live stack on loopback (``make run``/``up``/``down``, the live tests).

``Stack`` starts the exporters and demo writers of the service table (:mod:`topology`),
renders the catalogue with loopback settings into a state directory and starts
Prometheus and Alertmanager (the Debian binaries) on it. It sits on top: it imports the
generator and the exporter registry, and nothing imports it.
"""

from runner.members import Member, default_members, select
from runner.process import StackError, free_port
from runner.stack import Stack, StackConfig, Status, read_status

__all__ = [
    "Member",
    "Stack",
    "StackConfig",
    "StackError",
    "Status",
    "default_members",
    "free_port",
    "read_status",
    "select",
]
