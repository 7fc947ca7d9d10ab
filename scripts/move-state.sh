#!/usr/bin/env bash
# Moves a checkout's state out of .pulumi-state (which `git clean -xfd` deletes) into the user's state
# folder that scripts/env.sh uses, with the passphrase that encrypts it. Refuses to merge into a state
# folder that already holds stacks, since their secrets may be under another passphrase.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
unset PULUMI_BACKEND_URL
# shellcheck source=env.sh
. "$repo/scripts/env.sh" 2>/dev/null
[[ -d "$DATAMESH_LEGACY_BACKEND/.pulumi" ]] || { echo "move-state: $DATAMESH_LEGACY_BACKEND holds no state; nothing to move" >&2; exit 1; }
target="$DATAMESH_STATE_HOME/backend"
if [[ -d "$target/.pulumi" ]]; then
  echo "move-state: $target already holds a state; move the stacks by hand (pulumi stack export/import) so that no secret is left under another passphrase" >&2
  exit 1
fi
(umask 077 && mkdir -p "$DATAMESH_STATE_HOME")
rm -rf "$target"
if [[ -s "$DATAMESH_LEGACY_PASSPHRASE" ]]; then
  [[ ! -s "$DATAMESH_STATE_HOME/passphrase" ]] || cmp -s "$DATAMESH_LEGACY_PASSPHRASE" "$DATAMESH_STATE_HOME/passphrase" || {
    echo "move-state: $DATAMESH_STATE_HOME/passphrase differs from this checkout's ($DATAMESH_LEGACY_PASSPHRASE); the state would not be readable with it" >&2
    exit 1
  }
  (umask 077 && cp "$DATAMESH_LEGACY_PASSPHRASE" "$DATAMESH_STATE_HOME/passphrase")
fi
mv "$DATAMESH_LEGACY_BACKEND" "$target"
echo "move-state: the state is now in $target, its passphrase in $DATAMESH_STATE_HOME/passphrase; back up $DATAMESH_STATE_HOME"
