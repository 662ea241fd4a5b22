// Greedy continuation with llama.cpp (node-llama-cpp's prebuilt CPU build).
// usage: node llama_greedy.mjs MODEL.gguf IDS N   (IDS: comma-separated prompt token ids)
// prints {"generated": [ids...], "text": "..."} on one line.
import {getLlama} from "node-llama-cpp";

const [modelPath, idsArg, nArg] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 256, threads: 1});
const sequence = context.getSequence();
const prompt = idsArg.split(",").map(Number);
const generated = [];
const n = Number(nArg);
if (n > 0) {
    for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
        generated.push(token);
        if (generated.length >= n) break;
    }
}
console.log(JSON.stringify({generated, text: model.detokenize(generated)}));
await context.dispose();
await model.dispose();
