#!/usr/bin/env bash
# e2e-full.sh runs the full profile's end-to-end test (TestE2EFullProfile in e2e/) the
# way `go tool task e2e:full` does:
#   1. full.sh bundle: the full profile's images, charts and config, then a labsbx
#      offline bundle of them (everything cached by its inputs; cold, about an hour);
#   2. the e2e test binary;
#   3. engine.sh run: the test on a private Docker engine in a network namespace of its
#      own, stopped afterwards whatever the outcome.
#
# Usage: LABSBX_BIN=path/to/labsbx e2e-full.sh [go test flags, e.g. -test.run PATTERN]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LOG_PREFIX=e2e-full
# shellcheck source=lib.sh
. "$HERE/lib.sh"

bin=${LABSBX_BIN:-}
[[ -x $bin ]] || die "LABSBX_BIN must name the labsbx binary (go tool task build)"
t0=$(now)
bundle=$(bash "$HERE/full.sh" bundle)
config=$(bash "$HERE/full.sh" config)
log "images and bundle ready in $(($(now) - t0))s"

tmp=$(mktemp -d)
CLEANUP+=("$tmp")
(cd "$ROOT" && go test -c -o "$tmp/e2e.test" ./e2e)

t1=$(now)
cd "$ROOT/e2e" # the test reads ../examples
set +e
bash "$HERE/engine.sh" run -- env LABSBX_BIN="$bin" LABSBX_E2E_FULL_BUNDLE="$bundle" LABSBX_E2E_FULL_CONFIG="$config" \
	"$tmp/e2e.test" -test.run '^TestE2EFullProfile$' -test.v -test.count 1 -test.timeout 45m "$@"
rc=$?
set -e
log "test on the private engine: exit $rc in $(($(now) - t1))s; the tier took $(($(now) - t0))s"
exit "$rc"
