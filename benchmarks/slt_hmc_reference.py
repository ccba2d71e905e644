"""A reference for slt.llc on the saddle-to-saddle study: Metropolis-corrected HMC on the
localized tempered posterior of a relabelled deep linear checkpoint,
π(w) ∝ exp(−nβ·L(w) − γ/2·‖w − w*‖²), L = ½·tr(D Σ Dᵀ), D = P(w) − P*, Σ = XᵀX/n (exact:
the loss of a bias-free linear network depends on the data only through Σ). Prints nβ·E[L],
the value λ̂ estimates, with the mass matrix adapted to the draws' covariance (windowed, as
Stan does) and the step to 70% acceptance.

Run: ``python benchmarks/slt_hmc_reference.py wide 5,29,169,979,4000 3 2000``; the arguments
are the network (narrow | wide), the checkpoint steps, γ, and the burn-in (= kept) iterations.
"""
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import saddle_to_saddle as S

torch.set_num_threads(1)
dt = torch.float64

def run(state, Sig, nbeta, gamma, chains=256, burn=1500, keep=1500, leap=10, eps=0.25, seed=0):
    Ws = [state[k] for k in sorted(state)]  # 0.weight, 1.weight, 2.weight
    shapes = [w.shape for w in Ws]
    sizes = [w.numel() for w in Ws]
    wstar = torch.cat([w.reshape(-1) for w in Ws])
    P = len(wstar)
    def prod(wf):  # (C,P) -> (C,N,M)
        parts = torch.split(wf, sizes, dim=-1)
        mats = [p.reshape(wf.shape[:-1] + s) for p, s in zip(parts, shapes)]
        out = mats[0]
        for m in mats[1:]:
            out = m @ out
        return out
    Pstar = prod(wstar[None])[0]
    def L(wf):
        D = prod(wf) - Pstar
        return 0.5 * torch.einsum('cij,jk,cik->c', D, Sig, D)
    H = torch.autograd.functional.hessian(lambda v: L(v[None])[0], wstar)
    M = nbeta * H + gamma * torch.eye(P, dtype=dt)
    ev, Q = torch.linalg.eigh(M)
    Sm = Q @ torch.diag(ev.rsqrt()) @ Q.T   # w - w* = Sm z
    g = torch.Generator().manual_seed(seed)
    def U(z):
        w = wstar + z @ Sm.T
        return nbeta * L(w) + 0.5 * gamma * ((z @ Sm.T) ** 2).sum(-1)
    def gradU(z):
        z = z.detach().requires_grad_(True)
        u = U(z)
        (gz,) = torch.autograd.grad(u.sum(), z)
        return u.detach(), gz
    z = torch.randn(chains, P, generator=g, dtype=dt) * 0.5
    u, gz = gradU(z)
    vals, acc_hist, ws = [], [], []
    windows = {int(burn * f) for f in (0.15, 0.3, 0.6)}
    for it in range(burn + keep):
        p = torch.randn(chains, P, generator=g, dtype=dt)
        # jittered step
        e = eps * (0.8 + 0.4 * torch.rand(chains, 1, generator=g, dtype=dt))
        z1, p1 = z.clone(), p - 0.5 * e * gz
        for l in range(leap):
            z1 = z1 + e * p1
            u1, g1 = gradU(z1)
            if l < leap - 1:
                p1 = p1 - e * g1
        p1 = p1 - 0.5 * e * g1
        logr = (u + 0.5 * (p ** 2).sum(-1)) - (u1 + 0.5 * (p1 ** 2).sum(-1))
        ok = torch.log(torch.rand(chains, generator=g, dtype=dt)) < logr
        ok = ok & torch.isfinite(logr)
        z = torch.where(ok[:, None], z1, z)
        u = torch.where(ok, u1, u)
        gz = torch.where(ok[:, None], g1, gz)
        acc_hist.append(ok.double().mean().item())
        w = wstar + z @ Sm.T
        vals.append((nbeta * L(w)).detach().numpy())
        if it < burn:
            ws.append(w.detach())
        if it < burn and it % 25 == 24:  # adapt eps toward 0.7 acceptance
            a = np.mean(acc_hist[-25:])
            eps *= math.exp(2 * (a - 0.7))
        if it in windows:  # metric from the draws' covariance (Stan-style windowed adaptation)
            W = torch.cat(ws[len(ws) // 2:])
            C = torch.cov(W.T) + 1e-8 * torch.eye(P, dtype=dt)
            wcur = wstar + z @ Sm.T
            Sm = torch.linalg.cholesky(C)
            z = torch.linalg.solve_triangular(Sm, (wcur - wstar).T, upper=False).T
            u, gz = gradU(z)
            ws = []
            eps = 0.5
    v = np.array(vals[burn:])  # (keep, C)
    return v, np.mean(acc_hist[burn:]), eps, (ev.max() / ev.min()).item()

if __name__ == "__main__":
    which = sys.argv[1]
    steps = [int(s) for s in sys.argv[2].split(',')]
    gamma = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    burn = int(sys.argv[4]) if len(sys.argv) > 4 else 1500
    x, y = S.teacher(10_000)
    n = x.shape[0]
    nbeta = n / math.log(n)
    Sig = x.T @ x / n
    widths = S.WIDE if which == 'wide' else S.WIDTHS
    allsteps = np.unique(np.geomspace(5, 4000, 20).round()).astype(int).tolist()
    _, states = S.train(widths, x, y, allsteps)
    for s in steps:
        t0 = time.time()
        v, acc, eps, cond = run(states[allsteps.index(s)], Sig, nbeta, gamma, burn=burn, keep=burn)
        h = v.shape[0] // 2
        m1, m2 = v[:h].mean(), v[h:].mean()
        se = v.mean(0).std() / math.sqrt(v.shape[1])
        print(f"{which} step {s}: nβE[L] = {v.mean():.3f} ± {se:.3f} (halves {m1:.3f}, {m2:.3f})"
              f" acc {acc:.2f} eps {eps:.3f} cond {cond:.3g} {time.time()-t0:.0f}s", flush=True)
