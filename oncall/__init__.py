"""The on-call loop: see what fires, acknowledge it, undo that, and read the history.

``promfleet-oncall`` talks to Alertmanager's v2 API and Prometheus' HTTP API. An
acknowledgement is an Alertmanager silence whose comment starts with ``ack: ``.
"""
