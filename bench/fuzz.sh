#!/usr/bin/env bash
# Runs the engine's property tests (every `proptests::` test: image references, registry documents, the
# tar applier against its model, -v/--mount/--tmpfs and -p parsing, seccomp profiles) at length, one
# property at a time: CASES cases each (default 200000), the tar applier's TAR_CASES (default 15000, each
# case unpacks a layer to disk). Prints each property's case count, time and outcome, and the minimal
# failing input of every finding; exits non-zero when there is one. Run as root so whiteouts are generated.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-200000}"
TAR_CASES="${TAR_CASES:-15000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"

built=$(cargo test -p berth-engine --lib --locked --no-run 2>&1 | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))$/\1/p')
[ -x "$built" ] || { echo "fuzz: could not build the engine's test binary" >&2; exit 1; }
out=$(mktemp -d /var/tmp/berth-fuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT
# A copy, so a build during the run cannot swap the binary between properties.
bin="$out/engine-tests"
cp "$built" "$bin"
# cargo test runs from the crate's directory; so does the binary here.
cd engine
mapfile -t properties < <("$bin" --list proptests:: 2>/dev/null | sed -n 's/: test$//p')
[ "${#properties[@]}" -gt 0 ] || { echo "fuzz: no property tests found" >&2; exit 1; }

total=0 findings=0 start=$SECONDS
printf '%-92s %9s %8s  %s\n' property cases seconds result
for p in "${properties[@]}"; do
  case "$p" in layer::*) n=$TAR_CASES ;; *) n=$CASES ;; esac
  t0=$SECONDS
  if PROPTEST_CASES=$n "$bin" --exact "$p" --test-threads=1 >"$out/log" 2>&1; then
    result=ok
  else
    result=FINDING
    findings=$((findings + 1))
  fi
  total=$((total + n))
  printf '%-92s %9d %8d  %s\n' "$p" "$n" $((SECONDS - t0)) "$result"
  if [ "$result" != ok ]; then
    # The panic message: the failure and proptest's minimal failing input, up to the backtrace.
    sed -n '/panicked at/,/^stack backtrace/p' "$out/log" | grep -v '^stack backtrace' | head -60 | sed 's/^/    /'
  fi
done
echo "properties: ${#properties[@]}  cases: $total  findings: $findings  seconds: $((SECONDS - start))"
[ "$findings" -eq 0 ]
