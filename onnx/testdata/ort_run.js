// Runs ONNX models in ONNX Runtime (onnxruntime-node, CPU) for package onnx's
// tests, which compare the outputs with bottleneck's own.
//
//   NODE_PATH=DIR/node_modules node ort_run.js JOB.json
//
// JOB.json: {"runs": [{"model": "m.onnx", "out": "dir",
//                      "inputs": {"x": {"file": "x.bin", "dims": [2, 784]}}}]}
// Inputs are raw little-endian float32. Each output is written to
// out/NAME.bin (raw float32, float64 or one byte per bool) and described in
// out/outputs.json: {"NAME": {"type": "float32", "dims": [...]}}, or
// {"error": "..."} when the run failed. Install the runtime with
//   npm install --ignore-scripts --prefix DIR onnxruntime-node@1.30.0
// (its CPU library is bundled; the install script only fetches GPU extras).
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const sessions = {};
  for (const run of job.runs) {
    fs.mkdirSync(run.out, { recursive: true });
    const desc = {};
    try {
      if (!sessions[run.model]) {
        sessions[run.model] = await ort.InferenceSession.create(run.model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
      }
      const feeds = {};
      for (const [name, inp] of Object.entries(run.inputs)) {
        const buf = fs.readFileSync(inp.file);
        const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
        feeds[name] = new ort.Tensor('float32', data, inp.dims);
      }
      const res = await sessions[run.model].run(feeds);
      for (const [name, t] of Object.entries(res)) {
        const d = t.data;
        fs.writeFileSync(path.join(run.out, name + '.bin'), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
        desc[name] = { type: t.type, dims: t.dims.map(Number) };
      }
    } catch (e) {
      desc.error = String(e && e.message ? e.message : e);
    }
    fs.writeFileSync(path.join(run.out, 'outputs.json'), JSON.stringify(desc));
  }
  console.log('onnxruntime ' + (ort.env.versions ? ort.env.versions.common : '?') + ': ' + job.runs.length + ' runs');
}
main().catch(e => { console.error(e.message); process.exit(1); });
