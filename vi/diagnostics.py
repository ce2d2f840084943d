"""Gradient variance of an estimator: the quantity the estimators exist to lower."""
from __future__ import annotations

import torch


def gradient_draws(elbo, model, guide, params: list[torch.Tensor], args: tuple = (),
                   kwargs: dict | None = None, n: int = 4) -> torch.Tensor:
    """`[n, P]`: `n` independent gradient estimates of `elbo` on the same inputs, flattened
    over `params`. Leaves the parameters' `.grad` zeroed."""
    kwargs = kwargs or {}
    draws = []
    for _ in range(n):
        for p in params:
            p.grad = None
        elbo.loss_and_grads(model, guide, *args, **kwargs)
        draws.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                                for p in params]))
    for p in params:
        p.grad = None
    return torch.stack(draws)


def gradient_variance(elbo, model, guide, params: list[torch.Tensor], args: tuple = (),
                      kwargs: dict | None = None, n: int = 4) -> float:
    """Total variance (sum over every parameter coordinate) of `n` independent gradient
    estimates of `elbo` on the same inputs. Leaves the parameters' `.grad` zeroed."""
    if n < 2:
        raise ValueError(f"n must be at least 2 to estimate a variance, got {n}")
    return float(gradient_draws(elbo, model, guide, params, args, kwargs, n).var(0).sum())
