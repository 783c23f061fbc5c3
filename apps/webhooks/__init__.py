"""Outbound webhooks (docs/design.md, "Webhooks"): endpoints per API key, an outbox of signed
events written with the delivery changes they report, and the drain that sends them."""
