"""Options declared once, as fields of the config dataclasses, and turned into command-line options from there.

A field's metadata holds what the command line needs besides its name, type and default: the help text, the
choices, whether it is a bare flag or an argument. So the CLI, the Python API, `edge demo` and the tests share one
set of defaults, and a YAML file (`--config`) names options by the same names.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from edge.extras import training_extra
from edge.runtime import EdgeError
from edge.runtime.files import atomic_write_text


def option(default: Any = dataclasses.MISSING, help: str = "", **cli: Any) -> Any:  # noqa: A002 - typer's word
    """A config field that is also a command-line option.

    `cli` keys: `choices` (allowed values), `flag` (a bare --name, no --no-name), `argument` (positional),
    `cli_type` (the type the command line parses, when it differs), `show_default`, `path` (relative to a config
    file's folder in YAML), `recorded` (False: left out of a written config.yaml, because a repeat must not reuse
    it, as a run's own directory).
    """
    return dataclasses.field(default=default, metadata={"help": help, **cli})


def with_options(config_class: type) -> typing.Callable:
    """Decorate a typer command `command(config, **own)`: every field of `config_class` becomes an option (or an
    argument), plus `--config FILE.yaml`; the command gets the config built from the file's values overridden by
    the flags given on the command line, defaults coming from the dataclass alone."""
    hints = typing.get_type_hints(config_class)
    fields = dataclasses.fields(config_class)

    def decorate(command: typing.Callable) -> typing.Callable:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
        options = [_parameter(field, hints[field.name]) for field in fields]
        config_file = inspect.Parameter(
            "config_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
                Path | None, typer.Option("--config", help="A YAML file of these options (as a run's config.yaml); "
                                          "flags given here override it.", show_default=False, dir_okay=False)],
        )  # fmt: skip
        context = inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(command)
        def run(context: typer.Context, config_file: Path | None, **values: Any) -> Any:
            own_values = {parameter.name: values.pop(parameter.name) for parameter in own}
            given = {name: value for name, value in values.items() if _given(context, name)}
            with training_extra(f"{context.command_path} --config"):  # PyYAML comes with the train extra
                from_file = load_config(config_file, config_class) if config_file else {}
            return command(build_config(config_class, from_file | given), **own_values)

        parameters = [*options, *own, config_file, context]
        run.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters])
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run

    return decorate


def _given(context: typer.Context, name: str) -> bool:
    """Whether the command line set option `name` (typer's vendored click has its own ParameterSource class)."""
    source = context.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _parameter(field: dataclasses.Field, hint: Any) -> inspect.Parameter:
    meta = field.metadata
    required = field.default is dataclasses.MISSING
    annotation = meta.get("cli_type", hint | None if required else hint)
    if "choices" in meta:
        annotation = typing.Literal[meta["choices"]]
    settings = {"help": meta["help"], "show_default": meta.get("show_default", True)}
    if meta.get("argument"):
        info = typer.Argument(metavar=field.name.upper(), **settings)
    else:
        names = (f"--{field.name.replace('_', '-')}",) if meta.get("flag") else ()
        info = typer.Option(*names, **settings)
    default = None if required or "cli_type" in meta else field.default
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, info])  # fmt: skip


def build_config(config_class: type, values: dict[str, Any]) -> Any:
    """`config_class(**values)`, a missing required field said as a user mistake."""
    for field in dataclasses.fields(config_class):
        if field.default is dataclasses.MISSING and values.get(field.name) is None:
            raise EdgeError(f"give {field.name.upper()}, or a --config file that names {field.name}")
    return config_class(**values)


def load_config(path: Path, config_class: type) -> dict[str, Any]:
    """Option values from a YAML mapping (keys as field names or flags), typed as the fields are; relative paths
    are taken from the file's folder where they exist there."""
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise EdgeError(f"{path}: cannot read the config file ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict):
        raise EdgeError(f"{path}: a config file is a mapping of option names to values")
    hints = typing.get_type_hints(config_class)
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    values = {}
    for key, value in document.items():
        name = str(key).removeprefix("--").replace("-", "_")
        if name not in fields:
            raise EdgeError(f"{path}: unknown option {key!r} (choose from {', '.join(fields)})")
        value = _typed(value, hints[name], f"{path}: {key}")
        if fields[name].metadata.get("path") and value is not None and (Path(path).parent / value).exists():
            value = (Path(path).parent / value).resolve()
        values[name] = value
    return values


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` as the field's type: YAML reads 1e-4 as a string and a user may write 5 for 5.0."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kinds = [kind for kind in members if kind is not type(None)]
    if value is None and len(kinds) < len(members):
        return None
    kind = typing.get_origin(kinds[0]) or kinds[0]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            raise ValueError
        if kind in (list, tuple):
            return tuple(value) if isinstance(value, list) else (str(value),)
        if kind is int and isinstance(value, float):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise EdgeError(f"{where}: {value!r} is not a {getattr(kind, '__name__', kind)}") from None


def save_config(config: Any, path: Path) -> None:
    """Write `config` as YAML that `--config path` reads back to the same options: paths relative to the file's
    folder, fields marked `recorded=False` (where the result goes) left out."""
    import yaml

    values = {}
    for field in dataclasses.fields(config):
        if field.metadata.get("recorded", True):
            value = getattr(config, field.name)
            if field.metadata.get("path") and value is not None and Path(value).exists():
                value = relative_path(Path(path).parent, value)
            values[field.name] = list(value) if isinstance(value, tuple) else _plain(value)
    atomic_write_text(Path(path), yaml.safe_dump(values, sort_keys=False))


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, os.PathLike) else value


def relative_path(folder: Path, path: str | os.PathLike) -> str:
    """`path` as seen from `folder`: a run names no path of the machine that made it, and still finds its data
    when both move together."""
    return os.path.relpath(Path(path).resolve(), Path(folder).resolve())
