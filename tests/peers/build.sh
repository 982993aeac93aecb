#!/usr/bin/env bash
# Build every Go test peer (a folder under tests/peers/ with a go.mod) into tests/peers/bin/<folder>,
# or only the peers named as arguments. Modules come from the Go module proxy at the versions
# pinned in each go.mod and go.sum. Any failure (no Go, a module the proxy will not serve, a
# checksum mismatch) is reported with Go's own error, and the script exits non-zero.
set -uo pipefail
peers="$(cd "$(dirname "$0")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
    echo "tests/peers/build.sh: 'go' is not on PATH; the Go interop peers need Go 1.25 or newer" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    names=("$@")
else
    names=()
    for dir in "$peers"/*/; do
        [ -f "$dir/go.mod" ] && names+=("$(basename "$dir")")
    done
fi
if [ "${#names[@]}" -eq 0 ]; then
    echo "tests/peers/build.sh: no Go peer (a folder with a go.mod) under tests/peers/" >&2
    exit 1
fi

mkdir -p "$peers/bin"
failed=()
for name in "${names[@]}"; do
    if [ ! -f "$peers/$name/go.mod" ]; then
        echo "tests/peers/build.sh: no Go peer '$name' (tests/peers/$name/go.mod is missing)" >&2
        failed+=("$name")
        continue
    fi
    echo "tests/peers/build.sh: (cd tests/peers/$name && go build -mod=readonly -buildvcs=false -trimpath -o ../bin/$name .)"
    if ! (cd "$peers/$name" && go build -mod=readonly -buildvcs=false -trimpath -o "$peers/bin/$name" .); then
        echo "tests/peers/build.sh: building the Go peer '$name' failed (Go's error above)" >&2
        failed+=("$name")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "tests/peers/build.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "tests/peers/build.sh: built ${names[*]} into tests/peers/bin/"
