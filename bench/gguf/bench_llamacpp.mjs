// bench_llamacpp.mjs — the llama.cpp side of bench/gguf/run.sh: times one GGUF
// file in llama.cpp (through node-llama-cpp, CPU only, its prebuilt binary) the
// way bench/bench_generate.c times slm, so the two columns compare:
//   - the same prompt ids (bench_generate's xorshift, modulo the vocabulary);
//   - a cold prompt pass (first touch of the mapped weights), then a warm one
//     after clearing the KV cache — the warm pass is the prompt speed;
//   - D single-token decode steps after the prompt, greedy (temperature 0),
//     end-of-generation tokens not stopping it.
// llama.cpp's own timer of the decode steps (llama_perf's "eval time", compute
// only, without node's per-token overhead) is reported too, as decode_internal_tok_s.
// Prints one JSON line. Peak RSS is the process's VmHWM, which includes node
// itself; base_rss_mb is VmRSS after llama.cpp's library is loaded and before
// the model is, so the reader can subtract the runtime's share.
// usage: node bench_llamacpp.mjs MODEL.gguf [--threads N] [--prompt P] [--decode D]
import {readFileSync} from "node:fs";
import {getLlama} from "node-llama-cpp";

function parseArgs(argv) {
    const args = {model: argv[0], threads: 1, prompt: 128, decode: 64};
    for (let i = 1; i + 1 < argv.length; i += 2) {
        const key = argv[i].replace(/^--/, "");
        if (!(key in args) || key === "model") throw new Error(`unknown option ${argv[i]}`);
        args[key] = Number(argv[i + 1]);
    }
    if (!args.model) throw new Error("usage: node bench_llamacpp.mjs MODEL.gguf [--threads N] [--prompt P] [--decode D]");
    return args;
}

// bench_generate.c's prompt: xorshift64 (13, 7, 17) from the same seed, each
// state modulo the vocabulary size. BigInt keeps the 64-bit wraparound exact.
function promptIds(count, nVocab) {
    const mask = (1n << 64n) - 1n;
    let x = 88172645463325252n;
    const ids = [];
    for (let i = 0; i < count; i++) {
        x ^= (x << 13n) & mask;
        x ^= x >> 7n;
        x ^= (x << 17n) & mask;
        ids.push(Number(x % BigInt(nVocab)));
    }
    return ids;
}

// A field of /proc/self/status in MiB (VmRSS, VmHWM).
function procStatusMiB(field) {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field + ":"));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
}

// llama_perf_context_print's single-token line: "eval time = T ms / N runs (... tokens per second)".
// Only one-token batches count there; the prompt batches go to "prompt eval time".
function parseEvalTime(text) {
    const m = /(?:^|\n)[^\n]*?(?<!prompt )eval time\s*=\s*([\d.]+) ms\s*\/\s*(\d+) runs/.exec(text);
    return m && Number(m[2]) > 0 ? +(Number(m[2]) / (Number(m[1]) / 1e3)).toFixed(1) : null;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function main() {
    const args = parseArgs(process.argv.slice(2));
    // maxThreads 0: the context's thread count is used as given, not as a hint.
    // llama.cpp's log is kept (its perf lines are parsed below); warnings and errors still reach stderr.
    const log = [];
    const logger = (level, message) => {
        log.push(message);
        if (level === "error" || level === "fatal" || level === "warn") process.stderr.write(`llama.cpp ${level}: ${message}\n`);
    };
    const llama = await getLlama({gpu: false, build: "never", maxThreads: 0, logLevel: "info", logger});
    const baseRss = procStatusMiB("VmRSS");
    let t0 = now();
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
    const loadMs = (now() - t0) * 1e3;
    // The embedding's row count: what slm's n_vocab is, and what ids may index.
    const embedding = model.fileInfo.fullTensorInfo?.find((t) => t.name === "token_embd.weight");
    const nVocab = Number(embedding?.dimensions[1] ?? model.fileInfo.metadata.tokenizer.ggml.tokens.length);
    const contextSize = Math.min(args.prompt + args.decode + 1, model.trainContextSize);
    const context = await model.createContext({contextSize, threads: args.threads, batchSize: 512,
                                               performanceTracking: true});
    const sequence = context.getSequence();
    const ids = promptIds(args.prompt, nVocab);

    const prefill = [];
    for (let pass = 0; pass < 2; pass++) {
        await sequence.clearHistory();
        t0 = now();
        await sequence.evaluateWithoutGeneratingNewTokens(ids);
        prefill.push(now() - t0);
    }
    // Each yielded token is one forward pass of one token (the first one's
    // input is the prompt's first id): D passes at positions P .. P+D-1, as slm.
    let generated = 0;
    t0 = now();
    for await (const token of sequence.evaluate([ids[0]], {temperature: 0, yieldEogToken: true})) {
        void token;
        if (++generated >= args.decode) break;
    }
    const decodeS = now() - t0;
    if (process.env.BENCH_LLAMACPP_LOG) process.stderr.write(`${log.length} log lines\n${log.join("\n")}\n`);
    log.length = 0;
    await context.printTimings();
    const internal = parseEvalTime(log.join("\n"));
    const result = {
        impl: "llama.cpp",
        node_llama_cpp: JSON.parse(readFileSync(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url))).version,
        model: args.model,
        threads: args.threads,
        n_vocab: nVocab,
        context: contextSize,
        flash_attention: context.flashAttention,
        build: llama.buildType,
        system_info: llama.systemInfo,
        prompt: args.prompt,
        prompt_tok_s: +(args.prompt / prefill[1]).toFixed(1),
        first_prompt_tok_s: +(args.prompt / prefill[0]).toFixed(1),
        decode: generated,
        decode_tok_s: +(generated / decodeS).toFixed(1),
        decode_internal_tok_s: internal,
        load_ms: +loadMs.toFixed(1),
        peak_rss_mb: +procStatusMiB("VmHWM").toFixed(1),
        base_rss_mb: +baseRss.toFixed(1),
    };
    console.log(JSON.stringify(result));
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    console.error(`bench_llamacpp: ${args0()}: ${e.message}`);
    // llama.cpp's log reaches the logger asynchronously: let its last lines
    // (the reason a load failed) print before exiting.
    setTimeout(() => process.exit(1), 200);
});

function args0() {
    return process.argv[2] ?? "(no model)";
}
