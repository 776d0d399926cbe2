"""Exact objectives and gradients by enumerating every completion.

On a task whose completion space is small (the tokens the policy may emit, to the power
of the cap: up to about 1e5 completions per prompt), nothing has to be estimated:

    J(θ) = E_prompt E_{c ~ π(·|prompt)} [R(prompt, c)] = mean_prompt Σ_c π(c | prompt) R(prompt, c)

is a finite sum. This module computes it, its gradient, and the whole distribution over
completions, so that a sampled estimate (REINFORCE, SL) can be compared with the truth
rather than with another estimate.

The completions form a prefix tree: a node is a prefix (prompt and the tokens so far),
an edge appends one token, a leaf is a finished episode. :func:`enumerate_completions`
builds it level by level, in batches:

* the policy scores every node of the level: one forward pass over (prompt, sep, prefix)
  gives π(· | prefix), exactly as :func:`agents.objective.completion_logits` would score it;
* a child exists only where that probability is not masked (log-prob above
  ``MASKED_LOGIT / 2``, the same test as :class:`agents.exploration.sampling.EpsilonUniform`): tokens
  outside the policy's action mask have probability 0 and add nothing to any sum;
* the env decides what each child is: every edge becomes a row of the vector env, reset
  with ``options={"prompt_index": ..., "prefix": ...}`` and stepped with the candidate token.
  ``terminated`` says whether the child is a leaf and the reward is the verifier's, so EOS,
  the cap and CombinationLock's stop at the first wrong token need no code here
  (:func:`expand` is the one place that talks to the env).

The gradient uses, instead of autograd through ~1e5 forward passes held at once, the identity

    ∇J = Σ_edges Q(p, a) ∇ log π(a | p),   Q(p, a) = Σ_{leaves ℓ below (p, a)} π(ℓ) R(ℓ)

(see :func:`exact_gradient` for why it is exact), evaluated as a surrogate in bounded batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.policy import MASKED_LOGIT
from token_gym import EncodedTask, TokenVectorEnv

POSSIBLE_LOG_PROB = MASKED_LOGIT / 2  # a token's log-prob above this: not masked, a child to enumerate


# -- the policy side: π(· | prefix) of a batch of nodes -------------------------------------


def prompt_contexts(encoded_task: EncodedTask) -> Tensor:
    """(n, P + 1) every prompt, left-padded, and the separator: the layout of :mod:`agents.sl` and the rollouts."""
    sep = np.full((len(encoded_task.prompts), 1), encoded_task.vocab.sep_id, dtype=np.int64)
    return torch.from_numpy(np.concatenate([encoded_task.prompts, sep], axis=1))


def next_token_log_probs(policy: nn.Module, context: Tensor, prefix: Tensor) -> Tensor:
    """(N, V) log π(· | prompt, prefix): the last position of one forward pass over context + prefix."""
    tokens = torch.cat([context, prefix], dim=1)  # (N, T0 + t)
    return F.log_softmax(policy(tokens)[:, -1].float(), dim=-1)  # (N, V)


def log_likelihood(policy: nn.Module, context: Tensor, completion: Tensor, mask: Tensor) -> Tensor:
    """(B,) log π(completion | prompt) of given completions (demonstrations), differentiable.

    Scored prefix by prefix, one forward pass per position, as the tree scores its nodes: the
    same numbers as :func:`agents.objective.token_log_probs` summed over ``mask`` (one pass,
    teacher forcing), computed the other way, so a test comparing the two checks both layouts.
    Arguments in the layout of :class:`agents.sl.Demonstrations`.
    """
    total = torch.zeros(len(context))
    for t in range(completion.shape[1]):
        live = mask[:, t].bool()
        if not live.any():
            break
        log_p = next_token_log_probs(policy, context[live], completion[live, :t])  # (b, V)
        total = total.index_add(0, live.nonzero()[:, 0], log_p.gather(1, completion[live, t : t + 1])[:, 0])
    return total


# -- the env side: what appending a token does ----------------------------------------------


def expand(
    env: TokenVectorEnv, prompt_index: np.ndarray, prefix: np.ndarray, token: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append ``token[e]`` to ``prefix[e]`` (E, t) of prompt ``prompt_index[e]`` for each edge e, by the env's own step.

    Returns (done, reward, success), each (E,): whether the episode ended on that token (the
    child is a leaf), the reward paid, and the verifier's verdict. One edge per row, so
    ``num_envs`` edges per reset + step; a last, partial batch is filled with copies of its
    first edge. The env is a tool here: whatever episodes it held are overwritten.
    """
    n, E = env.num_envs, len(token)
    done, reward, success = np.zeros(E, dtype=bool), np.zeros(E), np.zeros(E, dtype=bool)
    for start in range(0, E, n):
        edges = np.arange(start, min(start + n, E))
        rows = np.concatenate([edges, np.full(n - len(edges), start)])  # (n,)
        env.reset(options={"prompt_index": prompt_index[rows], "prefix": prefix[rows]})
        _, paid, terminated, truncated, infos = env.step(token[rows])
        info = infos.get("final_info", infos)  # SameStep autoreset files finished episodes' infos there
        ended = (terminated | truncated)[: len(edges)]
        if (paid[: len(edges)][~ended] != 0).any():
            raise ValueError("the env paid a reward before an episode ended; this module sums terminal rewards only")
        done[edges], reward[edges] = ended, paid[: len(edges)]
        success[edges] = info.get("is_success", np.zeros(n, dtype=bool))[: len(edges)] & ended
    return done, reward, success


