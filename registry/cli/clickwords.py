"""Click's own words — ``Usage:``, ``Options``, its usage errors — in the reader's language.

Click marks its messages for gettext but reads them from the process-wide gettext domain; here
its modules are given licreg's translators instead (:func:`speak_through_licreg`), and the
messages a licreg user meets are listed so that ``cli.po`` carries their Chinese. A message not
listed stays in click's English.
"""

from __future__ import annotations

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.types

from registry.i18n import N_, Nn_, raw_gettext, raw_ngettext

__all__ = ["CLICK_WORDS", "speak_through_licreg"]

CLICK_WORDS = (
    N_("Usage:"), N_("Options"), N_("Commands"), N_("Show this message and exit."),
    N_("Aborted!"), N_("Error: {message}"), N_("Try '{command} {option}' for help."),
    N_("Missing command."), N_("No such command {name!r}."), N_("No such option {name!r}."),
    N_("Missing argument"), N_("Missing option"), N_("Missing parameter"),
    N_("Missing {param_type}"), N_("Missing parameter: {param_name}"),
    N_("Invalid value: {message}"), N_("Invalid value for {param_hint}: {message}"),
    N_("{value!r} is not a valid {number_type}."), N_("{value} is not in the range {range}."),
    N_("file"), N_("directory"), N_("path"), N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a file."), N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."), N_("{name} {filename!r} is not writable."),
    N_("Could not open file {filename!r}: {message}"), N_("default: {default}"),
    N_("Option {name!r} does not take a value."), N_("Show the version and exit."),
    Nn_("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"),
    Nn_("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."),
    Nn_("{value!r} is not {choice}.", "{value!r} is not one of {choices}."),
    Nn_("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"),
)
"""The click messages a licreg user meets, marked for ``cli.po``."""

_MODULES = (click.core, click.decorators, click.exceptions, click.formatting, click.parser,
            click.types)


def speak_through_licreg() -> None:
    """Give click's modules licreg's translators (the current language, zh by default)."""
    for module in _MODULES:
        if hasattr(module, "_"):
            module._ = raw_gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = raw_ngettext  # type: ignore[attr-defined]
