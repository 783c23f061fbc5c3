#!/bin/sh
# Run once by the postgres image when it creates the database: the role the application connects as.
# It owns what it creates in the database's public schema (migrations make the tables) and nothing
# else: no superuser, no new databases or roles, so a compromised process cannot read other databases,
# run programs on the server (COPY ... PROGRAM) or change roles. POSTGRES_USER stays the administrator.
# Tests run this file against the local PostgreSQL (tests/deploy/test_compose.py).
set -eu
: "${APP_DB_USER:=notifications_app}"
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v app_user="$APP_DB_USER" -v app_password="$APP_DB_PASSWORD" -v db="${POSTGRES_DB:-postgres}" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app_user";
GRANT USAGE, CREATE ON SCHEMA public TO :"app_user";
SQL
