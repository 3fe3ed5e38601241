#!/usr/bin/env bash
# Installs PostgreSQL's server binaries from Debian's packages, unless they are there.
# The tests start their own server from them (tests/postgres.py); none is started here.
set -euo pipefail
if compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  echo "PostgreSQL is installed: $(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n1)"
  exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl'
