"""The one gradient every learner ascends: E[w · ∇ log π(token | prefix)].

Supervised learning calls :func:`policy_loss` with demonstration tokens and
``w = 1``; REINFORCE calls it with its own samples and ``w = G − b``. Nothing
else differs (tests/test_objective.py checks that the two gradients are equal
on the same sequences when the reward is 1 and the baseline 0).

Layout of a batch of sequences: ``context`` (B, T0) is the prompt, left-padded,
followed by the separator; ``completion`` (B, C) is right-padded; ``mask``
(B, C) marks the completion tokens that were really emitted (EOS included).
All terms are sums over tokens divided by the number of sequences: per-sequence
quantities, so that a sequence's log-likelihood is one number.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def completion_logits(policy: nn.Module, context: Tensor, completion: Tensor) -> Tensor:
    """(B, C, V) logits that predicted each completion token, in one forward pass."""
    T0 = context.shape[1]
    tokens = torch.cat([context, completion[:, :-1]], dim=1)  # (B, T0 + C - 1)
    return policy(tokens)[:, T0 - 1 :]  # (B, C, V)


def token_log_probs(logits: Tensor, completion: Tensor) -> Tensor:
    """(B, C) log π(completion_t | prefix_t)."""
    return F.log_softmax(logits, dim=-1).gather(-1, completion[..., None])[..., 0]


def token_entropy(logits: Tensor) -> Tensor:
    """(B, C) entropy of π(· | prefix_t)."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def token_kl(logits: Tensor, reference_logits: Tensor) -> Tensor:
    """(B, C) KL(π(· | prefix_t) ‖ π_ref(· | prefix_t)), exact over the vocabulary."""
    log_p = F.log_softmax(logits, dim=-1)
    log_q = F.log_softmax(reference_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def weighted_log_likelihood(
    log_probs: Tensor, weights: Tensor, mask: Tensor, num_sequences: int | None = None
) -> Tensor:
    """−E[w · log π]: the loss whose gradient is −E[w · ∇ log π] (per sequence of a batch of ``num_sequences``)."""
    return -(weights * log_probs * mask).sum() / (num_sequences or log_probs.shape[0])


CORRECTIONS = ("truncated", "sequence", "none")


@dataclass
class LossTerms:
    loss: Tensor  # what the optimizer minimises: −Σ w · log π / B
    logits: Tensor  # (B, C, V) the logits it was computed from (with grad), for extra loss terms
    entropy: Tensor  # mean entropy of π per emitted token (for logging)


def policy_loss(
    policy: nn.Module,
    context: Tensor,
    completion: Tensor,
    mask: Tensor,
    weights: Tensor,
    num_sequences: int | None = None,
    behaviour_log_probs: Tensor | None = None,
    correction: str = "truncated",
) -> LossTerms:
    """loss = −Σ_t w_t log π(a_t|s_t) / B: the one gradient, E[w · ∇ log π], that SL and REINFORCE ascend.

    Further terms (an entropy bonus, a KL penalty to a reference) are exploration strategies
    (:mod:`agents.exploration.objective`) that add to this loss from the returned ``logits``.

    B is ``num_sequences`` when given: the rows passed are then a subset of the batch (rows whose
    weights are all zero contribute nothing to the likelihood term and may be left out).
    ``behaviour_log_probs`` (B, C): the tokens were sampled from another distribution β (an
    exploration strategy); the weights are then importance-corrected, the ratio a constant:

    * ``"truncated"``: each token's weight times min(1, π/β) of that token (V-trace style): biased,
      and stable;
    * ``"sequence"``: every token's weight times the sequence ratio ∏_t π/β: exact in expectation
      for a terminal reward, and high variance;
    * ``"none"``: no correction (the gradient of β's data as if it were π's).
    """
    mask = mask.float()
    B = num_sequences or len(mask)
    logits = completion_logits(policy, context, completion)  # (B, C, V)
    log_probs = token_log_probs(logits, completion)  # (B, C)
    if behaviour_log_probs is not None and correction != "none":
        log_ratio = (log_probs.detach() - behaviour_log_probs) * mask  # (B, C) log π/β, 0 off the episode
        if correction == "truncated":
            weights = weights * log_ratio.exp().clamp(max=1.0)
        elif correction == "sequence":
            weights = weights * log_ratio.sum(dim=1, keepdim=True).exp()  # (B, 1) broadcast over tokens
        else:
            raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {correction!r}")
    loss = weighted_log_likelihood(log_probs, weights, mask, B)
    with torch.no_grad():
        entropy = (token_entropy(logits) * mask).sum() / mask.sum().clamp(min=1)
    return LossTerms(loss, logits, entropy)