# -- the tree ---------------------------------------------------------------------------------


@dataclass
class Level:
    """The internal nodes of one depth t (prefixes of t tokens, episodes still running) and their children.

    Children are indexed by token id (V of them, most impossible). The children that are
    possible and not ``done`` are the next level's nodes, in row-major order.
    """

    prompt_index: np.ndarray  # (N,) the prompt of each node
    prefix: np.ndarray  # (N, t) the completion tokens so far
    log_prob: np.ndarray  # (N,) float64 log π(prefix | prompt)
    next_log_prob: np.ndarray  # (N, V) float64 log π(token | prompt, prefix)
    possible: np.ndarray  # (N, V) bool: the token is not masked (a child exists)
    done: np.ndarray  # (N, V) bool: appending the token ended the episode (a leaf); False where impossible
    reward: np.ndarray  # (N, V) float64 the verifier's reward at leaves, else 0
    success: np.ndarray  # (N, V) bool the verifier's verdict at leaves


@dataclass
class CompletionDistribution:
    """Every completion of every prompt with its exact probability and reward, one row each.

    Rows are in tree order (shorter completions first); ``prompts`` is sorted, and the
    per-prompt methods return (P,) arrays in that order. Completions are right-padded with
    pad and include the final EOS when there is one (``length`` counts it), as the env's actions.
    """

    encoded_task: EncodedTask
    prompts: np.ndarray  # (P,) the prompts enumerated
    prompt_index: np.ndarray  # (M,)
    completion: np.ndarray  # (M, C) token ids, right-padded
    length: np.ndarray  # (M,) tokens emitted, EOS included
    log_probability: np.ndarray  # (M,) float64 log π(completion | prompt)
    reward: np.ndarray  # (M,) the verifier's reward
    success: np.ndarray  # (M,) bool

    @property
    def probability(self) -> np.ndarray:
        return np.exp(self.log_probability)

    def per_prompt(self, values: np.ndarray) -> np.ndarray:
        """(P,) Σ of ``values`` (M,) over each prompt's completions."""
        position = np.searchsorted(self.prompts, self.prompt_index)
        return np.bincount(position, weights=values, minlength=len(self.prompts))

    def expected_reward(self) -> np.ndarray:
        """(P,) E_c[R(prompt, c)]: J of each prompt."""
        return self.per_prompt(self.probability * self.reward)

    def success_probability(self) -> np.ndarray:
        """(P,) the chance that one sample succeeds (pass@1)."""
        return self.per_prompt(self.probability * self.success)

    def pass_at_k(self, k: int) -> np.ndarray:
        """(P,) the chance that at least one of k independent samples succeeds: 1 − (1 − pass@1)^k."""
        return 1.0 - (1.0 - self.success_probability()) ** k

    def entropy(self) -> np.ndarray:
        """(P,) entropy in nats of the completion distribution, −Σ_c π(c) log π(c)."""
        return self.per_prompt(-self.probability * self.log_probability)


