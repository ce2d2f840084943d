"""`PriorObjective`: the part the prior-only objectives share (GRPO, oracle imitation).

They train P_theta alone, from their own rollouts of the frozen denoiser, not from the
guide's trajectories; but they keep `pyro.infer.ELBO`'s interface (`loss`, `loss_and_grads`,
`differentiable_loss`, called with the order model's `model` and `guide` programs and their
arguments), so that `pyro.infer.SVI`, `experiments.train_planner` and
`vi.diagnostics.gradient_variance` drive them unchanged. The order model is found as the
owner of the bound `model` program (`OrderModel.model`); its prior is registered with
`pyro.module`, so SVI steps exactly its parameters.
"""
from __future__ import annotations

from abc import abstractmethod

import torch
import pyro
from pyro.infer import ELBO
from pyro.util import warn_if_nan

from ..model import OrderModel


def order_model_of(model) -> OrderModel:
    """The OrderModel whose `model` program this is."""
    owner = getattr(model, "__self__", None)
    if not isinstance(owner, OrderModel):
        raise TypeError(f"this objective rolls out the order model's prior itself: give it "
                        f"OrderModel.model (a bound method), got {model!r}")
    return owner


def check_batch(x: torch.Tensor, masked: torch.Tensor, mask_id: int) -> None:
    if x.dim() != 2 or masked.shape != x.shape or masked.dtype != torch.bool:
        raise ValueError(f"x must be [batch, length] token ids and masked a bool mask of the "
                         f"same shape; got x {tuple(x.shape)}, masked {tuple(masked.shape)} "
                         f"{masked.dtype}")
    if (x == mask_id).any():
        raise ValueError(f"x holds the mask token {mask_id}; x must be the clean sequence")


class PriorObjective(ELBO):
    """Subclasses implement `_value_and_surrogate(order, x, masked, beta) -> (value,
    surrogate)`: `value` the objective summed over the batch (detached; its negative is the
    loss) and `surrogate` a scalar whose gradient is the objective's gradient estimate.
    Other keyword arguments of the programs (kl_scale, entropy_weight: the VI annealing) do
    not apply and are ignored. `last_stats` holds per-sequence means for logging."""

    trains_posterior = False   # train_planner ships no posterior for these

    def __init__(self, max_plate_nesting: int = 1):
        super().__init__(num_particles=1, max_plate_nesting=max_plate_nesting)
        self.last_stats: dict[str, float] = {}

    @abstractmethod
    def _value_and_surrogate(self, order: OrderModel, x: torch.Tensor, masked: torch.Tensor,
                             beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def _run(self, model, x, masked, beta=0.0, **_ignored):
        order = order_model_of(model)
        pyro.module("prior", order.prior)
        check_batch(x, masked, order.mask_id)
        beta = torch.as_tensor(beta, dtype=torch.float32, device=x.device).expand(x.shape[0])
        return self._value_and_surrogate(order, x.long(), masked, beta)

    def _get_trace(self, model, guide, args, kwargs):
        # ELBO's hook for (model, guide) trace pairs: these objectives never trace the guide
        raise TypeError(f"{type(self).__name__} rolls out the prior itself; it has no "
                        f"(model, guide) traces")

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            value, _ = self._run(model, *args, **kwargs)
        loss = -float(value)
        warn_if_nan(loss, "loss")
        return loss

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        value, surrogate = self._run(model, *args, **kwargs)
        (-surrogate).backward(retain_graph=self.retain_graph)
        loss = -float(value)
        warn_if_nan(loss, "loss")
        return loss

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        value, surrogate = self._run(model, *args, **kwargs)
        return -(value + (surrogate - surrogate.detach()))
