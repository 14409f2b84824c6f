// summary of sdlite bench JSONs: per set, image median, fresh (open+first), first step, peak, preloaded
for (const f of process.argv.slice(2)) {
  const r = require(f);
  for (const s of r.stages) {
    if (s.stage !== "image") continue;
    const o = s.outcome;
    const fresh = o.openStartMs !== undefined ? o.openStartMs + o.openMs + o.first.ms : NaN;
    const te = o.runs.map((x) => x.networks?.["text-encoder"]?.ms ?? 0);
    const un = o.runs.map((x) => x.networks?.unet?.ms ?? 0);
    const de = o.runs.map((x) => x.networks?.decoder?.ms ?? 0);
    const med = (a) => { const b = [...a].sort((x, y) => x - y); return b[Math.floor(b.length / 2)]; };
    console.log([f.split("/").pop(), s.set.padEnd(80), "img", (s.summary?.median / 1000).toFixed(2), "fresh", (fresh / 1000).toFixed(2), "1st", (o.firstUnetRunAtMs / 1000).toFixed(2), "peak", (s.peakRssBytes / 1e9).toFixed(2), "te", med(te).toFixed(0), "unet", med(un).toFixed(0), "dec", med(de).toFixed(0), "pre", o.unetPreloaded, "built", o.builtGraphs, "load", s.loadAverage.before.toFixed(1)].join(" "));
  }
}