@dataclass
class CompletionTree:
    """The prefix tree of every completion of ``prompts`` under one policy, level by level (depth 0 first)."""

    encoded_task: EncodedTask
    prompts: np.ndarray  # (P,) sorted, unique: J weighs them uniformly
    levels: list[Level]

    @property
    def num_completions(self) -> int:
        return int(sum(level.done.sum() for level in self.levels))

    def edge_values(self) -> list[np.ndarray]:
        """Q(p, a) = Σ_{leaves ℓ below edge (p, a)} π(ℓ | prompt) R(ℓ), per level (N_t, V), bottom-up.

        At a leaf Q is its own π R (π the whole path's probability, not the last token's);
        above, Q of an edge is the sum of Q over its child's edges. No grad, float64.
        """
        values: list[np.ndarray] = []
        below = None  # (N_{t+1},) Σ_a Q of each node of the level below
        for level in reversed(self.levels):
            path_log_prob = level.log_prob[:, None] + level.next_log_prob  # (N, V) log π(prefix + token)
            Q = np.where(level.done, np.exp(path_log_prob) * level.reward, 0.0)  # (N, V)
            running = level.possible & ~level.done
            if below is not None:
                Q[running] = below  # row-major: the order the next level's nodes were made in
            elif running.any():
                raise ValueError("the tree is cut off: running episodes below its last level")
            values.append(Q)
            below = Q.sum(axis=1)
        return values[::-1]

    def prompt_objective(self) -> np.ndarray:
        """(P,) E_c[R(prompt, c)] of each prompt (the root values)."""
        return self.edge_values()[0].sum(axis=1)

    def objective(self) -> float:
        """J = mean over prompts of E_c[R(prompt, c)]."""
        return float(self.prompt_objective().mean())

    def distribution(self) -> CompletionDistribution:
        """The leaves as a table: what pass@k, entropy, distinct answers, ... are computed from."""
        cap, pad = self.encoded_task.max_completion_len, self.encoded_task.vocab.pad_id
        tables = []
        for t, level in enumerate(self.levels):
            rows, tokens = np.nonzero(level.done)  # the leaves of this level: completions of t + 1 tokens
            completion = np.full((len(rows), cap), pad, dtype=np.int64)  # (M_t, C)
            completion[:, :t] = level.prefix[rows]
            completion[:, t] = tokens
            tables.append(
                {
                    "prompt_index": level.prompt_index[rows],
                    "completion": completion,
                    "length": np.full(len(rows), t + 1),
                    "log_probability": level.log_prob[rows] + level.next_log_prob[rows, tokens],
                    "reward": level.reward[rows, tokens],
                    "success": level.success[rows, tokens],
                }
            )
        columns = {name: np.concatenate([table[name] for table in tables]) for name in tables[0]}
        return CompletionDistribution(self.encoded_task, self.prompts, **columns)


