// Times renders of the first example layout: one warm-up render (shader compilation, buffer
// allocation), then `count` timed ones. The result is shown and left in body[data-result] as
// JSON for `cargo xtask bench-web`.
import init, { Model, Style, importLayout } from './pkg/cimle_web.js';

const q = new URLSearchParams(location.search);
const backend = q.get('backend') || 'cpu';
const count = Math.max(1, Number(q.get('count')) || 4);
const file = q.get('model') || 'streets-256x512.safetensors';
const status = (t) => { document.getElementById('status').textContent = t; };

async function bytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function main() {
  await init({ module_or_path: 'pkg/cimle_web_bg.wasm' });
  const weights = await bytes(`models/${file}`);
  const model = backend === 'webgpu' ? await Model.loadWebGpu(weights) : new Model(weights);
  const [h, w] = [model.height(), model.width()];
  const ids = importLayout('street-1.png', await bytes('examples/street-1.png'), h, w).ids;
  status(`Warm-up render on ${model.backend()}…`);
  await model.render(ids, h, w, Style.fromSeed(0));
  const times = [];
  for (let i = 0; i < count; i++) {
    status(`Render ${i + 1} of ${count} on ${model.backend()}…`);
    const t0 = performance.now();
    await model.render(ids, h, w, Style.fromSeed(i + 1));
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 0));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    backend: model.backend(),
    model: file,
    resolution: `${w}x${h}`,
    ms_per_sample_median: Number(sorted[Math.floor(sorted.length / 2)].toFixed(1)),
    ms_per_sample_mean: Number((times.reduce((a, b) => a + b, 0) / times.length).toFixed(1)),
    samples: times.map((t) => Number(t.toFixed(1))),
    user_agent: navigator.userAgent,
  };
  document.getElementById('result').textContent = JSON.stringify(result, null, 2);
  status('Done.');
  document.body.dataset.result = JSON.stringify(result);
}

main().catch((e) => {
  status(`Failed: ${e.message ?? e}`);
  document.body.dataset.result = JSON.stringify({ backend, error: String(e.message ?? e) });
});
