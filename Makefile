# Two commands for a new user: `make demo` and `make test`. Both bootstrap everything they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Shared libraries the Qt wheel loads even on the headless "offscreen" platform.
QT_SYSTEM_LIBS := libegl1 libgl1 libxkbcommon0 libfontconfig1 libfreetype6 libglib2.0-0 libdbus-1-3 libx11-6 libx11-xcb1
export QT_QPA_PLATFORM ?= offscreen

.PHONY: demo test bench soak install system-libs clean

demo: $(STAMP)
	$(PY) -m daclab demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

# The overnight sequence on the virtual cryostat, clean and with 1000 injected instrument faults.
soak: $(STAMP)
	$(PY) -m daclab.sim.soak

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-libs
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Installs the Qt runtime libraries with apt when one of them is missing (needs root or sudo).
system-libs:
	@missing=""; for lib in libEGL.so.1 libGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3 libX11-xcb.so.1; do \
	  ldconfig -p | grep -q "$$lib" || missing="$$missing $$lib"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Qt runtime libraries (missing:$$missing)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(QT_SYSTEM_LIBS); \
	fi

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
