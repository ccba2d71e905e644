"""The ``occamlab`` command. Thin: every command parses its options and calls the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Measure the inductive bias of neural networks: kernels, learning coefficients, features.",
)


def _print_version(value: bool) -> None:
    if value:
        from occamlab import __version__

        typer.echo(f"occamlab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print occamlab's version and exit.")] = False) -> None:
    pass


def fail(message: str) -> None:
    """Print a one-line error (no traceback) and exit with status 2."""
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(2)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/report"),
    quick: Annotated[bool, typer.Option(help="A small, fast version of every section.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for data and networks.")] = 0,
    fresh: Annotated[bool, typer.Option(help="Redo sections finished by an earlier run.")] = False,
    only: Annotated[list[str] | None, typer.Option(help="Run only this section (repeatable).")
                    ] = None,
    quiet: Annotated[bool, typer.Option(help="Print only where the report is.")] = False,
) -> None:
    """Run the default study on MNIST-1D and write an HTML report (what `make demo` runs).

    Example:

        occamlab report --quick --out runs/quick
    """
    from occamlab.report import run

    try:
        path = run(out, quick=quick, seed=seed, fresh=fresh, only=only,
                   log=(lambda s: None) if quiet else typer.echo)
    except ValueError as e:
        fail(str(e))
    except KeyboardInterrupt:
        typer.secho(f"interrupted: finished sections are kept in {out}; run the same command "
                    "again to resume", err=True, fg="yellow")
        raise typer.Exit(130) from None
    typer.echo(f"report written to {path.resolve()}")


# Further commands are added below, one block per room.


# --- kernels: infinite-width NNGP/NTK of an architecture spec --------------------------------
@app.command()
def kernel(
    spec: Annotated[str, typer.Argument(help="Architecture spec, layers separated by spaces.")],
    data: Annotated[Path, typer.Argument(help="Inputs x1: a .npy file, or .npz (see --key).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .npz with nngp and ntk.")
                   ] = Path("kernel.npz"),
    x2: Annotated[Path | None, typer.Option(help="Second input set (default: x1).")] = None,
    key: Annotated[str, typer.Option(help="Array name inside .npz inputs.")] = "x",
    batch_size: Annotated[int | None, typer.Option(help="Inputs per block (bounds memory).")
                          ] = None,
    float32: Annotated[bool, typer.Option(help="Compute in float32 (default float64).")
                       ] = False,
    quiet: Annotated[bool, typer.Option(help="Print nothing (errors still go to stderr).")
                     ] = False,
    store: Annotated[Path | None, typer.Option(help="Zarr store: compute in tiles on Dask, "
                                               "resumably (instead of --out).")] = None,
    tile: Annotated[int, typer.Option(help="Inputs per tile side (with --store).")] = 512,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (with --store; "
                                                  "default: a local cluster).")] = None,
    slurm: Annotated[bool, typer.Option(help="Run the tiles on SLURM jobs (dask-jobqueue "
                                        "configuration; with --store).")] = False,
    jobs: Annotated[int, typer.Option(help="SLURM jobs to submit (with --slurm).")] = 1,
    device: Annotated[str, typer.Option(help="Where the tiles are computed: cpu or cuda "
                                        "(with --store).")] = "cpu",
) -> None:
    """Compute the infinite-width NNGP and NTK of an architecture on inputs from a file.

    Example:

        occamlab kernel \\
            "conv(3,circular,w=1.41) relu flatten dense(w=1.41) erf dense" \\
            x.npy -o k.npz

    Residual example:

        occamlab kernel "conv(3,w=1.41) residual(relu conv(3,w=1.41)) relu \\
            avgpool(2) conv(3) layernorm relu gap dense" x.npy -o k.npz

    With --store the kernel is computed in tiles on Dask into a Zarr store (run the same
    command again to resume), on a local cluster, a scheduler or SLURM jobs:

        occamlab kernel "dense(w=1.41) relu dense" x.npy --store k.zarr \\
            --tile 512 --scheduler tcp://host:8786

    Inputs are (N, d), (N, C, W) or (N, C, H, W) arrays. Layers: dense(w,b),
    conv(filter,padding,w,b) with padding same|circular|valid and filter 3 or 3x3, flatten,
    gap, avgpool(window,stride,padding), layernorm or layernorm(all), and the activations
    relu, leakyrelu(alpha), abs, erf, gelu, sign, identity, tanh; w and b are the weight and
    bias standard deviations. Branches: residual(layers) adds the block to its input;
    fanout(n) parallel(layers, layers, ...) then sum or concat.

    The output .npz holds nngp and ntk, each of shape (N1, N2).
    """
    import numpy as np
    import torch

    from occamlab import kernels as K
    from occamlab._io import write_with
    from occamlab._load import load_arrays

    if store is None and out.suffix == "":
        out = out.with_suffix(".npz")  # np.savez would add it, so say where the file is
    try:
        if store is None and out.suffix != ".npz":
            raise ValueError(f"--out must be an .npz file (it holds nngp and ntk), got {out}")
        arch = K.parse_spec(spec)
        (a,) = load_arrays(data, key)
        b = None if x2 is None else load_arrays(x2, key)[0]
        if store is not None:
            from occamlab import runs

            cluster = runs.slurm_cluster(jobs=jobs) if slurm else None
            try:
                sk = runs.kernel(arch, a, b, store=store, tile=tile, client=cluster or scheduler,
                                 dtype="float32" if float32 else "float64", device=device,
                                 batch_size=batch_size, progress=not quiet)
            finally:
                if cluster is not None:
                    cluster.close()
            if not quiet:
                typer.echo(f"kernels of shape {sk.shape} in {store} ({sk.computed} of "
                           f"{sk.tiles} tiles computed by this run)")
            return
        k = arch.kernel(a, b, batch_size=batch_size,
                        dtype=torch.float32 if float32 else torch.float64, progress=not quiet)
    except (ValueError, TypeError, RuntimeError, ImportError) as e:
        fail(str(e))
    write_with(out, lambda p: np.savez(p, nngp=k.nngp.cpu().numpy(), ntk=k.ntk.cpu().numpy()))
    if not quiet:
        typer.echo(f"kernels of shape {tuple(k.ntk.shape)} written to {out}")


# --- features: the neural feature ansatz, layer by layer -------------------------------------
@app.command()
def nfa(
    model: Annotated[str, typer.Option(help="The network: 'module:factory' or 'file.py:factory'.")],
    data: Annotated[Path, typer.Option(help="Inputs X: a .npy file, or .npz (see --key).")],
    checkpoint: Annotated[Path | None, typer.Option(help="Trained weights (a state_dict).")
                          ] = None,
    init_checkpoint: Annotated[Path | None, typer.Option(
        help="Weights at initialisation: adds (W−W₀)ᵀ(W−W₀) and the at-init baseline.")] = None,
    key: Annotated[str, typer.Option(help="Array name inside .npz inputs.")] = "x",
    power: Annotated[list[float] | None, typer.Option(help="Power α of the AGOP (repeatable).")
                     ] = None,
    layer: Annotated[list[str] | None, typer.Option(help="Layer name (repeatable; default all).")
                     ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per pass (bounds memory).")
                          ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the table as JSON.")
                   ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Correlate each layer's WᵀW with AGOP^α (the neural feature ansatz) and print the table.

    Example:

        occamlab nfa --model mynet.py:make --checkpoint model.pt --data data.npz

    Without --checkpoint the model is measured as its factory builds it (untrained).

    Rows: layer, α, centered or not; columns corr(WᵀW, AGOP^α), and with --init-checkpoint
    corr((W−W₀)ᵀ(W−W₀), AGOP^α) and the same correlation at initialisation (baseline).
    """
    from occamlab import features
    from occamlab._io import write_json
    from occamlab._load import load_arrays, load_model

    if checkpoint is None:
        typer.secho("warning: no --checkpoint: measuring the model as its factory builds it "
                    "(untrained)", err=True, fg="yellow")
    try:
        net = load_model(model, checkpoint)
        net0 = None if init_checkpoint is None else load_model(model, init_checkpoint)
        (x,) = load_arrays(data, key)
        res = features.nfa(net.eval(), x, None if net0 is None else net0.eval(),
                           powers=tuple(power) if power else (0.5, 1.0), layers=layer or None,
                           batch_size=batch_size, progress=not quiet)
    except (ValueError, TypeError) as e:
        fail(str(e))
    typer.echo(str(res))
    if out is not None:
        write_json(out, {"rows": res.to_dict()["rows"], "layers": res.layers})
        typer.echo(f"table written to {out}")


