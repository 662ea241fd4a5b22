#!/usr/bin/env bash
# Runs every test program given on the command line and prints "N passed, N failed".
# A program that crashes or prints no tally counts as one failure.
set -u
passed=0
failed=0
for t in "$@"; do
    out=$("$t" 2>&1)
    rc=$?
    tally=$(printf '%s\n' "$out" | grep -E '^RESULT [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$tally" ]; then
        printf '%s\n' "$out" | tail -n 20
        echo "CRASH $t (exit $rc, no tally)"
        failed=$((failed + 1))
        continue
    fi
    p=$(echo "$tally" | awk '{print $2}')
    f=$(echo "$tally" | awk '{print $4}')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" != 0 ] || [ "$rc" != 0 ]; then
        printf '%s\n' "$out" | grep -v '^RESULT' | tail -n 40
        [ "$f" = 0 ] && failed=$((failed + 1))
        echo "FAILED $t: $p passed, $f failed (exit $rc)"
    else
        echo "ok     $t: $p checks"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
