"""The virtual cryostat behind VISA.

Importing daclab.sim makes every ``pyvisa.ResourceManager("<file>@sim")`` opened afterwards
bind the devices of its sim_configs file to the active :class:`VirtualCryostat` (see
:mod:`daclab.sim.binding`)::

    import pyvisa, daclab.sim
    world = daclab.sim.use(daclab.sim.VirtualCryostat("ceh9_cell1"))
    rm = pyvisa.ResourceManager(f"{daclab.sim.sim_config('lakeshore350.yaml')}@sim")
"""

from daclab.sim import twins  # noqa: F401  (registers the twins)
from daclab.sim.binding import install as _install
from daclab.sim.configs import preset_names, sim_config, sim_configs_dir
from daclab.sim.cryostat import VirtualCryostat, active, use
from daclab.sim.faults import Fault
from daclab.sim.sample import Sample, SampleFileError, load_sample

_install()

__all__ = [
    "VirtualCryostat", "active", "use", "Fault", "Sample", "SampleFileError", "load_sample",
    "preset_names", "sim_config", "sim_configs_dir",
]
