"""One engine for every outbox: rows in a table wait for their time, a drain claims them in batches,
hands them to the caller's sender and leaves a timer wake for what comes due next.

- claim.py: the claim (one UPDATE over locked candidates, skipping rows another drain holds) and
  the rows whose lease ran out; the only module that locks rows for claiming.
- lease.py: a claim's lease, renewed while the drain that holds it works.
- drain.py: the budgeted drain loop with its timer wake.
- backoff.py: exponential backoff with full jitter, and fixed retry schedules.

Users (the delivery outbox of apps.notifications, the webhook outbox of apps.webhooks) keep only what is
theirs: which rows are due, how one batch is sent, how outcomes are recorded.
"""