# --- eigenlearning: predicted (and measured) learning curves of kernel regression -------------
@app.command()
def eigenlearn(
    spec: Annotated[str, typer.Argument(help="Architecture spec, as for `occamlab kernel`.")],
    domain: Annotated[str, typer.Option(help="sphere, cube, or data (with --data).")
                      ] = "sphere",
    d: Annotated[int, typer.Option("--d", help="Input dimension for sphere/cube.")] = 8,
    target: Annotated[str, typer.Option(
        help="sphere/cube target: power per degree, e.g. '1:0.5,3:0.5'.")] = "1:1",
    data: Annotated[Path | None, typer.Option(help=".npz with inputs (--key) and labels "
                                              "(--labels) for --domain data.")] = None,
    key: Annotated[str, typer.Option(help="Inputs array name in --data.")] = "x",
    labels: Annotated[str, typer.Option(help="Targets array name in --data (integer labels "
                                        "become centred one-hot).")] = "y",
    ns: Annotated[str, typer.Option(help="Sample sizes, comma-separated.")
                  ] = "16,32,64,128,256",
    noise_var: Annotated[float, typer.Option(help="Label-noise variance ε².")] = 0.0,
    ridge: Annotated[float, typer.Option(help="Ridge δ of (K + δI)α = y.")] = 0.0,
    max_degree: Annotated[int, typer.Option(help="Highest sphere degree (rest: tail trace).")
                          ] = 30,
    kind: Annotated[str, typer.Option(help="ntk or nngp.")] = "ntk",
    measure: Annotated[bool, typer.Option(help="Also run kernel regression and compare.")
                       ] = False,
    trials: Annotated[int, typer.Option(help="KRR trials per n (with --measure).")] = 10,
    top_k: Annotated[int | None, typer.Option(help="--domain data: top eigenpairs only.")
                     ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampling.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output CSV; the plot goes beside it "
                                      "as .png.")] = Path("eigenlearn.csv"),
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Predict learning curves of kernel regression by eigenlearning, without training.

    Example:

        occamlab eigenlearn \\
            "dense(w=1.41,b=0.1) relu dense(w=1.41,b=0.1) relu dense" \\
            --domain sphere --d 8 --target 2:1 --measure -o curve.csv

    sphere/cube: the target is a sum of unit-norm zonal harmonics / parities with the given
    power per degree (the spec must be fully connected). data: the kernel's spectrum on the
    pool in --data; --measure then compares held-out KRR error through the finite-pool
    correction. Writes a CSV (n, predicted and measured MSE) and a log-log PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from occamlab import eigenlearning as el
    from occamlab import kernels as K
    from occamlab._io import save_figure, write_csv
    from occamlab._load import load_arrays

    try:
        arch = K.parse_spec(spec)
        try:
            n_list = [int(v) for v in ns.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"ns must be comma-separated integers, got {ns!r}") from None
        if domain == "data":
            if data is None:
                raise ValueError("--domain data needs --data FILE.npz")
            x, y = load_arrays(data, key, labels)
            pred, comp = el.experiment.pool_curves(arch, x, y, n_list, ridge=ridge, kind=kind,
                                                   measured=measure, trials=trials, seed=seed,
                                                   top_k=top_k, progress=not quiet)
        else:
            pred, comp = el.experiment.domain_curves(
                arch, domain, d, el.experiment.parse_target(target), n_list, noise_var=noise_var,
                ridge=ridge, max_degree=max_degree, kind=kind, measured=measure,
                trials=trials, seed=seed, progress=not quiet)
    except (ValueError, TypeError) as e:
        fail(str(e))
    write_csv(out, el.experiment.curves_table(pred, comp))
    ax = (comp or pred).plot()
    ax.set_title(f"eigenlearning: {domain}")
    png = out.with_suffix(".png")
    save_figure(ax.figure, png)
    plt.close(ax.figure)
    typer.echo(f"learning curve written to {out} and {png}")


