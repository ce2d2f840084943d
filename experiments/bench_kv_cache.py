"""Fast-dLLM's KV cache on this CPU: tokens per second with and without the prefix and the
dual cache (`denoiser.kv_cache.BlockKVCache`), and what it costs in quality: the share of
generated tokens identical to the uncached decode, and the generative perplexity under the
project's autoregressive scorer (`weights/text-ar`). Run on purpose, it prints its figures:

    python -m experiments.bench_kv_cache [--lengths 256 512 1024] [--threads 1] [--no-hf]

The decode: LLaDA's low-confidence remasking in blocks of `--block` (32) generated characters,
`--per-step` (2) characters per call (`planner.generate`), greedy, after a 32-character prompt
from the validation split, one sequence at a time (`--batch` prompts in turn).

The model: the shipped text MDM (`weights/text-mdm`, trained at 128 positions). Generating
256-1024 characters needs positions it never saw, so for those lengths its 128 trained
position embeddings are repeated (position i uses embedding i mod 128): a stretched model whose
text is worse than at 128, but whose calls cost what a 1024-position model's do, and whose
cached and uncached decodes are compared on the same weights. At 128 positions (`--native`,
on by default) the shipped model runs as trained. The scorer also has 128 positions: a sample
is scored in consecutive chunks of 128 characters, each chunk from the start token (its first
characters without their real context, for every decode alike).

The Hugging Face adapter (`--hf`, on by default): a shipped `BertForMaskedLM` trained on the
same text at 128 positions (`--hf-path`, default `weights/text-hf-mlm-alibi`, the 3.3M BERT with
ALiBi's distance bias; `weights/text-hf-mlm` is the first, 0.8M one), through `HFMaskedDenoiser`
and the cache of `denoiser/hf_kv_cache.py`, at its native length.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import torch

import planner
from denoiser import MDMTransformer, load_denoiser
from denoiser.kv_cache import BlockKVCache
from denoiser.paths import resolve_folder
from denoiser.transformer import MDMConfig
from tasks.text import CharARTransformer, TextTask

PROMPT = 32
MODES = ("none", "prefix", "dual")


def stretched(model: MDMTransformer, max_length: int) -> MDMTransformer:
    """The model with its position table repeated to `max_length` positions."""
    if max_length <= model.max_length:
        return model
    longer = MDMTransformer(replace(model.config, max_length=max_length))
    state = dict(model.state_dict())
    trained = state["pos.weight"]
    state["pos.weight"] = trained[torch.arange(max_length) % trained.shape[0]]
    longer.load_state_dict(state)
    return longer.eval()


def chunked_ppl(scorer: CharARTransformer, samples: torch.Tensor, start: int) -> float:
    """exp(mean NLL per generated character), scoring each 128-character chunk on its own."""
    width = scorer.config.max_length
    total, count = 0.0, 0
    with torch.no_grad():
        for lo in range(0, samples.shape[1], width):
            chunk = samples[:, lo:lo + width]
            nll = scorer.nll(chunk)
            scored = (torch.arange(lo, lo + chunk.shape[1])[None, :] >= start).expand_as(nll)
            total += float((nll * scored).sum())
            count += int(scored.sum())
    return math.exp(total / count)


def decode(model, mode: str, prompts: torch.Tensor, gen_length: int, block: int, per_step: int):
    den = model if mode == "none" else BlockKVCache(model, block, mode)
    rows, seconds = [], 0.0
    for p in prompts:
        t0 = time.perf_counter()
        out = planner.generate(den, p[None], gen_length=gen_length, block_length=block,
                               steps=gen_length // per_step)
        seconds += time.perf_counter() - t0
        rows.append(out.sequences[0])
    return torch.stack(rows), seconds


def bench(model, scorer, prompts, gen_length, block, per_step, label) -> None:
    results = {}
    for mode in MODES:
        results[mode] = decode(model, mode, prompts, gen_length, block, per_step)
    base, base_s = results["none"]
    n_tokens = prompts.shape[0] * gen_length
    for mode in MODES:
        samples, seconds = results[mode]
        same = float((samples[:, PROMPT:] == base[:, PROMPT:]).float().mean())
        ppl = chunked_ppl(scorer, samples, PROMPT)
        print(f"{label:>9} {gen_length:>6} {mode:>7} {n_tokens / seconds:>9.1f} "
              f"{base_s / seconds:>8.2f} {same:>10.3f} {ppl:>8.2f}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[256, 512, 1024])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--block", type=int, default=32)
    parser.add_argument("--per-step", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--native", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--hf", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--hf-path", default="weights/text-hf-mlm-alibi")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = MDMTransformer.from_pretrained(resolve_folder("weights/text-mdm")).eval()
    task = TextTask(length=128, prompt_chars=PROMPT)
    scorer = CharARTransformer.from_pretrained(resolve_folder("weights/text-ar"),
                                               vocabulary=task.vocabulary)
    prompts = task.load_eval("validation", limit=args.batch, select="spread").references[:, :PROMPT]
    print(f"KV cache benchmark: block {args.block}, {args.per_step} characters per call, greedy, "
          f"{args.batch} prompts of {PROMPT} characters one at a time, {args.threads} thread(s)")
    print(f"{'model':>9} {'gen':>6} {'cache':>7} {'tok/s':>9} {'speed-up':>8} "
          f"{'identical':>10} {'gen PPL':>8}")
    if args.native:
        bench(model, scorer, prompts, 128 - PROMPT, args.block, args.per_step, "shipped")
    if args.hf:
        hf = load_denoiser(resolve_folder(args.hf_path)).eval()
        bench(hf, scorer, prompts, 128 - PROMPT, args.block, args.per_step, "HF BERT")
    for gen_length in args.lengths:
        bench(stretched(model, PROMPT + gen_length), scorer, prompts, gen_length, args.block,
              args.per_step, "stretched")


if __name__ == "__main__":
    main()
