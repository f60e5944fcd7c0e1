import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import pyvisa  # noqa: E402

from daclab import clock as clocks  # noqa: E402
from daclab import sim  # noqa: E402
from daclab.sim.sample import load_sample  # noqa: E402


@pytest.fixture(autouse=True)
def garbage_collected_on_the_main_thread(request):
    """In the window's tests, Python's cycle collector runs only on the main thread, between
    tests, as the window arranges for itself (daclab.gui.main_window): a collection started by
    a worker thread may delete a Qt object of the GUI thread and deadlock with it."""
    if not request.module.__name__.startswith("test_gui"):
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        if was_enabled:
            gc.enable()


@pytest.fixture
def world():
    """A fresh virtual cryostat (CeH9 preset, instant clock) in use for the test."""
    previous = clocks.current()
    cryostat = sim.use(sim.VirtualCryostat("ceh9_cell1", seed=1))
    yield cryostat
    clocks.use(previous)


@pytest.fixture
def ls350(world):
    rm = pyvisa.ResourceManager(f"{sim.sim_config('lakeshore350.yaml')}@sim")
    resource = rm.open_resource("ASRL3::INSTR", read_termination="\r\n", write_termination="\r\n", timeout=200)
    yield resource
    resource.close()
    rm.close()


@pytest.fixture
def virtual_clock():
    """An instant virtual clock in force for the test: driver waits advance it, nothing sleeps."""
    clock = clocks.VirtualClock()
    previous = clocks.use(clock)
    yield clock
    clocks.use(previous)


# The sample presets, as the tests of the analysis read their truths.
@pytest.fixture(scope="session")
def lace():
    return load_sample("lace_h10_cell2")


@pytest.fixture(scope="session")
def ceh9():
    return load_sample("ceh9_cell1")


@pytest.fixture(scope="session")
def ceh9_cell2():
    return load_sample("ceh9_cell2")
