#!/usr/bin/env bash
# Build SeaweedFS (Apache-2.0), the S3-compatible server the artifact store's
# S3 tests run against, from the Go module proxy's source. Builds only when
# the binary is missing; the build takes several minutes on two cores.
#
#   scripts/seaweedfs.sh            # builds ~/.cache/weft/weed (or $WEFT_WEED)
#
# SeaweedFS publishes no semver tags, so the version is a pinned
# pseudo-version; `go list -m -json github.com/seaweedfs/seaweedfs@latest`
# names the newest one.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"

version=v0.0.0-20261109003541-7506e5f91cd6
out=${WEFT_WEED:-$HOME/.cache/weft/weed}

if [ -x "$out" ]; then
  exit 0
fi
mkdir -p "$(dirname "$out")"
dir=$(go mod download -json "github.com/seaweedfs/seaweedfs@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "seaweedfs.sh: go mod download of github.com/seaweedfs/seaweedfs@$version gave no folder" >&2
  exit 1
fi
# The module folder is read-only and its go.mod has replace directives, so
# `go install pkg@version` is refused: build inside a writable copy.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$dir" "$work/seaweedfs"
chmod -R u+w "$work/seaweedfs"
echo "seaweedfs.sh: building SeaweedFS $version into $out (several minutes)" >&2
(cd "$work/seaweedfs" && CGO_ENABLED=0 nice go build -o "$out.tmp" ./weed)
mv "$out.tmp" "$out"
echo "seaweedfs.sh: built $out" >&2
