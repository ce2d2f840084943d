"""Any project policy as a diffusers scheduler (`SchedulerMixin` + `ConfigMixin`), for a
diffusers block-refinement pipeline loop such as `LLaDA2Pipeline` (needs the `diffusers`
extra: pip install -e '.[diffusers]').

`PolicyScheduler(policy="threshold", policy_knobs={"tau": 0.9})` names a registered policy and
its knobs, so the config saves and loads (`save_config`, `from_pretrained`); the learned planner
is `policy="learned", policy_knobs={"path": ...}` after `import vi` (which registers it; this
module does not import `vi`, docs/design.md section 7).

`step(model_output, timestep, sample, mask_token_id=...)` takes the current block's logits
`[batch, block, vocab]` and tokens `[batch, block]` as diffusers' `BlockRefinementScheduler`
does, runs the policy's `select` on that block (masked: the mask tokens; given: `prompt_mask`;
the row's step: `timestep`), writes the loop's tokens (greedy at temperature 0, else Gumbel-max
at `temperature`, or the policy's own), and returns diffusers' `BlockRefinementSchedulerOutput`
(`prev_sample`, `transfer_index`, `editing_transfer_index`, `sampled_tokens`, `sampled_probs`,
`pred_logits`). As in `planner.sample(max_nfe=)`, the block's last step
(`timestep >= num_inference_steps - 1`) commits every mask left, so the pipeline's loop, which
leaves a block after `num_inference_steps` steps, never leaves a mask behind. The pipeline's
`threshold`, `editing_threshold`, `minimal_topk`, `top_p`, `top_k` and `sampling_method` are the
block-refinement rule's knobs: here the policy's own knobs decide, and they are ignored.
"""
from __future__ import annotations

import torch

from .diffusers_import import diffusers_class, import_diffusers
from .context import StepContext
from .registry import load_policy
from .tokens import choose_tokens

import_diffusers()
diffusers_class("BlockRefinementScheduler")       # a clear error on a diffusers without it
from diffusers import ConfigMixin, SchedulerMixin  # noqa: E402
from diffusers.configuration_utils import register_to_config  # noqa: E402
from diffusers.schedulers.scheduling_block_refinement import BlockRefinementSchedulerOutput  # noqa: E402


class PolicyScheduler(SchedulerMixin, ConfigMixin):
    order = 1

    @register_to_config
    def __init__(self, policy: str = "threshold", policy_knobs: dict | None = None,
                 block_length: int = 32, num_inference_steps: int = 32):
        if not isinstance(policy, str):
            raise TypeError(f"policy must be a registered policy name (planner.policy_names()), "
                            f"got {type(policy).__name__}: the config stores the name and knobs")
        for name, value in (("block_length", block_length), ("num_inference_steps", num_inference_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.policy = load_policy(policy, **dict(policy_knobs or {}))
        self.num_inference_steps = num_inference_steps
        self.timesteps = torch.arange(num_inference_steps - 1, -1, -1, dtype=torch.long)
        self._state, self._shape = None, None

    def set_timesteps(self, num_inference_steps: int, device=None, block_length: int | None = None) -> None:
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) \
                or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive integer, got {num_inference_steps!r}")
        self.num_inference_steps = num_inference_steps
        self.timesteps = torch.arange(num_inference_steps - 1, -1, -1, device=device, dtype=torch.long)
        self._state, self._shape = None, None

    def step(self, model_output: torch.Tensor, timestep, sample: torch.LongTensor, *,
             mask_token_id: int | None = None, temperature: float = 0.0, top_p=None, top_k=None,
             sampling_method: str = "auto", threshold=None, editing_threshold=None,
             minimal_topk=None, prompt_mask: torch.BoolTensor | None = None,
             generator: torch.Generator | None = None, return_dict: bool = True):
        if mask_token_id is None:
            raise ValueError("PolicyScheduler runs the masked process: pass mask_token_id (the "
                             "uniform-corruption mode of diffusers' scheduler has no project policy)")
        if sample.dim() != 2 or model_output.shape[:2] != sample.shape:
            raise ValueError(f"model_output {tuple(model_output.shape)} and sample "
                             f"{tuple(sample.shape)} must be [batch, block, vocab] and [batch, block]")
        step_index = int(timestep.item()) if isinstance(timestep, torch.Tensor) else int(timestep)
        batch, block = sample.shape
        logits = model_output.float().clone()
        if 0 <= mask_token_id < logits.shape[-1]:
            logits[..., mask_token_id] = float("-inf")
        masked = sample == mask_token_id
        given = torch.zeros(block, dtype=torch.bool, device=sample.device) if prompt_mask is None \
            else prompt_mask.to(sample.device).bool()
        initial_masked = ~given[None, :].expand(batch, block)
        if step_index == 0 or self._state is None or self._shape != tuple(sample.shape):
            self._state = self.policy.init_state(initial_masked, generator)
            self._shape = tuple(sample.shape)
        last = torch.full((batch,), step_index >= self.num_inference_steps - 1, device=sample.device)
        gen = generator if generator is not None and generator.device.type == "cpu" else None
        ctx = StepContext(logits=logits, tokens=sample, masked=masked, initial_masked=initial_masked,
                          step=torch.full((batch,), step_index, dtype=torch.long, device=sample.device),
                          rows=torch.arange(batch), generator=gen, last_call=last,
                          temperature=float(temperature))
        selection = self.policy.select(ctx, self._state)
        chosen = selection.chosen & masked
        chosen = torch.where(last[:, None], masked, chosen)
        edit = torch.zeros_like(chosen) if selection.edit is None else selection.edit & ~masked & initial_masked
        if selection.tokens is not None and bool((selection.tokens >= 0).all()):
            drawn = selection.tokens
        else:
            drawn = ctx.drawn if selection.banned is None else choose_tokens(
                logits.masked_fill(selection.banned, float("-inf")), ctx.temperature, gen)
            if selection.tokens is not None:
                drawn = torch.where(selection.tokens >= 0, selection.tokens, drawn)
        prev_sample = torch.where(chosen | edit, drawn, sample)
        if selection.remask is not None:
            prev_sample = prev_sample.masked_fill(selection.remask & ~masked & initial_masked & ~last[:, None],
                                                  mask_token_id)
        probs = torch.softmax(logits, -1).gather(-1, drawn[..., None])[..., 0]
        if not return_dict:
            return prev_sample, chosen, edit, drawn, probs, model_output
        return BlockRefinementSchedulerOutput(prev_sample=prev_sample, transfer_index=chosen,
                                              editing_transfer_index=edit, sampled_tokens=drawn,
                                              sampled_probs=probs, pred_logits=model_output)

    @staticmethod
    def check_eos_finished(*args, **kwargs) -> torch.BoolTensor:
        """diffusers' own rule (a row is finished once it commits an EOS with no mask before it)."""
        return diffusers_class("BlockRefinementScheduler").check_eos_finished(*args, **kwargs)

    def check_block_should_continue(self, step_idx: int, masks_remaining: bool,
                                    editing_enabled: bool, editing_transfer_index: torch.BoolTensor,
                                    post_steps: int, max_post_steps: int,
                                    finished: torch.BoolTensor) -> bool:
        """The pipeline's stopping rule for a block, as diffusers' scheduler answers it: stop
        when every row is finished, when no mask is left and nothing was edited (or editing is
        off, or the post-mask steps are spent), or after num_inference_steps mask steps."""
        if finished.all():
            return False
        if not masks_remaining:
            return bool(editing_enabled and editing_transfer_index.any() and post_steps <= max_post_steps)
        return step_idx < self.num_inference_steps
