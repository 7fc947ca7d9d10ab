#!/usr/bin/env bash
# Rewrites dbt/requirements.txt with the sha256 of every file PyPI has for each pinned release, so
# that pip installs exactly those files and refuses any other (pip's hash-checking mode, on as soon
# as one requirement carries a hash). The pins themselves do not change: edit them first, then run
# this. Uses pip-tools in a throwaway virtual environment.
#
# Usage: scripts/lock-dbt-requirements.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="$repo/dbt/requirements.txt"
PIP_TOOLS_VERSION=7.7.0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The header (its leading comment lines), then the pins alone: every `name==version` line, hashes and continuations dropped.
sed -n '/^#/!q;p' "$file" >"$work/header"
grep -oE '^[][A-Za-z0-9_.-]+==[^ \\]+' "$file" >"$work/requirements.in"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"
# No find-links of this machine's pip configuration may end up in the file.
PIP_FIND_LINKS='' "$work/venv/bin/pip-compile" --quiet --generate-hashes --no-header --no-annotate --allow-unsafe \
    --no-strip-extras --no-emit-find-links --output-file "$work/requirements.txt" "$work/requirements.in"
# The same releases, whatever extras pip-compile names (mashumaro[msgpack] is mashumaro).
pins() { grep -oE '^[][A-Za-z0-9_.-]+==[^ \\]+' "$1" | sed 's/\[[^]]*\]//' | tr 'A-Z_' 'a-z-' | sort; }
if ! diff <(pins "$work/requirements.in") <(pins "$work/requirements.txt") >"$work/diff"; then
    echo "lock-dbt-requirements: pip-compile changed the pins; fix them in $file first:" >&2
    cat "$work/diff" >&2
    exit 1
fi
cat "$work/header" "$work/requirements.txt" >"$file.partial"
mv "$file.partial" "$file"
echo "lock-dbt-requirements: $(grep -c '^[A-Za-z]' "$file") pins, $(grep -c -- '--hash=sha256:' "$file") hashes in $file" >&2
