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
    """Run the default study on MNIST-1D and write an HTML report (what `make demo` runs)."""
    from occamlab.report import run

    try:
        path = run(out, quick=quick, seed=seed, fresh=fresh, only=only,
                   log=(lambda s: None) if quiet else typer.echo)
    except ValueError as e:
        fail(str(e))
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
    quiet: Annotated[bool, typer.Option(help="No progress bar, print only the output path.")
                     ] = False,
) -> None:
    """Compute the infinite-width NNGP and NTK of an architecture on inputs from a file.

    Example: occamlab kernel "conv(3,circular,w=1.41) relu flatten dense(w=1.41) erf dense"
    x.npy -o k.npz

    Inputs are (N, d), (N, C, W) or (N, C, H, W) arrays. Layers: dense(w,b),
    conv(filter,padding,w,b) with padding same|circular|valid and filter 3 or 3x3, flatten,
    gap, and the activations relu, leakyrelu(alpha), abs, erf, gelu, sign, identity, tanh;
    w and b are the weight and bias standard deviations.

    The output .npz holds nngp and ntk, each of shape (N1, N2).
    """
    import numpy as np
    import torch

    from occamlab import kernels as K
    from occamlab._io import write_with
    from occamlab._load import load_arrays

    try:
        arch = K.parse_spec(spec)
        (a,) = load_arrays(data, key)
        b = None if x2 is None else load_arrays(x2, key)[0]
        k = arch.kernel(a, b, batch_size=batch_size,
                        dtype=torch.float32 if float32 else torch.float64, progress=not quiet)
    except (ValueError, TypeError) as e:
        fail(str(e))
    write_with(out, lambda p: np.savez(p, nngp=k.nngp.cpu().numpy(), ntk=k.ntk.cpu().numpy()))
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

    Example: occamlab nfa --model mynet.py:make --checkpoint model.pt --data data.npz

    Rows: layer, α, centered or not; columns corr(WᵀW, AGOP^α), and with --init-checkpoint
    corr((W−W₀)ᵀ(W−W₀), AGOP^α) and the same correlation at initialisation (baseline).
    """
    from occamlab import features
    from occamlab._io import write_json
    from occamlab._load import load_arrays, load_model

    try:
        net = load_model(model, checkpoint)
        net0 = None if init_checkpoint is None else load_model(model, init_checkpoint)
        (x,) = load_arrays(data, key)
        res = features.nfa(net.eval(), x, None if net0 is None else net0.eval(),
                           powers=tuple(power) if power else (0.5, 1.0), layers=layer or None,
                           batch_size=batch_size, progress=not quiet)
    except (ValueError, TypeError) as e:
        fail(str(e))
    head = f"{'layer':<16}{'power':>7}{'AGOP':>12}{'corr':>10}{'corr_delta':>12}{'corr_init':>11}"
    typer.echo(head)
    for r in res.rows:
        typer.echo(f"{r['layer']:<16}{r['power']:>7g}{'centered' if r['centered'] else 'plain':>12}"
                   f"{r['corr']:>10.4f}{r['corr_delta']:>12.4f}{r['corr_init']:>11.4f}")
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
    noise: Annotated[float, typer.Option(help="Label-noise variance ε².")] = 0.0,
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

    Example: occamlab eigenlearn "dense(w=1.41,b=0.1) relu dense(w=1.41,b=0.1) relu dense"
    --domain sphere --d 8 --target 2:1 --measure -o curve.csv

    sphere/cube: the target is a sum of unit-norm zonal harmonics / parities with the given
    power per degree (the spec must be fully connected). data: the kernel's spectrum on the
    pool in --data; --measure then compares held-out KRR error through the finite-pool
    correction. Writes a CSV (n, predicted and measured MSE) and a log-log PNG.
    """
    import csv
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from occamlab import eigenlearning as el
    from occamlab import kernels as K
    from occamlab._io import write_text, write_with
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
                arch, domain, d, el.experiment.parse_target(target), n_list, noise=noise,
                ridge=ridge, max_degree=max_degree, kind=kind, measured=measure,
                trials=trials, seed=seed, progress=not quiet)
    except (ValueError, TypeError) as e:
        fail(str(e))
    rows = el.experiment.curves_table(pred, comp)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out, buf.getvalue())
    if comp is not None:
        ax = comp.plot()
    else:
        ax = pred.plot()
    ax.set_title(f"eigenlearning: {domain}")
    png = out.with_suffix(".png")
    write_with(png, lambda p: ax.figure.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(ax.figure)
    typer.echo(f"learning curve written to {out} and {png}")
