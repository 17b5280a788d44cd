#!/bin/sh
# First start of the postgres container (docker-entrypoint-initdb.d): the CRM's database and its
# two roles. docs/deployment.md says how to do the same on a managed database.
#
#   crm_owner  owns the database and everything migrations create; only `migrate` connects as it.
#   crm_app    web, worker and beat; `migrate` grants it what the application needs and, on the
#              audit trail, INSERT and SELECT only (crm/db_roles.py). It owns nothing.
#
# Runs once, when the data volume is empty; passwords come from the container's environment.
set -eu

: "${POSTGRES_OWNER_PASSWORD:?set POSTGRES_OWNER_PASSWORD}"
: "${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set owner_password="$POSTGRES_OWNER_PASSWORD" \
    --set app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE crm_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE crm_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_password';
CREATE DATABASE crm OWNER crm_owner ENCODING 'UTF8';
REVOKE ALL ON DATABASE crm FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE crm TO crm_app;
\connect crm
-- PostgreSQL 15 and later: the public schema belongs to the database owner and nobody else
-- may create in it; said here too, for a server that was upgraded from an older version.
ALTER SCHEMA public OWNER TO crm_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
