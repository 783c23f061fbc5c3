"""Database connection settings for the settings modules: SQLite for the embedded default, and
PostgreSQL connections that are kept, pooled or made safe for PgBouncer."""

from typing import Any


def database_settings(
    config: dict[str, Any],
    *,
    conn_max_age: int,
    connect_timeout: int,
    pool: bool,
    pool_max_size: int,
    pgbouncer: bool,
) -> dict[str, Any]:
    """One DATABASES entry for a parsed database URL."""
    options = config.setdefault("OPTIONS", {})
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL and IMMEDIATE transactions let web, worker and scheduler processes share one file
        # without "database is locked" surprises.
        options.update(
            init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            transaction_mode="IMMEDIATE",
            timeout=20,
        )
        return config
    # A database that does not answer must fail health checks and requests fast, not hang them.
    options["connect_timeout"] = connect_timeout
    if pgbouncer:
        # PgBouncer in transaction mode hands each transaction to any server connection: a cursor
        # held across transactions and statements prepared on one connection would not be there.
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
        options["prepare_threshold"] = None
    if pool:
        # Django's psycopg pool, one per process: connections are checked out per request or task
        # and returned; persistent connections (CONN_MAX_AGE) do not mix with it.
        # Django has the pool check each connection before handing it out.
        options["pool"] = {"min_size": 1, "max_size": pool_max_size, "timeout": connect_timeout}
        config["CONN_MAX_AGE"] = 0
    else:
        # Kept for this many seconds per process (web worker or Celery process), checked before reuse.
        config["CONN_MAX_AGE"] = conn_max_age
        config["CONN_HEALTH_CHECKS"] = True
    return config
