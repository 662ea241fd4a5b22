#!/usr/bin/env bash
# test_server.sh — `slm serve` end to end: starts two real servers on free loopback ports
# (A: stories260K, a sentence-transformers MiniLM and the bert_tiny task heads, an API key,
# --parallel 4; B: stories260K alone with one slot and a queue of one), runs the node tests
# in tests/server (the official `openai` client, raw HTTP, load, disconnects, SIGTERM, and the
# page in headless Chromium through playwright-core), then stops A with SIGTERM and checks
# that both exited 0 with nothing from the sanitizers (a `make test SAN=1` binary) on stderr.
# Installs node, npm and chromium (apt-get) and the node packages (npm ci) when missing.
# SLM_BIN names the binary; the page screenshot goes to build/server_page.png.
set -u
slm=${SLM_BIN:-build/slm}
data=${SLM_TEST_DATA:-tests/data}
passed=0
failed=0
check() { # check DESCRIPTION CONDITION-STATUS
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1" >&2; fi
}
abs() { (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); }

missing=""
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
command -v chromium >/dev/null || missing="$missing chromium"
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ ! -d tests/server/node_modules ]; then
    (cd tests/server && npm ci --no-audit --no-fund --silent) || { echo "npm ci failed"; echo "RESULT 0 passed, 1 failed"; exit 1; }
fi

scratch=$(mktemp -d /tmp/slm-server-XXXXXX)
pid_a=""
pid_b=""
cleanup() {
    for p in $pid_a $pid_b; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$scratch"
}
trap cleanup EXIT
for head in mlm seqcls tokcls qa; do # the bert_tiny heads ship without a tokenizer
    mkdir "$scratch/$head"
    ln -s "$(abs $data/fixtures/bert_tiny/$head/config.json)" "$scratch/$head/config.json"
    ln -s "$(abs $data/fixtures/bert_tiny/$head/model.safetensors)" "$scratch/$head/model.safetensors"
    ln -s "$(abs $data/tasks/vocab.txt)" "$scratch/$head/vocab.txt"
done

stories=models/stories260K/stories260K.bin
st=$data/fixtures/sbert_minilm/st_model
key=test-key-$$

# Waits for the "serving ... on http://host:port" line and prints the port.
port_of() {
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.*serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1")
        [ -n "$port" ] && { echo "$port"; return 0; }
        sleep 0.1
    done
    return 1
}

$slm serve stories260K=$stories st_model=$st mlm=$scratch/mlm seqcls=$scratch/seqcls tokcls=$scratch/tokcls \
    qa=$scratch/qa --port 0 --api-key "$key" --parallel 4 --queue 16 --threads 1 --max-body 65536 --max-depth 32 \
    --max-n 4 --max-tokens 512 2>"$scratch/a.err" &
pid_a=$!
$slm serve $stories --port 0 --parallel 1 --queue 1 --threads 1 2>"$scratch/b.err" &
pid_b=$!
port_a=$(port_of "$scratch/a.err"); check "server A starts on a free port" $?
port_b=$(port_of "$scratch/b.err"); check "server B starts on a free port" $?

mkdir -p build
# An instrumented binary: load.mjs then compares decode steps, not wall time (see there).
sanitized=0
ldd "$slm" 2>/dev/null | grep -q libasan && sanitized=1
SLM_SANITIZED=$sanitized SLM_BASE=http://127.0.0.1:$port_a SLM_BASE_SMALL=http://127.0.0.1:$port_b SLM_API_KEY=$key SLM_BIN=$slm \
    SLM_MODEL=$stories SLM_EMBED_MODEL=$st SLM_TASK_DIR=$scratch SLM_PID_SMALL=$pid_b \
    SLM_SCREENSHOT=build/server_page.png node tests/server/run.mjs >"$scratch/node.out" 2>&1
grep -v '^NODE ' "$scratch/node.out" >&2
tally=$(grep -E '^NODE [0-9]+ passed, [0-9]+ failed$' "$scratch/node.out" | tail -n 1)
if [ -n "$tally" ]; then
    passed=$((passed + $(echo "$tally" | awk '{print $2}')))
    failed=$((failed + $(echo "$tally" | awk '{print $4}')))
else
    check "the node tests ran to their tally" 1
fi
[ -s build/server_page.png ]; check "a screenshot of the page was saved" $?

wait "$pid_b"; rc=$?
pid_b=""
check "server B exits 0 after SIGTERM (exit $rc)" $rc
kill -TERM "$pid_a"
wait "$pid_a"; rc=$?
pid_a=""
check "server A exits 0 after SIGTERM (exit $rc)" $rc
grep -q "stopped" "$scratch/a.err"; check "server A drained and stopped" $?
for f in a b; do
    ! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY:' "$scratch/$f.err"
    check "server $f: nothing from the sanitizers" $?
done
grep -h -A 24 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$scratch/a.err" "$scratch/b.err" | head -n 60 >&2
echo "RESULT $passed passed, $failed failed"
[ "$failed" = 0 ]
