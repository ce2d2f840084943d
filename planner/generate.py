"""`planner.generate()`: the LLaDA-style call, for any local Hugging Face masked LM or project
denoiser, as a thin layer over `planner.sample()`.

It lays out the batch (each prompt, then `gen_length` masks, padded to one length on the
right, or on the left, `padding_side`), picks the policy (by default LLaDA's low-confidence
remasking in semi-autoregressive blocks of the generated region: `semi_ar` with
`block_origin="generated"`), applies LLaDA's EOS options, runs `sample()` once, and cuts out
each row's generated tokens. The reference is ML-GSAI/LLaDA `generate.py` (`generate`,
`get_num_transfer_tokens`; docs/conformance.md): the same positions at the same steps, the
same tokens, tested in tests/test_generate.py against a transcription of it.

Padding: rows of different prompt lengths share a batch through `sample(padding=)`; the pad
positions hold `pad_id`, are never written, and the denoiser attends to none of them (it must
have `supports_padding`: the project's sequence transformer, a Hugging Face model whose forward
takes `attention_mask`). With right padding every row keeps the absolute positions it has
alone, so a greedy row's output does not depend on the batch (tests/test_batch_invariance.py).
Random numbers: by default each row draws from its own stream (seeded from `seed` and its
prompt), so a row's sampled output does not depend on the batch either; `generator=` is
LLaDA's one stream for the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from denoiser.banned import BannedTokens
from denoiser.base import Denoiser, FrozenDenoiser

from .eos import StopAtEOS
from .policy import Policy
from .row_random import derive_seed
from .sampling import SampleResult, sample

REMASKING = {"low_confidence": "confidence", "random": "random"}
PADDING_SIDES = ("right", "left")


@dataclass
class GenerateResult:
    tokens: torch.Tensor      # [batch, gen_length] each row's generated tokens
    nfe: torch.Tensor         # [batch] long, denoiser calls spent on each row
    sequences: torch.Tensor   # [batch, length] the whole batch as sampled (prompt, generated, padding)
    padding: torch.Tensor     # [batch, length] bool, True at padding
    start: torch.Tensor       # [batch] long, where each row's generated tokens start in `sequences`
    sample: SampleResult      # sample()'s result (order, rewrites)
    text: list[str] | None = None   # the generated tokens decoded (with a tokenizer), cut at EOS


def _as_denoiser(model, mask_id: int | None):
    if isinstance(model, (Denoiser, FrozenDenoiser)):
        own = model.mask_id
        if mask_id is not None and int(mask_id) != int(own):
            raise ValueError(f"mask_id {mask_id} does not match the denoiser's mask_id {own}")
        return model.model if isinstance(model, FrozenDenoiser) else model
    if isinstance(model, torch.nn.Module) and hasattr(model, "config"):
        from denoiser.hf import HFMaskedDenoiser, infer_kind
        return HFMaskedDenoiser(model, kind=infer_kind(model.config.to_dict()), mask_id=mask_id)
    raise TypeError(f"model must be a project Denoiser, a FrozenDenoiser or a transformers "
                    f"model, got {type(model).__name__}")


def _prompt_rows(prompt, tokenizer, attention_mask, add_special_tokens: bool) -> list[list[int]]:
    if isinstance(prompt, str):
        prompt = [prompt]
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, str) for p in prompt):
        if tokenizer is None:
            raise ValueError("a text prompt needs the model's tokenizer: pass tokenizer=")
        return [list(tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"]) for p in prompt]
    if isinstance(prompt, torch.Tensor):
        if prompt.dtype not in (torch.int64, torch.int32) or prompt.dim() not in (1, 2):
            raise ValueError(f"a tensor prompt must hold token ids, [length] or [batch, length], "
                             f"got dtype {prompt.dtype} shape {tuple(prompt.shape)}")
        prompt = prompt[None] if prompt.dim() == 1 else prompt
        if attention_mask is None:
            return [row.tolist() for row in prompt]
        attention_mask = torch.as_tensor(attention_mask)
        if attention_mask.shape != prompt.shape:
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}; expected "
                             f"the prompt's {tuple(prompt.shape)}")
        return [row[keep.bool()].tolist() for row, keep in zip(prompt, attention_mask)]
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(p, (list, tuple)) for p in prompt):
        return [list(p) for p in prompt]
    raise TypeError(f"prompt must be text, a list of texts, a tensor of token ids or a list of "
                    f"token-id lists, got {type(prompt).__name__}")


def _check_count(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, "
                         f"got {value!r}")
    return value


def _make_policy(policy, remasking: str, gen_length: int, block_length, steps,
                 zero_confidence_tokens) -> Policy:
    from .registry import load_policy, policy_parameters
    if policy is None:
        if remasking not in REMASKING:
            raise ValueError(f"remasking must be one of {sorted(REMASKING)} (LLaDA's), got "
                             f"{remasking!r}")
        from .policies.semi_ar import SemiAutoregressive
        return SemiAutoregressive(block_length=block_length or gen_length,
                                  score=REMASKING[remasking], steps=steps or gen_length,
                                  block_origin="generated",
                                  zero_confidence_tokens=tuple(zero_confidence_tokens))
    if isinstance(policy, Policy):
        given = {k: v for k, v in (("block_length", block_length), ("steps", steps),
                                   ("zero_confidence_tokens", tuple(zero_confidence_tokens) or None))
                 if v is not None}
        if given:
            raise ValueError(f"{sorted(given)} were given with a policy object {policy!r}: set them "
                             f"on the policy itself (or pass the policy by name)")
        return policy
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a Policy, a policy name or None (LLaDA's rule), got "
                        f"{type(policy).__name__}")
    params = policy_parameters(policy)
    knobs = {}
    for name, value in (("block_length", block_length), ("steps", steps)):
        if value is None:
            continue
        if name not in params:
            raise ValueError(f"policy {policy!r} takes no {name} (its knobs: {sorted(params)})")
        knobs[name] = value
    if block_length is not None and "block_origin" in params:
        knobs["block_origin"] = "generated"
    if zero_confidence_tokens:
        if "zero_confidence_tokens" not in params:
            raise ValueError(f"policy {policy!r} takes no zero_confidence_tokens (LLaDA's "
                             f"confidence_eos_eot_inf): use semi_ar or topk_prob, or the default")
        knobs["zero_confidence_tokens"] = list(zero_confidence_tokens)
    return load_policy(policy, **knobs)


def _pad_id(pad_id, tokenizer, eos_id, mask_id: int) -> int:
    if pad_id is None:
        pad_id = getattr(tokenizer, "pad_token_id", None) if tokenizer is not None else None
    if pad_id is None:
        pad_id = eos_id
    if pad_id is None:
        pad_id = 0 if mask_id != 0 else 1
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
        raise ValueError(f"pad_id must be a token id (an integer >= 0), got {pad_id!r}")
    if pad_id == mask_id:
        raise ValueError(f"pad_id {pad_id} equals the mask id: padding would be generated")
    return pad_id


def layout(rows: list[list[int]], gen_length: int, mask_id: int, pad_id: int,
           padding_side: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens, padding, start): each row is its prompt then `gen_length` masks, padded with
    `pad_id` to one length on `padding_side`; start is where its masks begin."""
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {PADDING_SIDES}, got {padding_side!r}")
    longest = max(len(r) for r in rows)
    length = longest + gen_length
    tokens = torch.full((len(rows), length), pad_id, dtype=torch.long)
    padding = torch.ones((len(rows), length), dtype=torch.bool)
    start = torch.zeros(len(rows), dtype=torch.long)
    for i, row in enumerate(rows):
        offset = 0 if padding_side == "right" else longest - len(row)
        tokens[i, offset:offset + len(row)] = torch.tensor(row, dtype=torch.long)
        tokens[i, offset + len(row):offset + len(row) + gen_length] = mask_id
        padding[i, offset:offset + len(row) + gen_length] = False
        start[i] = offset + len(row)
    return tokens, padding, start