# --- design: reverse engineering a kernel into an activation -----------------------
@app.command("design")
def design_command(
    spec: Annotated[str, typer.Argument(help="Target architecture spec (fully connected), as "
                                        "for `occamlab kernel`.")],
    kind: Annotated[str, typer.Option(help="Which kernel to match: ntk or nngp.")] = "ntk",
    degree: Annotated[int, typer.Option(help="Degree of the power series / activation.")] = 5,
    norm: Annotated[str, typer.Option(help="Fit: l2 (non-negative least squares), max "
                                      "(smallest maximum error), or auto (l2, then max if l2 "
                                      "misses --tol).")] = "auto",
    tol: Annotated[float, typer.Option(help="Largest accepted error, fraction of max|K|.")
                   ] = 0.05,
    out: Annotated[Path, typer.Option("--out", "-o", help="Plot of the kernel fit and the "
                                      "activation (.png).")] = Path("design.png"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the coefficients "
                                                  "and fit errors as JSON.")] = None,
    quiet: Annotated[bool, typer.Option(help="Print only where the outputs are.")] = False,
) -> None:
    """Engineer a shallow network's activation whose kernel matches a target architecture's.

    Example:

        occamlab design "dense(w=1.41,b=0.1) relu dense(w=1.41,b=0.1) relu \\
            dense(w=1.41,b=0.1) relu dense(w=1.41,b=0.1) relu dense" \\
            --degree 5 -o design.png

    Fits the target's kernel K(c) (c the cosine between inputs on the sphere) by a power series
    with non-negative coefficients bₖ and prints the normalized Hermite coefficients
    aₖ = √(bₖ/(k+1)) (NTK) or √bₖ (NNGP) of the activation φ = Σ aₖhₖ (Simon et al. 2022).
    A target whose series needs negative coefficients is refused, with the closest fit.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from occamlab import design as D
    from occamlab import kernels as K
    from occamlab._io import figure_format, save_figure, write_json

    try:
        figure_format(out, "--out")
        arch = K.parse_spec(spec)
        act = D.activation_for(arch, kind=kind, degree=degree, norm=norm, tol=tol)
    except (ValueError, TypeError) as e:
        fail(str(e))
    fit = act.fit
    if not quiet:
        typer.echo(f"target {kind.upper()} of {arch!r}")
        typer.echo(f"fit: degree {degree}, max error {fit.max_error:.4g} "
                   f"({100 * fit.relative_error:.2f}% of max|K|)")
        typer.echo(f"{'k':>3}{'b_k (kernel)':>16}{'a_k (activation)':>20}")
        for k in range(degree + 1):
            typer.echo(f"{k:>3}{float(fit.coefficients[k]):>16.6g}"
                       f"{float(act.coefficients[k]):>20.6g}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    fit.plot(ax1)
    act.plot(ax2)
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    if json_out is not None:
        write_json(json_out, {"spec": spec, "kind": kind, "degree": degree, "norm": norm,
                              "hermite_coefficients": act.coefficients.tolist(),
                              "series_coefficients": fit.coefficients.tolist(),
                              "max_error": fit.max_error,
                              "relative_error": fit.relative_error})
    typer.echo(f"plot written to {out}" + (f", coefficients to {json_out}" if json_out else ""))


# --- slt: the local learning coefficient of a saved model -------------------------------------
@app.command()
def llc(
    model: Annotated[str, typer.Option(help="'module:factory' or 'file.py:factory' building "
                                            "the network.")],
    data: Annotated[Path, typer.Option(help=".npz with the training inputs and targets.")],
    checkpoint: Annotated[Path | None, typer.Option(
        help="state_dict file (read with weights_only=True).")] = None,
    x_name: Annotated[str, typer.Option(help="Name of the inputs in the .npz.")] = "x",
    y_name: Annotated[str, typer.Option(help="Name of the targets in the .npz.")] = "y",
    loss: Annotated[str, typer.Option(help="mse, cross-entropy, or gaussian-nll (with "
                                           "--noise).")] = "mse",
    noise: Annotated[float, typer.Option(help="σ of gaussian-nll.")] = 1.0,
    nbeta: Annotated[float | None, typer.Option(help="nβ (default n/log n).")] = None,
    step_size: Annotated[float | None, typer.Option(help="SGLD step (default: calibrated).")
                         ] = None,
    localization: Annotated[float | None, typer.Option(help="γ (default: calibrated).")] = None,
    chains: Annotated[int, typer.Option(help="Chains, run together.")] = 4,
    draws: Annotated[int | None, typer.Option(
        help="Draws per chain (default: run until ESS ≥ 400, R-hat < 1.05).")] = None,
    burnin: Annotated[int | None, typer.Option(help="Burn-in draws with --draws (default = "
                                                    "draws).")] = None,
    thin: Annotated[int | None, typer.Option(help="Steps per draw (default: calibrated).")
                    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per chain per step.")] = None,
    sampler: Annotated[str, typer.Option(help="sgld, sgnht or rmsprop_sgld.")] = "sgld",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")
                        ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the trace plot (.png, .pdf, .svg).")
                    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar or settings (failed diagnostics "
                                             "still go to stderr).")] = False,
) -> None:
    """Estimate the local learning coefficient (LLC) of a saved model on its training data.

    Example:

        occamlab llc --model mynet.py:make --checkpoint model.pt \\
            --data train.npz --loss mse --json llc.json --plot trace.png

    The .npz holds the training inputs (--x-name) and targets (--y-name); the checkpoint is a
    state_dict (torch.save(model.state_dict(), path)). Exits with status 1 when every chain
    diverged (no estimate).
    """
    import warnings

    from occamlab import slt
    from occamlab._io import figure_format, save_figure, write_json
    from occamlab._load import load_arrays, load_model, loss_by_name

    try:
        if plot is not None:
            figure_format(plot, "--plot")
        loss_fn = loss_by_name(loss, noise)
        net = load_model(model, checkpoint)
        x, y = load_arrays(data, x_name, y_name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", slt.LLCWarning)
            res = slt.llc(net, loss_fn, (x, y), nbeta=nbeta, step_size=step_size,
                          localization=localization, chains=chains, draws=draws, burnin=burnin,
                          thin=thin, batch_size=batch_size, sampler=sampler, seed=seed,
                          progress=not quiet)
    except (ValueError, TypeError) as e:
        fail(str(e))
    typer.echo(f"LLC = {res.mean:.4g} ± {res.se:.2g} (SE; std over chains {res.std:.2g}), "
               f"L_n(w*) = {res.loss_star:.6g}")
    if not quiet:
        typer.echo(f"chains {res.chains} × draws {res.draws} (burn-in {res.burnin}, thin "
                   f"{res.thin}), R-hat {res.rhat:.3f}, ESS {res.ess:.0f}, "
                   f"{100 * res.frac_below:.0f}% of draws below L(w*)")
        typer.echo(f"settings: {res.calibration}")
    for w in caught:  # failed diagnostics always reach stderr
        typer.secho(f"warning: {w.message}", err=True, fg="yellow")
    if json_out is not None:
        write_json(json_out, res.to_dict())
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = res.plot()
        save_figure(ax.figure, plot)
        plt.close(ax.figure)
    if len(res.divergent) == res.chains:
        typer.secho("error: every chain diverged: no LLC estimate; lower --step-size",
                    err=True, fg="red")
        raise typer.Exit(1)


# --- kernels: infinite-width training dynamics (predict) -------------------------------------
@app.command()
def predict(
    spec: Annotated[str, typer.Argument(help="Architecture spec (as for `occamlab kernel`).")],
    data: Annotated[Path, typer.Option(help=".npz with x_train, y_train and optionally x_test, "
                                            "y_test (integer labels become one-hot).")],
    t: Annotated[str, typer.Option("--t", help="Comma-separated training times in units of "
                                               "the learning rate; inf is t → ∞.")
                 ] = "0,10,100,1000,inf",
    get: Annotated[str, typer.Option(help="ntk (train every layer) or nngp (only the "
                                          "readout).")] = "ntk",
    diag_reg: Annotated[float, typer.Option(help="Adds diag_reg·tr(K)/n to the diagonal.")
                        ] = 0.0,
    learning_rate: Annotated[float, typer.Option(help="Times are multiplied by it.")] = 1.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the curves as JSON.")
                        ] = None,
) -> None:
    """Predict the train/test MSE over training time of an infinitely wide network.

    Example:

        occamlab predict "dense(w=1.41,b=0.1) relu dense" --data d.npz \\
            --t 0,10,100,inf

    Gradient flow on ½·mean((f − y)²) of the infinite ensemble (Lee et al. 2019), as
    neural-tangents' predict.gradient_descent_mse_ensemble; the expected MSE over
    initialisations is the squared error of the ensemble mean plus its variance. Prints one row
    per time; --json writes t, train_mse, test_mse (and the MSE of the mean).
    """
    import math

    import numpy as np
    import torch

    from occamlab import kernels as K
    from occamlab._io import write_json
    from occamlab._load import load_arrays
    from occamlab.kernels import predict as P

    def targets(y: torch.Tensor) -> torch.Tensor:
        if y.ndim == 1 and not y.is_floating_point():
            return torch.nn.functional.one_hot(y.long()).to(torch.float64)
        return y.to(torch.float64)

    try:
        times = [float(v) for v in t.split(",") if v.strip()]
        if not times:
            raise ValueError("--t needs at least one time, e.g. --t 0,10,100,inf")
        arch = K.parse_spec(spec)
        x, y = load_arrays(data, "x_train", "y_train")
        with np.load(data) as f:
            has_test = "x_test" in f.files and "y_test" in f.files
        y = targets(y)
        fn = P.gradient_descent_mse_ensemble(arch, x, y, learning_rate=learning_rate,
                                             diag_reg=diag_reg)
        curves = {"t": ["inf" if math.isinf(v) else v for v in times]}
        sets = [("train", None, y)]
        if has_test:
            xt, yt = load_arrays(data, "x_test", "y_test")
            sets.append(("test", xt, targets(yt)))
        for name, inputs, target in sets:
            g = fn(times, inputs, get, compute_cov=True)
            err = ((g.mean - target) ** 2).mean((-2, -1))
            var = g.covariance.diagonal(dim1=-2, dim2=-1).mean(-1)
            curves[f"{name}_mse"] = (err + var).tolist()
            curves[f"{name}_mse_of_mean"] = err.tolist()
    except (ValueError, TypeError) as e:
        fail(str(e))
    head = "t" + "".join(f"  {n}_mse" for n, _, _ in sets)
    typer.echo(head)
    for i, ti in enumerate(times):
        row = "inf" if math.isinf(ti) else f"{ti:g}"
        typer.echo(row + "".join(f"  {curves[f'{n}_mse'][i]:.6g}" for n, _, _ in sets))
    if json_out is not None:
        write_json(json_out, curves)


# --- landscape: Hessian spectra and mode connectivity of saved models ------------------------
def _landscape_inputs(model: str, checkpoints: list[Path], data: Path, x_name: str,
                      y_name: str, loss: str):
    from occamlab._load import load_arrays, load_model, loss_by_name

    loss_fn = loss_by_name(loss)
    nets = [load_model(model, c) for c in checkpoints]
    x, y = load_arrays(data, x_name, y_name)
    return nets, (x, y), loss_fn


def _save_plot(ax, path: Path) -> None:
    import matplotlib.pyplot as plt

    from occamlab._io import save_figure

    save_figure(ax.figure, path)
    plt.close(ax.figure)


@app.command()
def hessian(
    model: Annotated[str, typer.Option(help="'module:factory' or 'file.py:factory' building "
                                            "the network.")],
    data: Annotated[Path, typer.Option(help=".npz with the inputs and targets.")],
    checkpoint: Annotated[Path | None, typer.Option(
        help="state_dict file (read with weights_only=True).")] = None,
    x_name: Annotated[str, typer.Option(help="Name of the inputs in the .npz.")] = "x",
    y_name: Annotated[str, typer.Option(help="Name of the targets in the .npz.")] = "y",
    loss: Annotated[str, typer.Option(help="mse or cross-entropy.")] = "cross-entropy",
    k: Annotated[int, typer.Option(help="Eigenvalues at each end of the spectrum.")] = 5,
    tol: Annotated[float, typer.Option(help="Eigenvalue accuracy, relative to ‖H‖.")] = 1e-6,
    probes: Annotated[int, typer.Option(help="Hutch++ products for the trace.")] = 30,
    steps: Annotated[int, typer.Option(help="Lanczos steps per density run.")] = 80,
    runs: Annotated[int, typer.Option(help="Density runs (start vectors).")] = 4,
    batch_size: Annotated[int | None, typer.Option(help="Rows per pass (bounds memory).")
                          ] = None,
    float64: Annotated[bool, typer.Option(help="Compute in float64.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random vectors.")] = 0,
    density_png: Annotated[Path | None, typer.Option(help="Write the density plot (PNG).")
                           ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")
                        ] = None,
) -> None:
    """Top and bottom Hessian eigenvalues, trace and spectral density of a saved model's loss.

    Example:

        occamlab hessian --model net.py:make --checkpoint m.pt --data d.npz \\
            --density-png density.png

    The data .npz holds inputs x (N, ...) and targets y; the loss is the mean over its rows.
    Eigenvalues by Lanczos (largest and smallest are algebraic), trace by Hutch++, density by
    stochastic Lanczos quadrature.
    """
    import torch

    from occamlab import landscape as LS
    from occamlab._io import write_json

    try:
        (net,), xy, loss_fn = _landscape_inputs(model, [checkpoint] if checkpoint else [None],
                                                data, x_name, y_name, loss)
        h = LS.hessian(net, loss_fn, xy, batch_size=batch_size,
                       dtype=torch.float64 if float64 else None)
        top = LS.eigenvalues(h, k=k, which="largest", tol=tol, seed=seed)
        low = LS.eigenvalues(h, k=k, which="smallest", tol=tol, seed=seed)
        tr = LS.trace(h, probes=probes, seed=seed)
        ds = LS.density(h, steps=min(steps, h.shape[0]), runs=runs, seed=seed)
    except (ValueError, TypeError) as e:
        fail(str(e))
    fmt = ", ".join
    typer.echo(f"P = {h.shape[0]} parameters, N = {xy[0].shape[0]} rows")
    typer.echo(f"largest eigenvalues:  {fmt(f'{v:.6g}' for v in top.values.tolist())}")
    typer.echo(f"smallest eigenvalues: {fmt(f'{v:.6g}' for v in low.values.tolist())}")
    typer.echo(f"trace: {tr.mean:.6g} ± {tr.se:.2g} (Hutch++, {tr.matvecs} products)")
    if not (top.converged and low.converged):
        typer.secho(f"warning: Lanczos did not reach tol {tol:g}; raise it or the steps",
                    err=True, fg="yellow")
    if json_out is not None:
        write_json(json_out, {"parameters": h.shape[0], "largest": top.values.tolist(),
                              "smallest": low.values.tolist(), "trace": tr.mean,
                              "trace_se": tr.se, "density_grid": ds.grid.tolist(),
                              "density": ds.density.tolist()})
    if density_png is not None:
        import matplotlib

        matplotlib.use("Agg")
        _save_plot(ds.plot(), density_png)
        typer.echo(f"density plot written to {density_png}")


@app.command()
def connect(
    model: Annotated[str, typer.Option(help="'module:factory' or 'file.py:factory' building "
                                            "both networks.")],
    checkpoint: Annotated[list[Path], typer.Option(
        help="state_dict of each end point: give it twice.")],
    data: Annotated[Path, typer.Option(help=".npz with the inputs and targets.")],
    x_name: Annotated[str, typer.Option(help="Name of the inputs in the .npz.")] = "x",
    y_name: Annotated[str, typer.Option(help="Name of the targets in the .npz.")] = "y",
    loss: Annotated[str, typer.Option(help="mse or cross-entropy.")] = "cross-entropy",
    kind: Annotated[str, typer.Option(help="bezier or polychain.")] = "bezier",
    bends: Annotated[int, typer.Option(help="Trainable bends of the curve.")] = 1,
    train_steps: Annotated[int, typer.Option(help="Adam steps training the curve.")] = 500,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-2,
    batch_size: Annotated[int, typer.Option(help="Rows per training step.")] = 128,
    steps: Annotated[int, typer.Option(help="Points on each path.")] = 25,
    align: Annotated[bool, typer.Option(help="Also the line after weight matching.")] = True,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    plot: Annotated[Path | None, typer.Option(help="Write the loss along the paths (PNG).")
                    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")
                        ] = None,
) -> None:
    """Loss barriers between two saved models: straight line, after alignment, trained curve.

    Example:

        occamlab connect --model net.py:make --checkpoint a.pt --checkpoint b.pt \\
            --data d.npz --plot paths.png

    Barrier = max over the path of L(t) − ½(L(0) + L(1)) (Git Re-Basin); "above chord" is
    max of L(t) − ((1−t)L(0) + tL(1)) (Entezari et al. 2022). Alignment needs an
    nn.Sequential of Linear/Conv layers with elementwise activations.
    """
    from occamlab import landscape as LS
    from occamlab._io import write_json

    notes = []
    try:
        if len(checkpoint) != 2:
            raise ValueError(f"--checkpoint must be given exactly twice (the two end points), "
                             f"got {len(checkpoint)}")
        (a, b), xy, loss_fn = _landscape_inputs(model, checkpoint, data, x_name, y_name, loss)
        paths = {"line": LS.interpolate(a, b, loss_fn, xy, steps=steps)}
        if align:
            try:
                b_al, _ = LS.align(a, b, seed=seed)
                paths["aligned line"] = LS.interpolate(a, b_al, loss_fn, xy, steps=steps)
            except ValueError as e:
                notes.append(f"alignment skipped: {e}")
        paths[f"{kind} curve"] = LS.connect(a, b, loss_fn, xy, kind=kind, bends=bends,
                                            train_steps=train_steps, lr=lr,
                                            batch_size=batch_size, steps=steps, seed=seed)
    except (ValueError, TypeError) as e:
        fail(str(e))
    line = paths["line"]
    typer.echo(f"end losses: {float(line.loss[0]):.6g}, {float(line.loss[-1]):.6g}")
    for name, p in paths.items():
        typer.echo(f"{name:>16}: max loss {float(p.loss.max()):.6g}, barrier {p.barrier:.6g}, "
                   f"above chord {p.barrier_linear:.6g}")
    for n in notes:
        typer.secho(f"note: {n}", err=True, fg="yellow")
    if json_out is not None:
        write_json(json_out, {name: {"t": p.t.tolist(), "loss": p.loss.tolist(),
                                     "barrier": p.barrier, "barrier_linear": p.barrier_linear}
                              for name, p in paths.items()})
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        ax = None
        for name, p in paths.items():
            ax = p.plot(ax, label=name)
        ax.legend()
        _save_plot(ax, plot)
        typer.echo(f"plot written to {plot}")

# --- runs: sweeps on Dask into a resumable Zarr store ----------------------------------------
@app.command()
def sweep(
    study: Annotated[Path, typer.Argument(help="The study file (TOML); see the example above.")],
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler.")
                         ] = None,
    slurm: Annotated[bool, typer.Option(
        help="Run on SLURM jobs, per the study's \\[slurm] table.")] = False,
    store: Annotated[Path | None, typer.Option(help="Zarr store (overrides the study's).")
                     ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Run a function over a grid of settings × seeds on Dask; resume by running it again.

    The function returns a dict of numbers (or small arrays); a cell that
    raises is recorded with its message and the others go on. Without
    --scheduler or --slurm, a local cluster of one worker process per core
    runs the cells. The results are printed and stay in the store (open it
    with xarray.open_zarr, or run the same command again).

    Example study file (study.toml), for train(width=..., lr=..., seed=...):

        function = "mystudy.py:train"    # or "package.module:function"
        store = "runs/width-lr.zarr"
        seeds = 3                        # or a list: [0, 1, 2]
        retries = 1
        \\[grid]
        width = [64, 256, 1024]
        lr = [0.1, 0.01]
        \\[slurm]                          # used with --slurm (dask-jobqueue)
        cores = 4
        memory = "16GB"
        walltime = "01:00:00"
        jobs = 4
    """
    import importlib
    import tomllib

    import cloudpickle

    from occamlab import runs
    from occamlab._load import load_object

    cluster = None
    try:
        if scheduler is not None and slurm:
            raise ValueError("give --scheduler or --slurm, not both")
        try:
            spec = tomllib.loads(study.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"could not read the study file {study}: {e}") from None
        unknown = set(spec) - {"function", "grid", "seeds", "store", "retries", "slurm"}
        if unknown or "function" not in spec or "grid" not in spec:
            raise ValueError(f"the study file needs 'function' and a [grid] table (and may have "
                             f"seeds, store, retries, [slurm]); got keys {sorted(spec)}")
        fn = load_object(spec["function"], "function")
        if not spec["function"].split(":")[0].endswith(".py"):  # workers need not import it
            cloudpickle.register_pickle_by_value(importlib.import_module(fn.__module__))
        if slurm:
            cluster = runs.slurm_cluster(**spec.get("slurm", {}))
        ds = runs.sweep(fn, spec["grid"], seeds=spec.get("seeds", 1),
                        store=store or spec.get("store", "runs/sweep.zarr"),
                        client=cluster or scheduler, retries=spec.get("retries", 1),
                        progress=not quiet)
    except (ValueError, TypeError, ImportError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        typer.secho("interrupted: finished cells are kept in the store; run the same command "
                    "again to resume", err=True, fg="yellow")
        raise typer.Exit(130) from None
    finally:
        if cluster is not None:
            cluster.close()
    typer.echo(str(ds))


# --- slt: the LLC over training, from a folder of checkpoints (resumable) ---------------------
@app.command("llc-trajectory")
def llc_trajectory(
    model: Annotated[str, typer.Option(help="'module:factory' or 'file.py:factory' building "
                                            "the network.")],
    checkpoints: Annotated[str, typer.Option(help="Glob of state_dict files, e.g. "
                                                  "'ckpts/*.pt'; the step is the last integer "
                                                  "in each file name.")],
    data: Annotated[Path, typer.Option(help=".npz with the training inputs and targets.")],
    out: Annotated[Path, typer.Option(help="Output folder: trajectory.csv, trajectory.png, "
                                           "one JSON per finished checkpoint.")
                   ] = Path("llc-trajectory"),
    relabel: Annotated[bool, typer.Option(help="Targets := each checkpoint's outputs "
                                               "(regression losses; saddles and plateaus).")
                       ] = False,
    x_name: Annotated[str, typer.Option(help="Name of the inputs in the .npz.")] = "x",
    y_name: Annotated[str, typer.Option(help="Name of the targets in the .npz.")] = "y",
    loss: Annotated[str, typer.Option(help="mse, cross-entropy, or gaussian-nll (with "
                                           "--noise).")] = "mse",
    noise: Annotated[float, typer.Option(help="σ of gaussian-nll.")] = 1.0,
    chains: Annotated[int, typer.Option(help="Chains per checkpoint.")] = 4,
    draws: Annotated[int | None, typer.Option(
        help="Draws per chain (default: run until ESS ≥ 400, R-hat < 1.05).")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    quiet: Annotated[bool, typer.Option(help="No progress bar (failed diagnostics still go to "
                                             "stderr).")] = False,
) -> None:
    """Estimate the LLC at every checkpoint of a training run, all in one batched computation.

    Example:

        occamlab llc-trajectory --model net.py:make --checkpoints 'ckpts/*.pt' \\
            --data train.npz --loss gaussian-nll --relabel

    Finished checkpoints are kept in OUT/checkpoints/ and skipped when the command is run again.
    """
    import glob
    import json
    import re
    import warnings

    import numpy as np

    from occamlab import slt
    from occamlab._io import write_json, write_text, write_with
    from occamlab._load import load_arrays, load_model, loss_by_name

    try:
        loss_fn = loss_by_name(loss, noise)
        files = sorted(glob.glob(checkpoints))
        if not files:
            raise ValueError(f"--checkpoints {checkpoints!r} matches no file")
        found = {}
        for f in files:
            nums = re.findall(r"\d+", Path(f).stem)
            if not nums:
                raise ValueError(f"checkpoint {f} has no step number in its name (e.g. "
                                 f"step_100.pt)")
            found[int(nums[-1])] = f
        if len(found) != len(files):
            raise ValueError("two checkpoint files have the same step number")
        steps = sorted(found)
        done_dir = out / "checkpoints"
        done = {s: json.loads((done_dir / f"{s}.json").read_text()) for s in steps
                if (done_dir / f"{s}.json").exists()}
        todo = [s for s in steps if s not in done]
        x, y = load_arrays(data, x_name, y_name)
        if todo:
            nets = [load_model(model, found[s]).eval() for s in todo]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", slt.LLCWarning)
                traj = slt.trajectory(nets, loss_fn, (x, y), steps=todo, relabel=relabel,
                                      chains=chains, draws=draws, seed=seed,
                                      progress=not quiet)
            for w in caught:
                typer.secho(f"warning: {w.message}", err=True, fg="yellow")
            for i, s in enumerate(todo):
                r = traj.results[i]
                done[s] = {"step": s, "file": found[s], "llc": r.mean, "se": r.se,
                           "loss": float(traj.loss[i]), "rhat": r.rhat, "ess": r.ess,
                           "stop": r.stop, "divergent": len(r.divergent)}
                write_json(done_dir / f"{s}.json", done[s])
    except (ValueError, TypeError) as e:
        fail(str(e))
    rows = [done[s] for s in steps]
    cols = ["step", "file", "llc", "se", "loss", "rhat", "ess", "stop", "divergent"]
    write_text(out / "trajectory.csv", "\n".join(
        [",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in rows]) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    view = slt.Trajectory(steps=np.array(steps, dtype=float),
                          llc=np.array([r["llc"] for r in rows], dtype=float),
                          se=np.array([r["se"] for r in rows], dtype=float),
                          loss=np.array([r["loss"] for r in rows], dtype=float), results=(),
                          relabel=relabel)
    ax = view.plot()
    write_with(out / "trajectory.png", lambda p: ax.figure.savefig(p, dpi=110,
                                                                   bbox_inches="tight",
                                                                   format="png"))
    plt.close(ax.figure)
    typer.echo(f"{len(steps)} checkpoints ({len(steps) - len(todo)} kept from an earlier run); "
               f"wrote {out / 'trajectory.csv'} and {out / 'trajectory.png'}")
