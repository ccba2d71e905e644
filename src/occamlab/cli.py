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
