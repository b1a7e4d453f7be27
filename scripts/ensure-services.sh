#!/usr/bin/env bash
# Make sure what the test suite talks to is there: dcmtk, and the PostgreSQL server
# (127.0.0.1:5432, trust auth).
# Installs and starts it when absent; the suite fails, never skips, when it cannot be reached.
set -euo pipefail

# The DICOM peers the suite talks to: dcmtk's storescu and echoscu.
if ! command -v storescu >/dev/null || ! command -v echoscu >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

wait_for() {
    for _ in $(seq 1 60); do
        if "$@"; then return 0; fi
        sleep 0.5
    done
    return 1
}

if ! command -v pg_isready >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
    # A machine that runs only tests: trust local connections, as on our CI machines.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
        printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' > "$hba"
    done
fi

if ! pg_up; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    if ! wait_for pg_up; then
        echo "ensure-services: PostgreSQL did not start on 127.0.0.1:5432" >&2
        exit 1
    fi
fi
