"""The drivers' reply formats (``reply_formats``, checked by daclab.connection on every read).

1. Every declared pattern compiles, and every query a driver can send (each pymeasure property's
   get command, with its channel filled in, and the queries its methods send) is covered by
   exactly one format of the object whose read() sees the reply, unless it is one of the listed,
   commented exceptions.
2. On the simulated lab (and the standalone 2182A and Cryomagnetics 4G on the same virtual
   cryostat) every reading role method, and every getter the twins answer, runs fault-free
   without a single retry: every twin reply fits its format.
3. Against garbage, for the format of each reading query: see the comment above
   ``test_a_reading_format_refuses_exactly_what_is_not_a_genuine_reply``.
4. A garbled reply to each instrument's reading query (the simulator's ``garbage`` fault) is
   retried, and the role method returns the true reading.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymeasure.instruments.common_base import CommonBase

from daclab import clock as clocks
from daclab import sim
from daclab.connection import GarbledReply, InstrumentFault, check_format, faults_on_this_thread, guard, single_attempt
from daclab.instruments import reply_grammar as grammar
from daclab.instruments.ami430 import AMI430
from daclab.instruments.cryomagnetics4g import Cryomagnetics4G, Cryomagnetics4GMagnet
from daclab.instruments.keithley2182 import Keithley2182A
from daclab.instruments.keithley6221 import Keithley6221, Nanovoltmeter2182A
from daclab.instruments.lakeshore350 import LakeShore350
from daclab.instruments.lakeshore370 import Lakeshore370
from daclab.instruments.magnet import Coil
from daclab.instruments.srs_sim921 import SIM900, SIM921
from daclab.lab import Lab
from daclab.limits import SoftwareLimits
from daclab.sim import Fault
from daclab.sim.binding import is_query, recording_commands
from daclab.sim.faults import FaultInjector

HYPOTHESIS = settings(max_examples=60, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---- the instruments: the simulated lab, plus the standalone 2182A and the 4G on its cryostat ----

@pytest.fixture(scope="module")
def lab():
    previous = clocks.current()
    with Lab.open("simulated", start_K=150.0, seed=2) as opened:
        for role in opened.config.roles:
            opened.role(role)
        # The SIM921 is guarded, its mainframe is not (Lab guards the driver a lab file names);
        # guarded here on the same lock, so that its own queries are checked too.
        mainframe = opened.instrument("bridge921").adapter.mainframe
        guard(mainframe, lock=guard(opened.instrument("bridge921")))
        # A twin answers at once: a query outside its grammar (test 2 reads every getter) then
        # costs 50 ms of waiting, not the VISA default of seconds.
        for role in ("temperature", "bridge370", "delta", "magnet"):
            opened.instrument(role).adapter.connection.timeout = 50
        mainframe.adapter.connection.timeout = 50
        yield opened
    clocks.use(previous)


@pytest.fixture(scope="module")
def standalone(lab):
    """The 2182A on its own GPIB address and the 4G, guarded as a lab guards its drivers."""
    library = "{}@sim".format
    meter = Keithley2182A("GPIB0::7::INSTR", visa_library=library(sim.sim_config("keithley2182.yaml")), timeout=50)
    supply = Cryomagnetics4G("GPIB0::4::INSTR", visa_library=library(sim.sim_config("cryomagnetics4g.yaml")),
                             timeout=50)
    for instrument in (meter, supply):
        guard(instrument)
    meter.reset()
    supply.check_errors()
    magnet = Cryomagnetics4GMagnet(supply, Coil(tesla_per_amp=0.1, max_current_A=90.0),
                                   SoftwareLimits(max_field_T=9.0, max_field_rate_T_per_min=0.5))
    yield SimpleNamespace(meter=meter, supply=supply, magnet=magnet)
    for instrument in (meter, supply):
        instrument.adapter.close()


def drivers(lab, standalone) -> list[Any]:
    """Every driver object daclab talks through (the SIM921's mainframe included)."""
    bridge921 = lab.instrument("bridge921")
    return [lab.instrument("temperature"), lab.instrument("bridge370"), bridge921, bridge921.adapter.mainframe,
            lab.instrument("delta"), lab.instrument("magnet"), standalone.meter, standalone.supply]


# ---- 1. formats compile and cover every query ---------------------------------------------------

def get_commands(target) -> dict[str, str]:
    """The get command of every pymeasure property of ``target``'s class (stored by pymeasure as
    the default of its getter's ``get_command`` argument)."""
    commands = {}
    for name, member in inspect.getmembers(type(target)):
        if isinstance(member, property) and member.fget is not None:
            try:
                parameters = inspect.signature(member.fget).parameters
            except (TypeError, ValueError):
                continue
            if "get_command" in parameters and parameters["get_command"].default is not None:
                commands[name] = parameters["get_command"].default
    return commands


def channels(instrument) -> list[Any]:
    return [v for v in vars(instrument).values() if isinstance(v, CommonBase) and getattr(v, "parent", None) is instrument]


def format_owner(target):
    """The object whose read() sees ``target``'s replies: a channel that declares its own formats
    reads for itself (the 2182A behind the 6221); pymeasure channels forward to their parent."""
    declares = any("reply_formats" in vars(cls) for cls in type(target).__mro__ if cls not in (CommonBase, object))
    return target if declares or getattr(target, "parent", None) is None else target.parent


def sent_command(target, get_command: str) -> str:
    """The command as it goes out (and as connection.py records it): a channel fills its id in."""
    return target.insert_id(get_command) if getattr(target, "parent", None) is not None else get_command


# Queries sent by driver methods rather than properties, as they go out.
METHOD_QUERIES = {
    Keithley6221: ["TRAC:DATA?", "TRAC:DATA:SEL? 0,1000", "SYST:COMM:SER:ENT?"],
    AMI430: [f"RAMP:RATE:{q}:{n}?" for q in ("FIELD", "CURR") for n in (1, 10)],
    Cryomagnetics4G: [f"RATE? {n}" for n in range(5)],
    SIM900: ["GETN? 1,128"],
}

# Queries left without a format on purpose: (driver class, command) -> why.
UNCHECKED = {
    # The 2182A's reply travels in it, empty while the 2182A has not answered: it is checked by
    # Nanovoltmeter2182A's own formats, keyed by the pass-through command that carried the query.
    (Keithley6221, "SYST:COMM:SER:ENT?"): "carries the 2182A's reply",
    # A definite-length block read as bytes (read_definite_block checks its header); the module's
    # reply inside it is checked by SIM921.reply_formats.
    (SIM900, "GETN? 1,128"): "binary block",
    # Free-text option lists: they enter neither data nor decisions.
    (Keithley6221, "*OPT?"): "free text",
    (Keithley2182A, "*OPT?"): "free text",
    (AMI430, "*OPT?"): "free text",
    # pymeasure's property sends 'ESE?' without the '*': the 6221 does not know the command, so
    # no reply is ever read (a pymeasure defect; daclab never reads it).
    (Keithley6221, "ESE?"): "never answered",
    # pymeasure's guard/output-low switch and waveform mode: daclab does not use them, and the
    # sources at hand do not give their reply words.
    (Keithley6221, ":OUTPut:ISHield?"): "unused",
    **{(Keithley6221, f":SOUR:WAVE:{node}?"): "waveform mode, unused"
       for node in ("AMPL", "DUR:CYCL", "DUR:TIME", "DCYC", "FREQ", "FUNC", "OFFS", "PMAR:OLIN", "PMAR",
                    "RANG", "PMAR:STAT")},
    # The 2182A's thermocouple function: no thermocouple is wired in daclab's setups, and its
    # reply words (thermocouple type, reference junction) are not in the sources at hand.
    (Keithley2182A, ":SENS:TEMP:TC?"): "thermocouple function, unused",
    (Keithley2182A, ":SENS:TEMP:RJUN:RSEL?"): "thermocouple function, unused",
    (Keithley2182A, ":SENS:TEMP:RJUN:SIM?"): "thermocouple function, unused",
    **{(Keithley2182A, f":SENS:TEMP:CHAN{n}:REF{tail}?"): "thermocouple function, unused"
       for n in (1, 2) for tail in ("", ":STAT")},
}


def every_query(instrument) -> list[tuple[Any, str, str]]:
    """(format owner, command as sent, what sends it) for every query ``instrument`` can send."""
    queries = []
    for target in [instrument, *channels(instrument)]:
        for name, command in get_commands(target).items():
            queries.append((format_owner(target), sent_command(target, command), f"{type(target).__name__}.{name}"))
    for command in METHOD_QUERIES.get(type(instrument), ()):
        queries.append((instrument, command, f"{type(instrument).__name__} method"))
    return queries


def matching_formats(owner, command: str) -> list[tuple[str, str]]:
    return [(c, r) for c, r in owner.reply_formats if re.fullmatch(c, command.strip())]


def test_every_declared_pattern_compiles(lab, standalone):
    owners = [*drivers(lab, standalone), lab.instrument("delta").nanovoltmeter]
    for owner in owners:
        compiled = grammar.compiled(owner.reply_formats)
        assert compiled, f"{type(owner).__name__} declares no reply format"


def test_every_query_of_every_driver_has_exactly_one_format_or_is_a_listed_exception(lab, standalone):
    uncovered, ambiguous, exempt_seen = [], [], set()
    for instrument in drivers(lab, standalone):
        for owner, command, origin in every_query(instrument):
            found = matching_formats(owner, command)
            exempt = (type(instrument), command) in UNCHECKED
            if exempt:
                exempt_seen.add((type(instrument), command))
                assert not found, f"{command!r} is listed as unchecked but {type(owner).__name__} has a format for it"
            elif not found:
                uncovered.append(f"{origin}: {command!r}")
            elif len(found) > 1:  # check_format takes the first: an overlap would hide a format
                ambiguous.append(f"{origin}: {command!r} matches {len(found)} formats")
    assert not uncovered, "queries without a reply format:\n" + "\n".join(uncovered)
    assert not ambiguous, "\n".join(ambiguous)
    assert exempt_seen == set(UNCHECKED), f"listed exceptions no driver sends: {set(UNCHECKED) - exempt_seen}"


# ---- 2. fault-free, every twin reply fits its format ----------------------------------------------

def no_fault_in(caplog, before: int) -> None:
    assert faults_on_this_thread() == before, "an exchange was retried or slow"
    assert not [r for r in caplog.records if r.name == "daclab.faults"], [r.message for r in caplog.records]


def test_every_reading_role_method_runs_without_a_single_retry(lab, standalone, caplog):
    world = lab.world
    before = faults_on_this_thread()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        controller = lab.role("temperature")
        controller.set_setpoint(150.5, rate_K_per_min=5.0)
        assert controller.wait_for_temperature(150.5, tolerance_K=0.2, stable_s=5, timeout_s=600, poll_s=5)
        assert controller.temperature() == pytest.approx(world.stage_temperature(), abs=0.05)
        assert controller.setpoint() == pytest.approx(150.5) and controller.ramp_done()
        assert 0.0 <= controller.heater_output() <= 100.0
        truth = world.sample_resistance()
        assert lab.role("delta").resistance() == pytest.approx(truth, rel=1e-2)
        for name in ("bridge370", "bridge921"):
            meter = lab.role(name)
            meter.set_excitation(1e-4)
            assert meter.resistance() == pytest.approx(truth, rel=3e-2)
        iv = lab.role("pulse").pulse_iv([1e-3, 2e-3], width_s=1e-3, period_s=0.5)
        assert iv[:, 1] == pytest.approx(iv[:, 0] * truth, rel=1e-2)
        didv = lab.role("conductance").differential_conductance(-1e-4, 1e-4, 1e-4, 1e-5, 2e-3)["didv_S"]
        assert np.all(np.isfinite(didv)) and np.all(didv > 0)
        [volts] = lab.role("steps").voltages_at([1e-4], settle_s=0.1)
        assert volts == pytest.approx(world.lead_signal(2, 1e-4) + world.thermoelectric_emf(), rel=1e-3)
        magnet = lab.role("magnet")
        magnet.set_ramp_rate(0.5)
        magnet.set_field(0.2)
        magnet.wait_until_holding(timeout_s=600)
        assert magnet.field() == pytest.approx(0.2) and magnet.state() == "holding" and not magnet.quenched()
        # the 4G reads the same magnet; the standalone 2182A the sample under the 6221's DC current
        assert standalone.magnet.field() == pytest.approx(world.field(), abs=1e-4)
        assert standalone.magnet.state() == "holding" and not standalone.magnet.quenched()
        standalone.meter.ch_1.setup_voltage(auto_range=True, nplc=1)
        expected = world.source_current_A * world.sample_resistance() + world.thermoelectric_emf()
        assert standalone.meter.voltage == pytest.approx(expected, abs=1e-6)
    no_fault_in(caplog, before)


def test_every_getter_the_twins_answer_fits_its_format(lab, standalone, caplog):
    """Each covered getter is read once; a query a twin does not implement times out (it is not
    part of its grammar) and is skipped, a reply breaking its format fails the test."""
    garbled, answered = [], 0
    with caplog.at_level(logging.ERROR, logger="daclab.faults"):
        for instrument in drivers(lab, standalone):
            for target in [instrument, *channels(instrument)]:
                for name, command in get_commands(target).items():
                    sent = sent_command(target, command)
                    if (type(instrument), sent) in UNCHECKED:
                        continue
                    try:
                        with single_attempt():
                            getattr(target, name)
                        answered += 1
                    except InstrumentFault as fault:
                        if isinstance(fault.cause, (GarbledReply, ValueError)):
                            garbled.append(f"{type(target).__name__}.{name}: {fault.cause}")
    assert not garbled, "\n".join(garbled)
    assert answered > 150  # most of the grammar was exercised


# ---- 3. garbage and corrupted readings ------------------------------------------------------------
#
# What this proves. For each reading query, ``genuine`` below is the reply grammar of the manual
# (and of the twin), written again as plain Python - independent of the regular expressions in
# the drivers. Hypothesis draws strings of the simulator's garbage (1-23 printable ASCII
# characters, FaultInjector.garbage's alphabet and lengths) and single corruptions of a genuine
# reply (one character replaced, dropped or inserted, or the reply truncated), and the test
# asserts that check_format raises GarbledReply exactly when ``genuine`` says the string is not a
# reply the instrument could have sent. So every corruption that leaves the grammar is refused,
# and no genuine reply is refused; a corruption that yields another well-formed reply (a digit
# replaced by a digit, a fixed-width sign flipped where the grammar allows both) cannot be seen
# by any format and is accepted by design. The test with FaultInjector's own generator then
# shows the rate: for the fixed-layout readings not one of thousands of garbage replies passes,
# for the free-width decimals (AMI 430, SIM921, 4G) only the few that are themselves numbers.

DIGITS = frozenset("0123456789")


def _digits(text: str) -> bool:
    return bool(text) and set(text) <= DIGITS


def _signed(text: str, sign: str) -> str | None:
    """``text`` without its sign when the sign is written as ``sign`` says, else None."""
    head = text[:1]
    if sign == "+":
        return text[1:] if head == "+" else None
    if sign == "±":
        return text[1:] if head in ("+", "-") else None
    if sign == "±?":
        return text[1:] if head in ("+", "-") else text
    if sign == "-?":
        return text[1:] if head == "-" else text
    if sign == "+?":
        return text[1:] if head == "+" else text
    return text


def floating(sign: str, digits: tuple[int, int], before: tuple[int, int] = (1, 99)) -> Callable[[str], bool]:
    def genuine(text: str) -> bool:
        body = _signed(text, sign)
        if body is None:
            return False
        whole, point, fraction = body.partition(".")
        return (point == "." and _digits(whole) and _digits(fraction)
                and digits[0] <= len(whole) + len(fraction) <= digits[1] and before[0] <= len(whole) <= before[1])
    return genuine


def fixed(sign: str, whole_digits: int, fraction_digits: int) -> Callable[[str], bool]:
    def genuine(text: str) -> bool:
        body = _signed(text, sign)
        whole, point, fraction = (body or "").partition(".")
        return (body is not None and point == "." and _digits(whole) and _digits(fraction)
                and len(whole) == whole_digits and len(fraction) == fraction_digits)
    return genuine


def exponent(mantissa: Callable[[str], bool]) -> Callable[[str], bool]:
    """Lake Shore's ±nnn.nnnE±nn and SCPI NR3: ``mantissa``, E, a sign, two digits."""
    def genuine(text: str) -> bool:
        head, e, power = text.partition("E")
        return e == "E" and power[:1] in ("+", "-") and _digits(power[1:]) and len(power) == 3 and mantissa(head)
    return genuine


def decimal(sign: str, with_exponent: bool = False) -> Callable[[str], bool]:
    def genuine(text: str) -> bool:
        body = _signed(text, sign)
        if body is None:
            return False
        if with_exponent:
            for marker in ("E", "e"):
                if marker in body:
                    body, _, power = body.partition(marker)
                    power = _signed(power, "±?")
                    if not (_digits(power) and len(power) <= 3):
                        return False
                    break
        whole, point, fraction = body.partition(".")
        return _digits(whole) and (not point or _digits(fraction))
    return genuine


def integer_of(values, width: int | None = None) -> Callable[[str], bool]:
    """A value of ``values``, zero-padded to exactly ``width`` digits (or not padded at all)."""
    allowed = set(values)

    def genuine(text: str) -> bool:
        if not _digits(text):
            return False
        if width is None and str(int(text)) != text:
            return False
        return (width is None or len(text) == width) and int(text) in allowed
    return genuine


def records(*fields: Callable[[str], bool]) -> Callable[[str], bool]:
    """A buffer: whole readings of one field per element, comma-separated."""
    def genuine(text: str) -> bool:
        parts = text.split(",")
        return len(parts) % len(fields) == 0 and all(fields[i % len(fields)](p) for i, p in enumerate(parts))
    return genuine


def with_unit(number: Callable[[str], bool], units=("A", "kG", "T", "G")) -> Callable[[str], bool]:
    def genuine(text: str) -> bool:
        for unit in units:
            if text.endswith(unit):
                value = text[: -len(unit)]
                if number(value[:-1] if value.endswith(" ") else value):
                    return True
        return False
    return genuine


SCPI_NR3 = exponent(lambda m: m[:1] in ("+", "-") and m[1:2] in DIGITS and m[2:3] == "." and _digits(m[3:])
                    and 1 <= len(m) - 3 <= 9)
STATUS_350 = {s for s in range(256) if not s & ~(1 | 16 | 32 | 64 | 128)}


def formatted(spec: str, low: float, high: float):
    """Genuine replies as an instrument prints them: ``spec`` applied to values in [low, high]."""
    return st.floats(low, high, allow_nan=False).map(spec.format)


def scientific(spec: str, largest_exponent: int):
    """Genuine replies in exponent form: values of magnitude 1e-15 to 10**largest_exponent."""
    magnitudes = st.builds(lambda m, e: m * 10.0 ** e, st.floats(1.0, 9.999), st.integers(-15, largest_exponent))
    values = st.one_of(st.just(0.0), magnitudes, magnitudes.map(lambda v: -v))
    return values.map(spec.format)


def owner_6221(elements: tuple[str, ...] | None):
    """The 6221's formats as check_format sees them with ``elements`` in force."""
    state = SimpleNamespace(_buffer_elements=elements) if elements else SimpleNamespace()
    return SimpleNamespace(reply_formats=Keithley6221.reply_formats.fget(state))


def buffer_replies(specs: tuple[str, ...]):
    record = st.tuples(*(scientific(s, 1) for s in specs)).map(",".join)
    return st.lists(record, min_size=1, max_size=3).map(",".join)


@dataclasses.dataclass(frozen=True)
class ReadingCase:
    name: str
    owner: Any  # what declares the format (as check_format is given it)
    command: str
    genuine: Callable[[str], bool]  # the manual's grammar, written independently of the regex
    replies: Any  # strategy of genuine replies as the instrument (and its twin) prints them
    fixed_width: bool  # a layout garbage of the simulator never matches


READING_CASES = [
    ReadingCase("350 KRDG?", LakeShore350, "KRDG? A", floating("+", (6, 7)), formatted("{:+08.3f}", 0, 1500), True),
    ReadingCase("350 KRDG? (manual)", LakeShore350, "KRDG? B", floating("+", (6, 7)),
                st.sampled_from(["+4.21330", "+77.3500", "+293.450", "+1499.99"]), True),
    ReadingCase("350 CRDG?", LakeShore350, "CRDG? B", floating("±", (6, 7)), formatted("{:+08.3f}", -273.15, 1200), True),
    ReadingCase("350 SRDG?", LakeShore350, "SRDG? A", floating("±", (6, 8)), formatted("{:+09.3f}", 0, 99999), True),
    ReadingCase("350 SETP?", LakeShore350, "SETP? 1", floating("±", (6, 9)), formatted("{:+09.4f}", 0, 99999), True),
    ReadingCase("350 HTR?", LakeShore350, "HTR? 1", fixed("+", 3, 1), formatted("{:+06.1f}", 0, 100), True),
    ReadingCase("350 RDGST?", LakeShore350, "RDGST? A", integer_of(STATUS_350, 3),
                st.sampled_from(sorted(STATUS_350)).map("{:03d}".format), True),
    ReadingCase("370 RDGR?", Lakeshore370, "RDGR? 1", exponent(floating("±", (6, 6), (1, 3))),
                scientific("{:+.5E}", 8), True),
    ReadingCase("370 RDGK?", Lakeshore370, "RDGK? 16", exponent(floating("±", (6, 6), (1, 3))),
                scientific("{:+.5E}", 2), True),
    ReadingCase("370 RDGST?", Lakeshore370, "RDGST? 2", integer_of(range(256), 3),
                st.integers(0, 255).map("{:03d}".format), True),
    ReadingCase("SIM921 RVAL?", SIM921, "RVAL?", decimal("±?", True), scientific("{:+.6E}", 7), False),
    ReadingCase("6221 delta buffer", owner_6221(("READ", "TST")), "TRAC:DATA?", records(SCPI_NR3, SCPI_NR3),
                buffer_replies(("{:+.7E}", "{:+.7E}")), True),
    ReadingCase("6221 pulse buffer", owner_6221(("READ", "TST", "SOUR")), "TRAC:DATA:SEL? 0,4",
                records(SCPI_NR3, SCPI_NR3, SCPI_NR3), buffer_replies(("{:+.7E}", "{:+.7E}", "{:+.6E}")), True),
    ReadingCase("6221 DCON buffer", owner_6221(("READ", "TST", "SOUR", "AVOL")), "TRAC:DATA?",
                records(SCPI_NR3, SCPI_NR3, SCPI_NR3, SCPI_NR3),
                buffer_replies(("{:+.7E}", "{:+.7E}", "{:+.6E}", "{:+.7E}")), True),
    ReadingCase("6221 NVZ?", owner_6221(None), "SOUR:DCON:NVZ?", SCPI_NR3, scientific("{:+.9E}", 0), True),
    ReadingCase("2182A via 6221", Nanovoltmeter2182A, 'SYST:COMM:SER:SEND "READ?"', SCPI_NR3,
                scientific("{:+.9E}", 1), True),
    ReadingCase("2182A :READ?", Keithley2182A, ":READ?", records(SCPI_NR3),
                st.lists(scientific("{:+.7E}", 1), min_size=1, max_size=3).map(",".join), True),
    ReadingCase("430 FIELD:MAG?", AMI430, "FIELD:MAG?", decimal("±?", True), formatted("{:.7f}", -12, 12), False),
    ReadingCase("430 CURR:MAG?", AMI430, "CURR:MAG?", decimal("±?", True), formatted("{:.6f}", -125, 125), False),
    ReadingCase("430 STATE?", AMI430, "STATE?", integer_of(range(1, 12)), st.integers(1, 11).map(str), False),
    ReadingCase("4G IMAG?", Cryomagnetics4G, "IMAG?", with_unit(decimal("±?")),
                st.tuples(formatted("{:.4f}", -100, 100), st.sampled_from(["A", "kG", "T", "G"])).map("".join), False),
]
CASE_IDS = [case.name for case in READING_CASES]

PRINTABLE = st.characters(min_codepoint=33, max_codepoint=126)  # FaultInjector.garbage's alphabet
GARBAGE = st.text(alphabet=PRINTABLE, min_size=1, max_size=23)


@st.composite
def corrupted(draw, replies):
    """A genuine reply with one character replaced, dropped or inserted, or truncated."""
    reply = draw(replies)
    at = draw(st.integers(0, len(reply) - 1))
    kind = draw(st.sampled_from(["replace", "drop", "insert", "truncate"]))
    if kind == "replace":
        return reply[:at] + draw(PRINTABLE) + reply[at + 1:]
    if kind == "drop":
        return reply[:at] + reply[at + 1:]
    if kind == "insert":
        return reply[:at] + draw(PRINTABLE) + reply[at:]
    return reply[:at]


def refused(case: ReadingCase, reply: str) -> bool:
    try:
        check_format(case.owner, case.command, reply)
    except GarbledReply:
        return True
    return False


@pytest.mark.parametrize("case", READING_CASES, ids=CASE_IDS)
@HYPOTHESIS
@given(data=st.data())
def test_a_reading_format_refuses_exactly_what_is_not_a_genuine_reply(case, data):
    genuine_reply = data.draw(case.replies, label="genuine")
    assert case.genuine(genuine_reply), f"the test's own grammar refuses the instrument's {genuine_reply!r}"
    assert not refused(case, genuine_reply)
    for reply in (data.draw(GARBAGE, label="garbage"), data.draw(corrupted(case.replies), label="corrupted")):
        assert refused(case, reply) == (not case.genuine(reply.strip())), reply


@pytest.mark.parametrize("case", READING_CASES, ids=CASE_IDS)
def test_the_simulators_garbage_is_refused_unless_it_is_itself_a_reading(case):
    injector = FaultInjector(np.random.default_rng(7))
    replies = [injector.garbage().decode() for _ in range(3000)]
    passed = [r for r in replies if not refused(case, r)]
    assert all(case.genuine(r) for r in passed), passed
    if case.fixed_width:
        assert passed == []  # a rejection rate of 100 %
    else:  # free-width decimals: only short all-digit strings, themselves possible readings
        assert len(passed) < 0.02 * len(replies) and all(len(r) <= 3 for r in passed), passed


def test_a_buffer_missing_a_field_of_its_last_reading_is_refused():
    """A reply cut at a comma leaves well-formed numbers: only the element count exposes it."""
    reply = "+1.0000000E-03,+0.0000000E+00,+1.0100000E-03,+2.0000000E-03"
    owner = owner_6221(("READ", "TST"))
    check_format(owner, "TRAC:DATA?", reply)
    with pytest.raises(GarbledReply):
        check_format(owner, "TRAC:DATA?", reply.rsplit(",", 1)[0])
    with pytest.raises(GarbledReply):
        check_format(owner_6221(("READ", "TST", "SOUR")), "TRAC:DATA?", reply)


def test_a_long_buffer_is_checked_whole_with_or_without_the_elements_known():
    """A 500-reading buffer passes, and the same with a truncated last field is refused, also by
    the fallback format for unknown elements (whose field alternatives must not overlap: if they
    did, refusing this reply would backtrack without end)."""
    reply = ",".join(["+1.0000000E-03,+0.0000000E+00,OHM,+00012"] * 500)
    for owner in (owner_6221(None), owner_6221(("READ", "TST", "UNIT", "RNUM"))):
        check_format(owner, "TRAC:DATA?", reply)
        with pytest.raises(GarbledReply):
            check_format(owner, "TRAC:DATA?", reply + ",+1.0E-0")


# ---- 4. a garbled reading is retried, and the true value returned ---------------------------------

def queries_to(device: str, messages) -> list[str]:
    return [text for name, text in messages if name == device and is_query(text.encode())]


def garble_query(world, device: str, index: int):
    """Make the ``index``-th query (from 0) to ``device`` from now on come back as the simulator's
    garbage: a one-shot ``garbage`` Fault that the injector is let to see at that query only."""
    fault = world.faults.add(Fault(device, "garbage", count=1))
    original = world.faults.check
    seen = [0]

    def check(name, now_s, query=True):
        if name == device and query:
            seen[0] += 1
            if seen[0] - 1 != index:
                return None
        return original(name, now_s, query)

    world.faults.check = check
    return fault, lambda: vars(world.faults).pop("check")


@dataclasses.dataclass(frozen=True)
class GarbleCase:
    name: str
    device: str
    reading_query: str  # regex of the query whose reply is garbled (its last occurrence)
    read: Callable[[Any, Any], Any]  # (lab, standalone) -> the role method's result
    close: Callable[[Any, Any], bool]  # (result, reference from a fault-free call)


def _near(rel: float = 0.0, abs_: float = 0.0):
    return lambda value, reference: np.allclose(value, reference, rtol=rel, atol=abs_)


GARBLE_CASES = [
    GarbleCase("350 temperature", "lakeshore350", r"KRDG\? A", lambda lab, s: lab.role("temperature").temperature(),
               _near(abs_=0.05)),
    GarbleCase("350 setpoint", "lakeshore350", r"SETP\? 1", lambda lab, s: lab.role("temperature").setpoint(),
               _near(abs_=1e-4)),
    GarbleCase("6221 delta", "keithley6221", r"TRAC:DATA\?", lambda lab, s: lab.role("delta").resistance(),
               _near(rel=1e-3)),
    GarbleCase("6221 DCON", "keithley6221", r"TRAC:DATA\?",
               lambda lab, s: lab.role("conductance").differential_conductance(-1e-4, 1e-4, 1e-4, 1e-5, 2e-3)["didv_S"],
               _near(rel=1e-3)),
    GarbleCase("2182A via 6221", "keithley6221", r"SYST:COMM:SER:ENT\?",
               lambda lab, s: lab.role("steps").voltages_at([1e-4], settle_s=0.1)[0], _near(rel=1e-3)),
    GarbleCase("370", "lakeshore370", r"RDGR\? 1", lambda lab, s: lab.role("bridge370").resistance(),
               _near(rel=1e-3)),
    GarbleCase("SIM921", "srs_sim900", r"GETN\? 1,\d+", lambda lab, s: lab.role("bridge921").resistance(),
               _near(rel=1e-2)),
    GarbleCase("430 field", "ami430", r"FIELD:MAG\?", lambda lab, s: lab.role("magnet").field(), _near(abs_=1e-6)),
    GarbleCase("430 state", "ami430", r"STATE\?", lambda lab, s: lab.role("magnet").state(), str.__eq__),
    GarbleCase("4G field", "cryomagnetics4g", r"IMAG\?", lambda lab, s: s.magnet.field(), _near(abs_=1e-4)),
    GarbleCase("2182A", "keithley2182", r":READ\?", lambda lab, s: s.meter.voltage, _near(abs_=1e-6)),
]


@pytest.mark.parametrize("case", GARBLE_CASES, ids=[c.name for c in GARBLE_CASES])
def test_a_garbled_reading_is_retried_and_the_true_value_returned(lab, standalone, case, caplog):
    world = lab.world
    case.read(lab, standalone)  # settled: the next two calls send the same queries
    with recording_commands() as messages:
        reference = case.read(lab, standalone)
    queries = queries_to(case.device, messages)
    index = max(i for i, text in enumerate(queries) if re.fullmatch(case.reading_query, text))
    fault, restore = garble_query(world, case.device, index)
    hits = len(world.faults.injected)
    before = faults_on_this_thread()
    try:
        with caplog.at_level(logging.WARNING, logger="daclab.faults"), recording_commands() as messages:
            value = case.read(lab, standalone)
    finally:
        restore()
    assert [(device, kind) for device, kind, _ in world.faults.injected[hits:]] == [(case.device, "garbage")]
    assert fault.count == 0  # the garbage was sent, on the reading query
    assert faults_on_this_thread() == before + 1  # one retry, nothing else
    [record] = [r for r in caplog.records if r.name == "daclab.faults"]
    assert "GarbledReply" in record.message or "ValueError" in record.message
    assert re.fullmatch(case.reading_query, queries_to(case.device, messages)[index])
    assert case.close(value, reference), (value, reference)