def _score_nodes(policy: nn.Module, context: Tensor, prefix: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, V) float64 log π(· | prompt, prefix) of N nodes, ``batch_size`` forward passes at a time, no grad."""
    scores = [
        next_token_log_probs(policy, context[s : s + batch_size], torch.from_numpy(prefix[s : s + batch_size]))
        for s in range(0, len(prefix), batch_size)
    ]
    return torch.cat(scores).double().numpy()


def _check_prompts(vector_env: TokenVectorEnv, prompt_index: np.ndarray | list[int] | None) -> np.ndarray:
    if prompt_index is None:
        return np.sort(vector_env.prompt_indices())
    values = np.asarray(prompt_index).reshape(-1)
    prompts = vector_env.encoded_task.check_prompt_index(values, len(values), "prompt_index")
    if len(np.unique(prompts)) != len(prompts) or len(prompts) == 0:
        raise ValueError(f"prompt_index must list distinct prompts (at least one), got {prompt_index!r}")
    return np.sort(prompts)


@torch.no_grad()
def enumerate_completions(
    policy: nn.Module,
    env: TokenVectorEnv,
    prompt_index: np.ndarray | list[int] | None = None,
    batch_size: int = 4096,
    max_edges: int = 2_000_000,
) -> CompletionTree:
    """The prefix tree of every completion the policy can emit, for each prompt of ``prompt_index``
    (default: the env's split), termination and rewards by the env (``gym.make_vec``, any num_envs;
    a few thousand rows make it fast).

    ``batch_size`` nodes per forward pass; ``max_edges`` bounds the tree (it grows as
    |tokens|^cap), to fail early rather than fill the memory. The policy is run in eval mode.
    """
    vector_env = env.unwrapped
    if not isinstance(vector_env, TokenVectorEnv):
        raise TypeError(f"enumerate_completions needs a token_gym vector env (gym.make_vec), got {env!r}")
    encoded_task = vector_env.encoded_task
    prompts = _check_prompts(vector_env, prompt_index)
    contexts = prompt_contexts(encoded_task)  # (n, P + 1)
    was_training = policy.training
    policy.eval()
    levels, edges = [], 0
    node_prompt, prefix, log_prob = prompts, np.zeros((len(prompts), 0), dtype=np.int64), np.zeros(len(prompts))
    try:
        while len(node_prompt):
            next_log_prob = _score_nodes(policy, contexts[node_prompt], prefix, batch_size)  # (N, V)
            possible = next_log_prob > POSSIBLE_LOG_PROB
            rows, tokens = np.nonzero(possible)  # (E,) the edges, row-major
            edges += len(rows)
            if edges > max_edges:
                raise ValueError(f"the completion tree has more than max_edges={max_edges} edges; too big to enumerate")
            level = Level(
                node_prompt,
                prefix,
                log_prob,
                next_log_prob,
                possible,
                done=np.zeros(possible.shape, dtype=bool),
                reward=np.zeros(possible.shape),
                success=np.zeros(possible.shape, dtype=bool),
            )
            ended, level.reward[rows, tokens], level.success[rows, tokens] = expand(
                env, node_prompt[rows], prefix[rows], tokens
            )
            level.done[rows, tokens] = ended
            levels.append(level)
            rows, tokens = rows[~ended], tokens[~ended]  # the edges to running episodes: next level's nodes
            node_prompt = node_prompt[rows]
            prefix = np.concatenate([prefix[rows], tokens[:, None]], axis=1)  # (N', t + 1)
            log_prob = log_prob[rows] + next_log_prob[rows, tokens]
    finally:
        policy.train(was_training)
    return CompletionTree(encoded_task, prompts, levels)


def exact_objective(
    policy: nn.Module, env: TokenVectorEnv, prompt_index: np.ndarray | list[int] | None = None, batch_size: int = 4096
) -> float:
    """J(θ) = mean_prompt Σ_c π(c | prompt) R(prompt, c), by enumeration."""
    return enumerate_completions(policy, env, prompt_index, batch_size).objective()


def node_log_probs(
    policy: nn.Module, contexts: Tensor, level: Level, nodes: np.ndarray | slice
) -> tuple[Tensor, Tensor]:
    """((B, V) log π(· | node) with grad, (B, V) the tokens possible there) for some nodes of ``level``,
    checked against the probabilities the tree was enumerated with (it must be this policy's)."""
    prefix = torch.from_numpy(level.prefix[nodes])
    log_p = next_token_log_probs(policy, contexts[level.prompt_index[nodes]], prefix)  # (B, V)
    possible = torch.from_numpy(level.possible[nodes])
    drift = (log_p.detach().double() - torch.from_numpy(level.next_log_prob[nodes]))[possible].abs()
    if drift.numel() and float(drift.max()) > 1e-3:
        raise ValueError("the tree was enumerated with other parameters than the policy has now")
    return log_p, possible


def exact_gradient(policy: nn.Module, tree: CompletionTree, batch_size: int = 4096) -> list[Tensor]:
    """∇J, one tensor per ``policy.parameters()``: the ascent direction (an optimizer minimising −J wants −∇J).

    ``tree`` must come from :func:`enumerate_completions` with this policy as it is now (checked).
    The pieces are summed with ``torch.autograd.grad``, so the caller's ``.grad`` is left alone;
    frozen parameters (``requires_grad=False``) get zeros.

    Why it is exact: J = mean_prompt Σ_ℓ π(ℓ) R(ℓ) over the leaves, and π(ℓ) is the product of
    π(a | p) over the edges (p, a) on the path to ℓ, so ∇π(ℓ) = π(ℓ) Σ_{edges on the path} ∇log π(a | p).
    Swapping the two sums, ∇J = mean_prompt Σ_edges ∇ log π(a | p) · Σ_{ℓ below the edge} π(ℓ) R(ℓ)
    = mean_prompt Σ_edges Q(p, a) ∇ log π(a | p): the policy-gradient theorem with the exact Q,
    an identity, not an estimate. Q does not depend on which batch an edge is in, so the surrogate
    Σ Q.detach() · log π(a | p) can be differentiated node batch by node batch and the pieces summed:
    memory holds one batch of forward passes, not the whole tree. Edges with Q = 0 (below no
    reward, or masked: log π = −1e9, π = 0) add nothing; nodes whose edges all have Q = 0 are skipped.
    """
    parameters = list(policy.parameters())
    gradient = [torch.zeros_like(p) for p in parameters]
    trainable = [i for i, p in enumerate(parameters) if p.requires_grad]
    if not trainable:
        return gradient
    contexts = prompt_contexts(tree.encoded_task)
    was_training = policy.training
    policy.eval()
    try:
        for level, Q in zip(tree.levels, tree.edge_values(), strict=True):
            nodes = np.flatnonzero(Q.any(axis=1))
            for s in range(0, len(nodes), batch_size):
                batch = nodes[s : s + batch_size]
                log_p, possible = node_log_probs(policy, contexts, level, batch)
                weights = torch.from_numpy(Q[batch] / len(tree.prompts)).float()  # (B, V) Q, prompts averaged
                surrogate = (weights * log_p.masked_fill(~possible, 0.0)).sum()
                pieces = torch.autograd.grad(surrogate, [parameters[i] for i in trainable], allow_unused=True)
                for i, piece in zip(trainable, pieces, strict=True):
                    if piece is not None:
                        gradient[i] += piece
    finally:
        policy.train(was_training)
    return gradient


def exact_objective_and_gradient(
    policy: nn.Module, env: TokenVectorEnv, prompt_index: np.ndarray | list[int] | None = None, batch_size: int = 4096
) -> tuple[float, list[Tensor]]:
    """(J, ∇J) in one enumeration."""
    tree = enumerate_completions(policy, env, prompt_index, batch_size)
    return tree.objective(), exact_gradient(policy, tree, batch_size)
