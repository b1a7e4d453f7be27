#!/usr/bin/env bash
# Fetch the image viewer: the prebuilt OHIF viewer that the npm package @ohif/app ships in
# its dist/ folder, at the version pinned here, checked against the integrity hash the npm
# registry published for it. No Node build step: the files are served as they are
# (docs/operations.md, "The image viewer").
#
#   scripts/fetch-viewer.sh DEST    # DEST: usually .venv/share/scandepot/ohif
#
# The package's tarball is kept in $SCANDEPOT_CACHE_DIR (default ~/.cache/scandepot), so a
# new virtual environment does not download it again. Installs npm with apt-get (Debian
# package npm) when it is absent. Does nothing when DEST already holds this version.
set -euo pipefail

OHIF_VERSION=3.13.2
# `npm view @ohif/app@3.13.2 dist.integrity`
OHIF_INTEGRITY=sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==

dest=${1:?usage: scripts/fetch-viewer.sh DEST}
python=${PYTHON:-python3}
cache=${SCANDEPOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/scandepot}
stamp="@ohif/app@$OHIF_VERSION $OHIF_INTEGRITY"
marker=.scandepot-viewer  # read by scandepot: which version the folder holds

if [ -f "$dest/$marker" ] && [ "$(cat "$dest/$marker")" = "$stamp" ]; then
    exit 0
fi

if ! command -v npm >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        echo "fetch-viewer: npm is needed to fetch the viewer, and there is no apt-get to install it" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm
fi

# The npm integrity string of a file: "sha512-" and the base64 of its SHA-512 digest.
integrity() {
    "$python" -c 'import base64, hashlib, sys
with open(sys.argv[1], "rb") as f:
    print("sha512-" + base64.b64encode(hashlib.file_digest(f, "sha512").digest()).decode())' "$1"
}

mkdir -p "$cache"
tarball="$cache/ohif-app-$OHIF_VERSION.tgz"
if [ ! -f "$tarball" ] || [ "$(integrity "$tarball")" != "$OHIF_INTEGRITY" ]; then
    rm -f "$tarball"
    echo "fetch-viewer: fetching @ohif/app@$OHIF_VERSION (about 50 MB) with npm"
    (cd "$cache" && npm pack "@ohif/app@$OHIF_VERSION" --silent >/dev/null)
fi
found=$(integrity "$tarball")
if [ "$found" != "$OHIF_INTEGRITY" ]; then
    rm -f "$tarball"
    echo "fetch-viewer: @ohif/app@$OHIF_VERSION has integrity $found, not the pinned $OHIF_INTEGRITY; nothing installed" >&2
    exit 1
fi

# Unpacked next to DEST, then put in its place: DEST is never half-written.
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d "$(dirname "$dest")/.ohif-unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" package/dist
if [ ! -f "$work/package/dist/index.html" ]; then
    echo "fetch-viewer: the tarball of @ohif/app@$OHIF_VERSION holds no dist/index.html" >&2
    exit 1
fi
printf '%s\n' "$stamp" > "$work/package/dist/$marker"
rm -rf "$dest"
mv "$work/package/dist" "$dest"
echo "fetch-viewer: OHIF $OHIF_VERSION is in $dest"
