"""What the parts of the ``training`` area share: the labels of its test series, the
dashboard selector, the status directory its runbooks list and the escalation text.
No alert, rule or panel lives here."""

from __future__ import annotations

HOST = (("instance", "trainer-1:9108"), ("job", "training"))
MODEL = (*HOST, ("model", "resnet50"))
JOB_ID = (*MODEL, ("job_id", "run-42"))
GPU = (*HOST, ("gpu", "0"))
SEL = 'job=~"$job",instance=~"$instance"'
STATUS_DIR = "ls -l --time-style=+%FT%T /var/lib/promfleet/training"

ESCALATE = (
    "Hand over to the owning ML team in working hours; page the engineering on-call "
    "engineer when a production model or a deadline-bound training run is affected."
)
