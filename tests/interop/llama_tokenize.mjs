// Tokenizes texts with llama.cpp's tokenizer of a GGUF file (vocab only).
// usage: node llama_tokenize.mjs MODEL.gguf FILE   (FILE: one JSON string per line)
// prints one JSON array of ids per input line.
import {readFileSync} from "node:fs";
import {getLlama} from "node-llama-cpp";

const [modelPath, file] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath, vocabOnly: true});
for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    console.log(JSON.stringify(model.tokenize(JSON.parse(line), false)));
}
await model.dispose();
