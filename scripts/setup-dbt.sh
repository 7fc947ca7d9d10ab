#!/usr/bin/env bash
# Installs (once) the dbt toolchain pinned in dbt/requirements.txt (or the requirements file given
# as the first argument, e.g. benchmarks/requirements.txt) into a cached venv:
#   ${DATAMESH_CACHE:-$HOME/.cache/datamesh}/dbt/<first 12 hex of sha256(requirements file)>/venv
# The venv is built in a temporary sibling directory and renamed into place only after a
# successful install, so an interrupted run never leaves a half-built venv behind. When the
# venv is already there this is a fast no-op. The last line printed on stdout is
#   DBT_BIN=<venv>/bin/dbt
# Environment: DATAMESH_CACHE (cache root), DATAMESH_PYTHON (interpreter, default python3).
set -euo pipefail

log() { echo "[setup-dbt] $*" >&2; }
die() { log "error: $*"; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$(realpath "${1:-$repo_root/dbt/requirements.txt}")"
[[ -f "$requirements" ]] || die "missing $requirements"

python="${DATAMESH_PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || die "python interpreter '$python' not found"

hash="$(sha256sum "$requirements" | cut -c1-12)"
cache_root="${DATAMESH_CACHE:-$HOME/.cache/datamesh}"
base="$cache_root/dbt/$hash"
venv="$base/venv"

venv_ok() {
  [[ -x "$venv/bin/dbt" && -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' >/dev/null 2>&1
}

if venv_ok; then
  log "dbt venv already present: $venv"
  echo "DBT_BIN=$venv/bin/dbt"
  exit 0
fi

mkdir -p "$base"

# Serialise concurrent runs for the same requirements hash.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$base/.lock"
  flock 9
  if venv_ok; then
    log "dbt venv was installed by a concurrent run: $venv"
    echo "DBT_BIN=$venv/bin/dbt"
    exit 0
  fi
fi

"$python" - <<'PY' || die "$python is too old: dbt needs Python >= 3.10 (pins were frozen on 3.11)"
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

# A leftover venv that no longer runs (e.g. its base interpreter was removed) is replaced.
if [[ -e "$venv" ]]; then
  log "existing venv at $venv is broken; rebuilding it"
  stale="$(mktemp -d "$base/.stale.XXXXXX")"
  mv -T "$venv" "$stale/venv"
  rm -rf "$stale"
fi

tmp="$(mktemp -d "$base/.venv.tmp.XXXXXX")"
chmod u=rwx,go=rx "$tmp" # mktemp creates 0700; the venv is read by whoever runs dbt
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

log "creating venv with $("$python" --version 2>&1) in a temporary directory"
"$python" -m venv "$tmp"
log "installing $(grep -cE '^[A-Za-z0-9]' "$requirements") pinned packages from ${requirements#"$repo_root/"}$(grep -q -- '--hash=' "$requirements" && echo ', each file checked against its sha256')"
"$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "$requirements" >&2 || die "pip install failed"

# Scripts in bin/ (shebangs, activate*) embed the venv path: point them at the final location
# before the rename.
"$tmp/bin/python" - "$tmp" "$venv" <<'PY'
import pathlib, sys
old, new = (a.encode() for a in sys.argv[1:3])
root = pathlib.Path(sys.argv[1])
for path in [*(root / "bin").iterdir(), root / "pyvenv.cfg"]:
    if path.is_file() and not path.is_symlink():
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, new))
PY

mv -T "$tmp" "$venv"
trap - EXIT

"$venv/bin/dbt" --version >/dev/null 2>&1 || die "installed dbt does not run: $venv/bin/dbt --version"
log "dbt installed: $venv"
echo "DBT_BIN=$venv/bin/dbt"
