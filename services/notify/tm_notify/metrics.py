"""notify's own metrics, in the process-wide registry that tm_common.metrics serves."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# How far back the sent and failed emails are counted (the queue keeps every row for good).
RECENT_SECONDS = 3600

QUEUE_EMAILS = Gauge(
    "tm_notify_queue_emails",
    "Emails in the send queue, by state: queued (no attempt yet) and retrying (waiting after a failed "
    "attempt) count every waiting email; sent and failed (given up) only the emails queued in the last "
    "hour. Sampled every few seconds.",
    ("state",),
)
EMAILS = Counter(
    "tm_notify_emails_total",
    "Emails whose send ended, by outcome: sent, retried (an attempt failed, to be tried again), failed "
    "(given up: out of attempts, or expired).",
    ("outcome",),
)
SENT = EMAILS.labels("sent")
RETRIED = EMAILS.labels("retried")
FAILED = EMAILS.labels("failed")
