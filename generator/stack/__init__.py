"""The live stack on loopback (``make run``/``up``/``down`` and the live tests).

``Stack`` starts the exporters, renders the catalogue with loopback settings into a
state directory and starts Prometheus and Alertmanager (the Debian binaries) on it.
"""

from generator.stack.members import Member, default_members, select
from generator.stack.process import StackError, free_port
from generator.stack.stack import Stack, StackConfig, Status, read_status

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
