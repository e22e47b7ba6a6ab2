"""The Typer application and its root options; commands register on `app` from their own modules.

Not here: the commands themselves (train.py, data.py, predict.py, measure.py).
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from textcnn import __version__
from textcnn.cli.common import console

app = typer.Typer(
    name="textcnn",
    help="Convolutional text classification (Kim 2014): train, predict, explain, and compare CNNs with LSTMs.\n\n"
    "Examples:\n\n"
    "  textcnn train sst2\n\n"
    '  textcnn predict latest "a gorgeous, witty film"\n\n'
    "  textcnn compare sst2 --models cnn,lstm",
    # Click's plain help: it wraps words at the terminal's width (up to 120 columns) and never cuts
    # them (rich's help tables cut long defaults with "…" and label every flag <bool>).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"textcnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log library details to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
