"""Outbound webhooks (shared/DESIGN.md section 10): signing and URL safety so far; endpoints, the
event outbox and sending are the next steps of issue 14."""
