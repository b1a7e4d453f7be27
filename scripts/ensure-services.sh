#!/usr/bin/env bash
# Make sure what the test suite talks to is there: dcmtk (storescu, echoscu), OpenSSH's sftp, zip, curl, git-annex, Orthanc, Debian's
# headless Chromium (the browser tests drive /usr/bin/chromium with Playwright), PostgreSQL
# (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379, the Celery broker of the pipeline
# tests). Installs and starts them when absent; the suite fails, never skips, when one
# cannot be reached.
set -euo pipefail

# The DICOM peers the suite talks to: dcmtk's storescu and echoscu.
if ! command -v storescu >/dev/null || ! command -v echoscu >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk
fi

# OpenSSH's sftp client (the SFTP server's real peer in the suite), and sshd with its
# sftp-server (the peer bench/sftp.py measures against), installed as programs: policy-rc.d
# keeps the package from starting its daemon while it installs.
if [ ! -x /usr/bin/sftp ] || [ ! -x /usr/lib/openssh/sftp-server ] || [ ! -x /usr/sbin/sshd ]; then
    apt-get update -qq
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client openssh-sftp-server \
        openssh-server
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# zip and unzip: the upload tests make and read archives with the standard tools.
if ! command -v zip >/dev/null || ! command -v unzip >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip unzip
fi

# curl: the XNAT-compatible API's tests run the recipes of XNAT's documentation with it.
if [ ! -x /usr/bin/curl ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl
fi

# Orthanc with Debian's DICOMweb plug-in: the DICOMweb peer of the STOW-RS and reference
# tests, started by the tests themselves. Installed as a program, not started as a service:
# policy-rc.d keeps the package from starting its daemon while it installs.
if [ ! -x /usr/sbin/Orthanc ] || [ ! -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; then
    apt-get update -qq
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# git-annex: DataLad datasets are made and cloned with it (docs/datalad.md); the DataLad
# tests run datalad and git-annex as a researcher does.
if ! command -v git-annex >/dev/null || ! command -v git >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git git-annex
fi

# The browser the web tests drive; Playwright's own browser builds are never downloaded.
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

# The HTTP load balancer the suite puts in front of a scaled-out deployment's web servers
# (tests/balancer.py runs its own, on a loopback port): the package's own service, which
# would listen on port 80 of every interface, is kept from starting (policy-rc.d).
if [ ! -x /usr/sbin/nginx ]; then
    apt-get update -qq
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
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

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi

if ! redis_up; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    if ! wait_for redis_up; then
        echo "ensure-services: Redis did not start on 127.0.0.1:6379" >&2
        exit 1
    fi
fi
