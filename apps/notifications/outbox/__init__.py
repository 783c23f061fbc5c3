"""The delivery engine: claim (batch claim), pump (drain a channel), record (bulk outcomes), policy (retry
rules), sweep (recovery). docs/delivery-guarantees.md names the module of each rule."""
