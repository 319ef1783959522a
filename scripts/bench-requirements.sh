# Sourced by the benchmark drivers (after env.sh): bench_requirements NAME installs
# scripts/requirements/bench/NAME.txt, a peer the tests do not need, into the project venv,
# once per version of that file (a stamp in the venv records its hash).
bench_requirements() {
    local req="$ROOT/scripts/requirements/bench/$1.txt" py="$VENV/bin/python"
    local stamp="$VENV/.lrpo-bench-$1.sha256" want
    if [[ ! -x "$py" ]]; then
        echo "$(basename "$0"): no venv at $VENV: run scripts/setup.sh first" >&2
        exit 1
    fi
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        printf '== installing %s into %s\n' "$req" "$VENV"
        "$py" -m pip install --quiet --disable-pip-version-check --no-cache-dir -r "$req"
        echo "$want" > "$stamp"
    fi
}
