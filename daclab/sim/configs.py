"""Where the simulation's files live: the pyvisa-sim configurations and the sample presets."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sim_configs_dir() -> Path:
    """The installed sim_configs folder (the repository's sim_configs/ in an editable install)."""
    return Path(str(resources.files("daclab.sim_configs")))


def sim_config(name: str) -> Path:
    """Path of a pyvisa-sim configuration by file name, e.g. ``sim_config("lakeshore350.yaml")``."""
    path = sim_configs_dir() / name
    if not path.is_file():
        known = sorted(p.name for p in sim_configs_dir().glob("*.yaml"))
        raise FileNotFoundError(f"sim config {name!r} not found; known: {', '.join(known)}")
    return path


def preset_names() -> list[str]:
    return sorted(p.stem for p in (sim_configs_dir() / "samples").glob("*.yaml"))


def sample_path(path_or_name: str | Path) -> Path:
    """A sample file path as given, or the preset of that name."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    preset = sim_configs_dir() / "samples" / f"{path_or_name}.yaml"
    if preset.is_file():
        return preset
    raise FileNotFoundError(
        f"sample {str(path_or_name)!r} is neither a file nor a preset; presets: {', '.join(preset_names())}"
    )
