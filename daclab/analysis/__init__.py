"""Physics of the analysis layer: pure, vectorised functions (numpy/scipy only).

Modules: ``constants`` (physical and model constants), ``whh`` (upper critical field),
``btk`` (point-contact Andreev conductance), ``bcs`` (gap temperature dependence),
``pinning`` (critical current density), ``pressure`` (diamond-edge and ruby scales).
Each function's docstring gives its formula, units and reference. No I/O, no Qt.
"""
