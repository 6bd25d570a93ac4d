#!/usr/bin/env bash
# A real PostgreSQL server on loopback for the test in which two tune workers share one Optuna
# study (tests/tune/test_search.py). Sourced by .ci/run, it exports NNRECIPE_TEST_POSTGRES_URL.
# Debian's `postgresql` package; needs root (CI runs as root). Idempotent: safe to run twice.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# The package creates one cluster ("main"); start it if it is down (no systemd in containers).
read -r PG_VERSION PG_CLUSTER PG_PORT PG_STATUS _ < <(pg_lsclusters --no-header | head -n 1)
if [ "$PG_STATUS" != "online" ]; then
  pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
fi
# listen_addresses defaults to localhost: the server is reachable on loopback only.
pg_psql() { su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qtA $*"; }
if [ "$(pg_psql "-c \"SELECT 1 FROM pg_roles WHERE rolname = 'nnrecipe'\"")" != "1" ]; then
  pg_psql "-c \"CREATE ROLE nnrecipe LOGIN PASSWORD 'nnrecipe'\""
fi
if [ "$(pg_psql "-c \"SELECT 1 FROM pg_database WHERE datname = 'nnrecipe_test'\"")" != "1" ]; then
  pg_psql "-c \"CREATE DATABASE nnrecipe_test OWNER nnrecipe\""
fi
export NNRECIPE_TEST_POSTGRES_URL="postgresql://nnrecipe:nnrecipe@127.0.0.1:${PG_PORT}/nnrecipe_test"
echo "PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT for the tune workers test"