def generate(model, prompt, *, gen_length: int = 128, block_length: int | None = None,
             steps: int | None = None, policy: Policy | str | None = None,
             remasking: str = "low_confidence", temperature: float = 0.0,
             tokenizer=None, attention_mask=None, add_special_tokens: bool = False,
             mask_id: int | None = None, eos_id: int | None = None, stop_at_eos: bool = False,
             ban_eos: bool = False, zero_confidence_tokens=(), pad_id: int | None = None,
             padding_side: str = "right", generator: torch.Generator | None = None,
             seed: int = 0, seeds=None, max_nfe: int | None = None,
             callbacks: Iterable[Callable] = ()) -> GenerateResult:
    """Generate `gen_length` tokens after each prompt.

    model: a project Denoiser (or FrozenDenoiser), or a loaded transformers masked model (its
        kind read from its config; `mask_id=` when the config names none).
    prompt: text or a list of texts (with `tokenizer`), a tensor of token ids `[length]` or
        `[batch, length]` (with an optional `attention_mask` marking its padding with 0, as a
        tokenizer returns it), or a list of token-id lists of any lengths.
    gen_length, block_length, steps: LLaDA's; block_length None is one block, steps None one
        token per step. Passed to a named policy that takes them (blocks of the generated
        region), refused for one that does not; a policy object carries its own.
    policy: None for LLaDA's rule (`remasking`: "low_confidence" or "random", semi-AR blocks),
        a policy name (`planner.policy_names()`) or a Policy.
    temperature: 0 greedy, else Gumbel-max at that temperature (as LLaDA's float64 Gumbel).
    eos_id: the EOS token. stop_at_eos: end a row at its first EOS once every position before
        it is filled (the rest of its generated region becomes EOS, no further call).
        ban_eos: LLaDA's `logits_eos_inf` (EOS is never written). zero_confidence_tokens:
        LLaDA's `confidence_eos_eot_inf` (these tokens' confidence is zero: revealed last;
        LLaDA's code applies it to EoT), for the confidence rules.
    pad_id, padding_side: how rows of different lengths are padded (default: the tokenizer's
        pad id, else eos_id; "right" keeps every row's absolute positions).
    seed, seeds, generator: where the random numbers come from (a random order, remasks,
        sampled tokens). By default each row draws from its own stream, seeded from `seed` and
        the row's prompt ids (`planner.row_random.derive_seed`), so a row's output is the same
        alone or in any batch; rows with the same prompt then get the same output: for several
        samples of one prompt give `seeds=`, one seed per row (a list or LongTensor [batch]),
        the row's stream whatever the batch. `generator=` instead is one stream for the batch
        (LLaDA's, and `sample()`'s default): a row's draws then depend on the rows beside it.
    Returns a GenerateResult: tokens `[batch, gen_length]`, nfe `[batch]`, ...
    """
    gen_length = _check_count(gen_length, "gen_length")
    block_length = _check_count(block_length, "block_length", allow_none=True)
    steps = _check_count(steps, "steps", allow_none=True)
    if block_length is not None and block_length > gen_length:
        raise ValueError(f"block_length {block_length} exceeds gen_length {gen_length}")
    if (ban_eos or stop_at_eos) and eos_id is None:
        eos_id = getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None
        if eos_id is None:
            raise ValueError("ban_eos and stop_at_eos need the EOS token: pass eos_id=")
    if ban_eos and stop_at_eos:
        raise ValueError("ban_eos forbids the EOS that stop_at_eos waits for: choose one")
    den = _as_denoiser(model, mask_id)
    rows = _prompt_rows(prompt, tokenizer, attention_mask, add_special_tokens)
    pad = _pad_id(pad_id, tokenizer, eos_id, den.mask_id)
    tokens, padding, start = layout(rows, gen_length, den.mask_id, pad, padding_side)
    if not getattr(den, "supports_padding", False):
        if bool(padding.any()):
            raise ValueError(f"the prompts have different lengths, and {type(den).__name__} takes "
                             f"no attention mask (supports_padding is False): give prompts of one "
                             f"length")
        padding = None
    chosen = _make_policy(policy, remasking, gen_length, block_length, steps, zero_confidence_tokens)
    if stop_at_eos:
        chosen = StopAtEOS(chosen, eos_id)
    if ban_eos:
        den = BannedTokens(den, [eos_id])
    if generator is not None and seeds is not None:
        raise ValueError("pass generator= (one stream for the batch) or seeds= (one per row), "
                         "not both")
    if generator is None and seeds is None:
        seeds = [derive_seed(seed, row) for row in rows]
    result = sample(den, chosen, tokens, generator=generator, seeds=seeds,
                    temperature=temperature, max_nfe=max_nfe, callbacks=callbacks,
                    padding=padding)
    index = start[:, None] + torch.arange(gen_length)[None, :]
    generated = result.tokens.gather(1, index.to(result.tokens.device))
    text = None
    if tokenizer is not None:
        cut = [row if eos_id is None or eos_id not in row else row[:row.index(eos_id)]
               for row in generated.tolist()]
        text = tokenizer.batch_decode(cut, skip_special_tokens=True)
    return GenerateResult(tokens=generated, nfe=result.nfe, sequences=result.tokens,
                          padding=torch.zeros_like(result.tokens, dtype=torch.bool)
                          if padding is None else padding, start=start, sample=result, text=text)
