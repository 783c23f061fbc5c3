#!/bin/sh
# Run once by the postgres image when it creates the database: let the application's user stream
# WAL to a replica (compose profile "ha", docs/scaling.md) with the same password authentication
# the image uses for every other connection.
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
