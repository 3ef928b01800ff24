"""The ``gigawatt`` command: one Typer app with a sub-command per module."""

from __future__ import annotations

import typer

from gigawatt.cli import client_cmds
from gigawatt.cli.serve import serve_command
from gigawatt.cli.simulate import simulate_command
from gigawatt.cli.spend_cmd import spend_command
from gigawatt.cli.value import value_command

app = typer.Typer(
    name="gigawatt",
    help="Gigawatt: what a gigawatt of GPUs earns, a cloud to sell it, and a twin to test it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Gigawatt command-line interface."""


client_cmds.register(app)
app.command("value")(value_command)
app.command("serve")(serve_command)
app.command("simulate")(simulate_command)
app.command("spend")(spend_command)
