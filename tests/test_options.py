"""Options are declared once, on the config dataclasses: the command line, config files and the Python API agree."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from edge.cli import app
from edge.config import ExportConfig, Thresholds, TrainConfig
from edge.options import load_config, option, save_config, with_options
from edge.runtime import EdgeError
from tests.helpers import run_edge


@pytest.mark.parametrize(("command", "config_class"), [("train", TrainConfig), ("export", ExportConfig),
                                                       ("parity", Thresholds)])  # fmt: skip
def test_every_field_is_an_option_with_the_dataclass_default(command, config_class):
    """The defaults a user gets from `edge COMMAND` are the ones the Python API, `edge demo` and the tests get."""
    params = {param.name: param for param in typer.main.get_command(app).commands[command].params}
    for field in dataclasses.fields(config_class):
        assert field.metadata["help"], field.name
        param = params[field.name]
        if field.default is dataclasses.MISSING:
            assert param.param_type_name == "argument"
        elif field.default == ():
            assert param.default is None  # an empty list on the command line: no --keep-float given
        else:
            assert param.default == field.default, field.name
    assert TrainConfig(Path("data")).schedule == "cosine"  # once the CLI's default and not the Python API's


@dataclasses.dataclass
class Options:
    data: Path = option(help="A folder.", argument=True, path=True)
    rate: float = option(1e-3, "A rate.")
    mode: str = option("fast", "A mode.", choices=("fast", "slow"))
    names: tuple[str, ...] = option((), "Names.", cli_type=list[str] | None)


def _run(tmp_path: Path, *args: str) -> Options:
    app = typer.Typer()
    seen = []

    @app.command()
    @with_options(Options)
    def command(options: Options) -> None:
        seen.append(options)

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


def test_flags_given_override_the_config_file_and_the_file_overrides_the_defaults(tmp_path):
    tmp_path = tmp_path.resolve()
    (tmp_path / "images").mkdir()
    config = tmp_path / "options.yaml"
    config.write_text("data: images\nrate: 1e-4\nmode: slow\n")  # YAML reads 1e-4 as a string
    assert _run(tmp_path, "--config", str(config)) == Options(tmp_path / "images", 1e-4, "slow")
    assert _run(tmp_path, "--config", str(config), "--mode", "fast") == Options(tmp_path / "images", 1e-4, "fast")
    assert _run(tmp_path, "other", "--config", str(config)).data == Path("other")
    assert _run(tmp_path, "other") == Options(Path("other"))


@pytest.mark.parametrize(("text", "message"), [
    ("rate: fast\n", "'fast' is not a float"),
    ("speed: 1\n", "unknown option 'speed'"),
    ("- rate\n", "a mapping of option names"),
    ("rate: [1\n", "cannot read the config file"),
])  # fmt: skip
def test_a_bad_config_file_is_named_in_one_line(tmp_path, text, message):
    config = tmp_path / "options.yaml"
    config.write_text(text)
    with pytest.raises(EdgeError, match=message):
        load_config(config, Options)


def test_a_saved_config_reads_back_to_the_same_options_from_another_folder(tmp_path):
    (tmp_path / "data").mkdir()
    original = ExportConfig(tmp_path / "run", int8=True, qat_lr=1e-5, keep_float=("block_16_project",))
    save_config(original, tmp_path / "export" / "config.yaml")
    text = (tmp_path / "export" / "config.yaml").read_text()
    assert "run_dir" not in text  # where the result goes is given again, not repeated
    assert dataclasses.replace(original, run_dir=Path("other")) == ExportConfig(
        Path("other"), **load_config(tmp_path / "export" / "config.yaml", ExportConfig)
    )
    train = TrainConfig(tmp_path / "data", out=tmp_path / "run", seed=7)
    save_config(train, tmp_path / "run" / "config.yaml")
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data_dir"] == "../data" and "out" not in saved  # relative to the file: the pair can move
    assert TrainConfig(**load_config(tmp_path / "run" / "config.yaml", TrainConfig)) == dataclasses.replace(
        train, out=None
    )


def test_a_run_repeats_from_its_config_yaml(tiny_run, tmp_path):
    """`edge train --config RUN/config.yaml` trains the same model again: same options, same seed, same result."""
    again = tmp_path / "again"
    result = run_edge("train", "--config", tiny_run / "config.yaml", "--out", again)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_config(again / "config.yaml", TrainConfig) == load_config(tiny_run / "config.yaml", TrainConfig)
    first, second = (json.loads((run / "metrics.json").read_text()) for run in (tiny_run, again))
    assert second["validation"] == first["validation"]
    assert (again / "history.csv").read_text() == (tiny_run / "history.csv").read_text()
