"""L-BFGS for one image tensor, step for step the iteration of ``torch.optim.LBFGS`` as Luan et al. run it.

``torch.optim.LBFGS(lr=1, max_iter=1, line_search_fn=None, tolerance_grad=0, tolerance_change=0)``
(one loss and gradient evaluation per step, no line search, the two-loop recursion over the last
``history_size`` curvature pairs), written out for a single tensor: the same operations in the same
order, so the iterates agree with torch's to the last bit (``tests/test_transfer.py``), without what
the general optimiser brings along. Constructing the first ``torch.optim`` optimiser of a process
imports ``torch._dynamo`` (2.6 s on this project's machine, paid by every ``photostyle transfer``
call), and its step gathers and scatters parameter groups that a single image does not have.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class TwoLoopLBFGS:
    """L-BFGS without line search on the tensor ``x`` (updated in place; needs ``requires_grad``).

    Parameters
    ----------
    x : torch.Tensor
        The variable, a leaf with ``requires_grad=True``.
    history_size : int
        Curvature pairs kept (the paper's 100).
    lr : float
        Step size after the first step (the first is ``min(1, 1 / |g|₁) · lr``, as torch's).
    """

    def __init__(self, x: torch.Tensor, *, history_size: int = 100, lr: float = 1.0) -> None:
        self.x = x
        self.history_size = int(history_size)
        self.lr = float(lr)
        self.n_iter = 0
        self._dirs: list[torch.Tensor] = []
        self._steps: list[torch.Tensor] = []
        self._ro: list[torch.Tensor] = []
        self._h_diag: torch.Tensor | float = 1
        self._d: torch.Tensor | None = None
        self._t: torch.Tensor | float | None = None
        self._prev_grad: torch.Tensor | None = None

    def zero_grad(self) -> None:
        """Zero ``x.grad`` in place (as ``optimizer.zero_grad(set_to_none=False)``)."""
        if self.x.grad is not None:
            self.x.grad.zero_()

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate ``closure`` (which computes the loss and its gradient into ``x.grad``) and take one
        L-BFGS step; returns the loss it evaluated, that of ``x`` before the step."""
        with torch.enable_grad():
            loss = closure()
        grad = self.x.grad
        flat = grad.reshape(-1) if grad is not None else self.x.new_zeros(self.x.numel())
        if flat.abs().max() <= 0:  # tolerance_grad = 0: stationary
            return loss
        self.n_iter += 1
        if self.n_iter == 1:
            d = flat.neg()
            self._dirs, self._steps, self._ro, self._h_diag = [], [], [], 1
        else:
            y = flat.sub(self._prev_grad)
            s = self._d.mul(self._t)
            ys = y.dot(s)
            if ys > 1e-10:
                if len(self._dirs) == self.history_size:
                    self._dirs.pop(0)
                    self._steps.pop(0)
                    self._ro.pop(0)
                self._dirs.append(y)
                self._steps.append(s)
                self._ro.append(1.0 / ys)
                self._h_diag = ys / y.dot(y)
            al: list[torch.Tensor] = [None] * len(self._dirs)  # type: ignore[list-item]
            q = flat.neg()
            for i in range(len(self._dirs) - 1, -1, -1):
                al[i] = self._steps[i].dot(q) * self._ro[i]
                q.add_(self._dirs[i], alpha=-al[i])
            d = r = torch.mul(q, self._h_diag)
            for i in range(len(self._dirs)):
                be_i = self._dirs[i].dot(r) * self._ro[i]
                r.add_(self._steps[i], alpha=al[i] - be_i)
        if self._prev_grad is None:
            self._prev_grad = flat.clone(memory_format=torch.contiguous_format)
        else:
            self._prev_grad.copy_(flat)
        t = min(1.0, 1.0 / flat.abs().sum()) * self.lr if self.n_iter == 1 else self.lr
        self._d, self._t = d, t
        if flat.dot(d) > 0:  # tolerance_change = 0: not a descent direction, no step (as torch)
            return loss
        self.x.add_(d.view_as(self.x), alpha=t)
        return loss
