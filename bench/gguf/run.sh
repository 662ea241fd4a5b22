#!/usr/bin/env bash
# bench/gguf/run.sh — slm against llama.cpp (node-llama-cpp 3.21.1, CPU) on the
# identical GGUF file: prompt tok/s (128 tokens), decode tok/s (64 greedy
# steps) and peak RSS, at 1 and 2 threads, for random-weight models of two
# real shapes written by `slm quantize`:
#   GPT-2-small (124M) in f32, f16, q8_0, q4_0, q4_k;
#   Phi-1.5 (1.42B) in f16, q8_0, q4_0, q4_k.
# Each configuration runs slm (build/bench_generate) and llama.cpp
# (bench_llamacpp.mjs) back to back, one process each, so each peak RSS is its
# own. The host is shared, so the 1-minute load average is stored beside every
# row; contention only ever slows a run down, so with REPEAT (or reruns) the
# fastest decode of each configuration is the one reported. Results:
# bench/out/gguf/results.jsonl, table: summarize.py.
# Not a test: nothing here asserts a speed.
#
# Environment knobs (to rerun some rows when the machine is quiet):
#   ONLY="gpt2-small-q4_0 phi-1_5-q8_0"  run only these files (results appended)
#   THREADS="1 2"                        thread counts
#   REPEAT=2 (default)                   measure each pair N times, the order
#                                        alternating (summarize.py keeps the best)
#   GPT2_TYPES, PHI_TYPES                the types of each shape
#   KEEP=1                               reuse the GGUF files even where build/slm is newer
#   GPT2_SHAPE=gpt2-tiny PHI_SHAPE=phi-tiny  a smoke test of this script in seconds
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/out
gg=$out/gguf
mkdir -p "$gg"
THREADS=${THREADS:-"1 2"}
GPT2_TYPES=${GPT2_TYPES:-"f32 f16 q8_0 q4_0 q4_k"}
PHI_TYPES=${PHI_TYPES:-"f16 q8_0 q4_0 q4_k"}
ONLY=${ONLY:-}
REPEAT=${REPEAT:-2}
KEEP=${KEEP:-}
GPT2_SHAPE=${GPT2_SHAPE:-gpt2-small}
PHI_SHAPE=${PHI_SHAPE:-phi-1_5}

CFLAGS="-std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -pthread -Iinclude -Isrc"
LIBS="build/libslm.a -lpcre2-8 -ljansson -lutf8proc -lm -pthread"
make -s -j2 all
cc $CFLAGS bench/bench_generate.c $LIBS -o build/bench_generate
cc $CFLAGS bench/make_random_model.c $LIBS -o build/make_random_model
cc -O2 -pthread bench/membw.c -o build/membw
if [ ! -d bench/gguf/node_modules/node-llama-cpp ]; then
    (cd bench/gguf && npm install --no-audit --no-fund)
fi

# A random-weight folder with the real tokenizer beside it (its config.json is
# the model's own: only the tokenizer files are copied).
make_folder() { # shape dtype tokenizer-dir
    local dir=$out/$1-$2
    [ -f "$dir/model.safetensors" ] || build/make_random_model "$dir" --shape "$1" --dtype "$2"
    for f in "$3"/*; do
        case $(basename "$f") in config.json) ;; *) cp "$f" "$dir/" ;; esac
    done
}
make_folder "$GPT2_SHAPE" f32 tests/data/tokenizers/gpt2
make_folder "$PHI_SHAPE" f16 tests/data/tokenizers/phi-1_5

wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# GGUF files, rewritten whenever slm is newer than them (its writer may have changed).
files=()
for spec in "$GPT2_SHAPE f32:$GPT2_TYPES" "$PHI_SHAPE f16:$PHI_TYPES"; do
    shape_dtype=${spec%%:*}
    shape=${shape_dtype% *}
    src=$out/${shape}-${shape_dtype#* }
    for type in ${spec#*:}; do
        name=$shape-$type
        wanted "$name" || continue
        file=$gg/$name.gguf
        if [ ! -f "$file" ] || { [ -z "$KEEP" ] && [ build/slm -nt "$file" ]; }; then
            build/slm quantize "$src" "$file" --type "$type"
        fi
        files+=("$name")
    done
done

# Appends one result line with the shape, the type and the load average.
record() { # name json
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    printf '%s\n' "${2%\}}, \"file\": \"$1\", \"load1\": $load, \"pages_from\": \"${pages_from:-}\", \"at\": \"$(date -u +%FT%TZ)\"}" | tee -a "$gg/results.jsonl"
}

[ -n "$ONLY" ] || : > "$gg/results.jsonl"
echo "uptime before: $(uptime)"
for threads in $THREADS; do
    record membw "$(build/membw "$threads")"
done
# One measurement: its JSON line is recorded, or, when it fails, its stderr
# (verbatim, in NAME-IMPL-tN.err) and an error row.
measure() { # impl name threads command...
    local impl=$1 name=$2 threads=$3 json err=$gg/$2-$1-t$3.err
    shift 3
    if json=$(timeout 600 "$@" 2>"$err"); then
        record "$name" "$json"
        [ -s "$err" ] || rm -f "$err"
    else
        echo "$impl failed on $name (threads $threads):" >&2
        cat "$err" >&2
        record "$name" "{\"impl\": \"$impl\", \"threads\": $threads, \"error_file\": \"$err\"}"
    fi
}

# Drops a file's pages from the page cache (they are clean, so nothing is lost).
evict() {
    python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}

for name in "${files[@]}"; do
    file=$gg/$name.gguf
    for threads in $THREADS; do
        for ((rep = 0; rep < REPEAT; rep++)); do
            slm=(measure slm "$name" "$threads" build/bench_generate "$file" --threads "$threads" --prompt 128 --decode 64)
            llama=(measure llama.cpp "$name" "$threads" node bench/gguf/bench_llamacpp.mjs "$file" --threads "$threads"
                   --prompt 128 --decode 64)
            # How the page cache holds the file (folio sizes, physical order) changes
            # how fast decode reads the weights, by 10-20% on this host, and it is
            # built by whoever loads the file first. So each pair starts from an
            # evicted file and the order alternates: with REPEAT >= 2 each program is
            # measured on the cache its own cold load built and on the other's.
            # "pages_from" in each row says whose it was.
            evict "$file"
            if ((rep % 2 == 0)); then
                pages_from=slm; "${slm[@]}"; "${llama[@]}"
            else
                pages_from=llama.cpp; "${llama[@]}"; "${slm[@]}"
            fi
        done
    done
done
echo "uptime after: $(uptime)"
python3 bench/gguf/summarize.py "$gg/results.jsonl" "$gg"
