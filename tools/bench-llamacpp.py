#!/usr/bin/env python3
"""The llama.cpp side of `sentio bench`: pp (prompt processing) and tg (token generation) tokens/s for a
GGUF file, measured like llama-bench (pp: one batch of N prompt tokens; tg: N tokens decoded one at a time),
through llama-cpp-python (built from source with GGML_NATIVE, see Benchmarks/README.md).

Prints JSON rows with llama-bench field names (model_filename, n_threads, test, avg_ts, stddev_ts).

usage: tools/.venv/bin/python tools/bench-llamacpp.py MODEL.gguf -p 512 -n 128 -t 1,2 -r 3
"""
import argparse, json, statistics, sys, time
import llama_cpp

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("-p", type=int, default=512)
ap.add_argument("-n", type=int, default=128)
ap.add_argument("-t", default="2")
ap.add_argument("-r", type=int, default=3)
a = ap.parse_args()

rows = []
for threads in [int(x) for x in a.t.split(",")]:
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=a.p + a.n + 8, n_batch=a.p, n_ubatch=a.p,
                          n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
    vocab = llm.n_vocab()
    prompt = [(i * 7919) % (vocab - 1000) + 100 for i in range(a.p)]

    def pp():
        llm.reset()
        llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
        t0 = time.perf_counter()
        llm.eval(prompt)
        return a.p / (time.perf_counter() - t0)

    def tg():
        llm.reset()
        llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
        tok = 100
        t0 = time.perf_counter()
        for i in range(a.n):
            llm.eval([tok])
            tok = (tok * 31 + 7) % (vocab - 1000) + 100
        return a.n / (time.perf_counter() - t0)

    for name, fn in ((f"pp{a.p}", pp), (f"tg{a.n}", tg)):
        fn()  # warm-up
        ts = [fn() for _ in range(a.r)]
        rows.append({"model_filename": a.model, "n_threads": threads, "test": name,
                     "avg_ts": statistics.mean(ts), "stddev_ts": statistics.stdev(ts) if len(ts) > 1 else 0.0,
                     "samples_ts": ts, "backend": "llama.cpp " + llama_cpp.__version__})
        print(json.dumps(rows[-1]), file=sys.stderr)
    del llm
print(json.dumps(rows, indent=1))
