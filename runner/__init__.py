"""The live stack on loopback (``make run``/``up``/``down`` and the live tests).

``Stack`` starts the exporters, renders the catalogue with loopback settings into a
state directory and starts Prometheus and Alertmanager (the Debian binaries) on it.
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
