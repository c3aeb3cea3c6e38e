"""The ``plantllm`` command line: a thin layer over the library.

Every command is file-in/file-out and calls one library function with the same
arguments. User errors (``PlantLLMError``) become one red line and exit status 2;
``plantllm --debug ...`` shows the traceback instead.

One module per command group (``species``, ``data``, ``models``, ``predict``, ``variants``, ``motifs``,
``bench``, ``demo``); options used by several commands are declared once in ``options``. Library modules
are imported inside the commands, so ``plantllm --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from plantllm import __version__
from plantllm.cli import bench, compare, data, demo, design, models, motifs, predict, species, variants
from plantllm.core import console as con
from plantllm.core.errors import PlantLLMError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Plant DNA language models: species -> datasets -> model -> training -> applications.")
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plantllm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks for errors."),
) -> None:
    _state["debug"] = debug


for _name, _group in (("species", species.app), ("data", data.app), ("tokenizer", models.tok_app),
                      ("model", models.model_app), ("predict", predict.app), ("variants", variants.app),
                      ("bench", bench.app), ("design", design.app), ("motifs", motifs.app),
                      ("compare", compare.app)):
    app.add_typer(_group, name=_name)
for _name, _command in (("pretrain", models.pretrain_cmd), ("finetune", models.finetune_cmd),
                        ("mutagenesis", motifs.mutagenesis_cmd),
                        ("demo", demo.demo_cmd)):
    app.command(_name)(_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (tests call it in-process)."""
    con.quiet_libraries()  # plantllm's own progress only: no library's tqdm bars (set before they are imported)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("PLANTLLM_DEBUG") == "1"
    try:
        rc = app(args=args, prog_name="plantllm", standalone_mode=False)
        return rc if isinstance(rc, int) else 0  # click returns typer.Exit's code here
    except typer.Exit as e:
        return e.exit_code
    except PlantLLMError as e:
        if debug:
            traceback.print_exc()
        con.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        con.error("interrupted; finished outputs are kept, unfinished ones were not written")
        return 130
    except Exception as e:  # click usage errors
        rc = _usage_error(e)
        if rc is None:
            raise
        return rc


def _usage_error(e: Exception) -> int | None:
    """Show a usage error as click does and return its exit status; None for any other exception. Typer
    0.2x raises its own copy of click's exceptions (typer._click), older typer click's."""
    import click

    if isinstance(e, (click.exceptions.Abort, typer.Abort)):
        return 1
    if isinstance(e, (click.exceptions.ClickException, getattr(typer, "TyperException", ()))) and hasattr(e, "show"):
        e.show()
        return e.exit_code
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
