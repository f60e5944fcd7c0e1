"""Physics of the analysis layer: pure, vectorised functions and fits (numpy, scipy, lmfit).

The stable public API is exposed here; the modules behind it are ``whh`` (upper critical field),
``btk`` (point-contact Andreev conductance), ``bcs`` (gap temperature dependence), ``pinning``
(critical current density), ``pressure`` (diamond-edge and ruby scales), ``transitions`` (Tc
criteria), ``hc2_fit``, ``critical`` (Ic, Jc fits), ``conductance`` (dI/dV processing),
``gap_fit`` (BTK and BCS fits), ``aging`` and ``live`` (incremental fitters). Each function's
docstring gives its formula, units and reference. No I/O, no Qt.
"""

from daclab.analysis.aging import fit_aging
from daclab.analysis.bcs import bcs_gap
from daclab.analysis.btk import btk_conductance
from daclab.analysis.critical import critical_current_from_iv, differential_resistance, fit_jc
from daclab.analysis.fitting import AnalysisInputError, Estimate
from daclab.analysis.gap_fit import fit_btk, fit_gap
from daclab.analysis.hc2_fit import fit_hc2
from daclab.analysis.pinning import jc_delta_l, jc_delta_tc
from daclab.analysis.pressure import diamond_edge_pressure, figure_of_merit, ruby_pressure
from daclab.analysis.transitions import cooling_warming, transition_temperatures
from daclab.analysis.whh import gl_hc2, whh_hc2

__all__ = [
    "btk_conductance", "whh_hc2", "gl_hc2", "bcs_gap", "jc_delta_l", "jc_delta_tc",
    "diamond_edge_pressure", "ruby_pressure", "figure_of_merit",
    "transition_temperatures", "cooling_warming", "fit_hc2", "fit_jc", "fit_btk", "fit_gap", "fit_aging",
    "critical_current_from_iv", "differential_resistance", "AnalysisInputError", "Estimate",
]
