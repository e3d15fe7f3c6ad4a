"""The configuration file: defaults, the example file, and problems reported so a person can fix
them in one edit (every problem at once, each naming the key, the value and what is allowed)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.app.config import (
    KEYS,
    REQUIRED,
    SECTION_CLASSES,
    Config,
    ConfigError,
    check_config_main,
    default_config,
    load_config,
    parse_config,
    summary,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

MINIMAL = '[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms.example.com/ocpp"\n'


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def with_minimal(section: str, line: str) -> str:
    """MINIMAL with one more line in ``section`` (which may be one of MINIMAL's own sections)."""
    header = f"[{section}]\n"
    if header in MINIMAL:
        return MINIMAL.replace(header, header + line + "\n")
    return MINIMAL + header + line + "\n"


# --- defaults -----------------------------------------------------------------------------------


def test_a_file_with_only_the_required_keys_gets_every_default():
    config = parse_config(MINIMAL)
    assert config.charge_point.id == "CP1"
    assert config.ocpp.url == "ws://csms.example.com/ocpp"
    cp = config.charge_point
    assert (cp.vendor, cp.model, cp.serial_number) == ("pievse", "pievse-sim", "")
    assert (cp.connectors, cp.max_current, cp.phases, cp.voltage) == (1, 32.0, 3, 230.0)
    assert (config.ocpp.version, config.ocpp.response_timeout, config.ocpp.ping_interval) == (
        "1.6", 30.0, 60)
    assert (config.meter.driver, config.meter.interval) == ("simulated", 1.0)
    assert config.rfid.driver == "simulated" and config.board.driver == "simulated"
    sim = config.simulation
    assert (sim.ev_max_current, sim.ev_phases, sim.ev_reaction_delay, sim.ev_battery_capacity) == (
        32.0, 3, 2.0, 0.0)
    assert config.api.listen == "127.0.0.1:8180"
    assert (config.api.host, config.api.port, config.api.enabled) == ("127.0.0.1", 8180, True)
    assert config.storage.path == "/var/lib/pievse/pievse.sqlite3"
    assert config.logging.level == "info"


def test_every_key_of_the_table_is_a_field_of_the_config_and_nothing_else():
    table = {(key.section, key.name) for key in KEYS}
    tree = {
        (section, f.name)
        for section, cls in SECTION_CLASSES.items()
        for f in dataclasses.fields(cls)
    }
    assert table == tree
    assert [f.name for f in dataclasses.fields(Config)] == list(SECTION_CLASSES)


def test_numbers_come_out_with_the_type_of_their_key():
    config = parse_config(with_minimal("charge_point", "max_current = 16"))
    assert config.charge_point.max_current == 16.0
    assert type(config.charge_point.max_current) is float
    assert type(config.charge_point.connectors) is int


def test_the_configuration_is_frozen():
    config = default_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.charge_point.max_current = 80.0  # type: ignore[misc]


def test_default_config_takes_overrides_section_by_section_and_validates_them():
    config = default_config(charge_point={"connectors": 2}, api={"listen": ""})
    assert config.charge_point.connectors == 2
    assert config.charge_point.id == "pievse001"
    assert config.ocpp.url == "ws://127.0.0.1:9000/ocpp"
    assert config.api.enabled is False and config.api.host is None and config.api.port is None
    with pytest.raises(ConfigError) as caught:
        default_config(charge_point={"connectors": 9})
    assert caught.value.problems == ["[charge_point] connectors = 9: must be between 1 and 8"]


def test_an_ipv6_api_address_is_written_in_brackets():
    config = parse_config(with_minimal("api", 'listen = "[::1]:8181"'))
    assert (config.api.host, config.api.port) == ("::1", 8181)


def test_a_wss_url_is_accepted_with_a_tls_security_profile():
    config = parse_config(MINIMAL.replace("ws://", "wss://")
                          + 'security_profile = 2\npassword = "0123456789abcdef"\n')
    assert config.ocpp.url == "wss://csms.example.com/ocpp"


@pytest.mark.parametrize(("lines", "problem"), [
    ('url = "wss://csms.example.com/ocpp"\n',
     '[ocpp] security_profile = 0 with url = "wss://csms.example.com/ocpp": security profile 0 '
     "is plain ws://, but the URL is wss://"),
    ('url = "ws://csms.example.com/ocpp"\nsecurity_profile = 2\npassword = "0123456789abcdef"\n',
     "security profile 2 needs TLS, but the URL is ws://"),
    ('url = "ws://csms.example.com/ocpp"\nsecurity_profile = 1\npassword = "tooshort"\n',
     "[ocpp] password = (hidden): must be 16 to 40 characters long"),
    ('url = "wss://csms.example.com/ocpp"\nsecurity_profile = 3\n',
     "security profile 3 needs the charge point certificate: set [ocpp] cert_file and key_file"),
    ('url = "wss://csms.example.com/ocpp"\nsecurity_profile = 2\npassword = "0123456789abcdef"\n'
     'ca_file = "/nonexistent/ca.pem"\n', '[ocpp] ca_file = "/nonexistent/ca.pem": '),
])
def test_a_security_profile_that_contradicts_the_url_or_lacks_its_secrets_is_refused(
        lines, problem):
    text = '[charge_point]\nid = "CP1"\n[ocpp]\n' + lines
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any(problem in line for line in caught.value.problems), caught.value.problems
    assert "tooshort" not in str(caught.value), "a password is never repeated"


def test_a_phase_rotation_on_a_single_phase_station_is_refused():
    text = with_minimal("charge_point", 'phases = 1\nphase_rotation = "RST"')
    assert problems_of(text) == [
        '[charge_point] phase_rotation = "RST": a single-phase station has no phase rotation '
        '(with phases = 1 it must stay "Unknown")']
    assert parse_config(with_minimal("charge_point", 'phase_rotation = "TSR"')
                        ).charge_point.phase_rotation == "TSR"


# --- the example file ---------------------------------------------------------------------------


def test_the_example_file_parses_and_holds_the_defaults():
    config = load_config(str(EXAMPLE))
    assert config == default_config()
    assert config.charge_point.id == "pievse001"
    assert config.ocpp.url == "ws://127.0.0.1:9000/ocpp"


def test_the_example_file_shows_every_key_at_its_default_and_nothing_unknown():
    data = tomllib.loads(EXAMPLE.read_text())
    in_example = {(section, name) for section, table in data.items() for name in table}
    in_table = {(key.section, key.name) for key in KEYS}
    assert in_example - in_table == set(), "keys in the example that pievse does not know"
    assert in_table - in_example == set(), "keys that the example does not document"
    for key in KEYS:
        expected = key.example if key.required else key.default
        assert data[key.section][key.name] == expected, key.label


def test_every_key_of_the_example_file_has_a_comment_above_it():
    lines = EXAMPLE.read_text().splitlines()
    names = {key.name for key in KEYS}
    for number, line in enumerate(lines):
        name = line.split("=", 1)[0].strip()
        if "=" in line and not line.startswith("#") and name in names:
            assert lines[number - 1].startswith("#"), f"line {number + 1}: {line}"


# --- problems, each naming the key, the value and what is allowed -------------------------------


@pytest.mark.parametrize(
    ("section", "line", "problem"),
    [
        ("charge_point", "max_current = 100.0",
         "[charge_point] max_current = 100.0: must be between 6 and 80 (A)"),
        ("charge_point", "max_current = 5",
         "[charge_point] max_current = 5: must be between 6 and 80 (A)"),
        ("charge_point", 'connectors = "two"',
         '[charge_point] connectors = "two": must be an integer'),
        ("charge_point", "connectors = true",
         "[charge_point] connectors = true: must be an integer"),
        ("charge_point", "connectors = 2.0",
         "[charge_point] connectors = 2.0: must be an integer"),
        ("charge_point", "phases = 2", "[charge_point] phases = 2: must be 1 or 3"),
        ("charge_point", "voltage = 90",
         "[charge_point] voltage = 90: must be between 100 and 480 (V)"),
        ("charge_point", 'vendor = "ABCDEFGHIJKLMNOPQRSTU"',
         '[charge_point] vendor = "ABCDEFGHIJKLMNOPQRSTU": must be at most 20 characters long'),
        ("charge_point", "serial_number = 1234",
         '[charge_point] serial_number = 1234: must be a string (in quotes: "1234")'),
        ("ocpp", 'version = "Auto"',
         '[ocpp] version = "Auto": must be one of "1.6", "2.0.1" or "auto"'),
        ("ocpp", "version = 1.6", '[ocpp] version = 1.6: must be a string (in quotes: "1.6")'),
        ("ocpp", 'version = "1.5"',
         '[ocpp] version = "1.5": must be one of "1.6", "2.0.1" or "auto"'),
        ("ocpp", "response_timeout = 0.5",
         "[ocpp] response_timeout = 0.5: must be between 1 and 300 (s)"),
        ("ocpp", "ping_interval = -1", "[ocpp] ping_interval = -1: must be between 0 and 3600 (s)"),
        ("meter", 'driver = "sunspec"',
         '[meter] driver = "sunspec": must be "simulated" or "modbus"'),
        ("meter", "interval = 0.05", "[meter] interval = 0.05: must be between 0.1 and 3600 (s)"),
        ("rfid", 'driver = "nfc"',
         '[rfid] driver = "nfc": must be one of "simulated", "pcsc" or "none"'),
        ("board", 'driver = "arduino"',
         '[board] driver = "arduino": must be "simulated" or "gpio"'),
        ("simulation", "ev_phases = 2", "[simulation] ev_phases = 2: must be 1 or 3"),
        ("simulation", "ev_reaction_delay = 11",
         "[simulation] ev_reaction_delay = 11: must be between 0 and 10 (s)"),
        ("simulation", "ev_battery_capacity = -1.0",
         "[simulation] ev_battery_capacity = -1.0: must be at least 0 (Wh)"),
        ("simulation", "ev_battery_capacity = inf",
         "[simulation] ev_battery_capacity = inf: must be a finite number, at least 0 (Wh)"),
        ("simulation", 'ev_state_at_start = "D"',
         '[simulation] ev_state_at_start = "D": must be one of "A", "B" or "C"'),
        ("ocpp", "response_timeout = nan",
         "[ocpp] response_timeout = nan: must be a finite number, between 1 and 300 (s)"),
        ("storage", 'path = ""', '[storage] path = "": must not be empty'),
        ("logging", 'level = "INFO"',
         '[logging] level = "INFO": must be one of "debug", "info", "warning" or "error"'),
        ("api", "listen = 8180", '[api] listen = 8180: must be a string (in quotes: "8180")'),
        ("api", "listen = [1, 2]", "[api] listen = [1, 2]: must be a string"),
    ],
)
def test_a_value_that_is_not_allowed_is_reported_with_key_value_and_what_is_allowed(
    section, line, problem
):
    assert problems_of(with_minimal(section, line)) == [problem]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://csms.example.com/ocpp", "must be a ws:// or wss:// URL with a host"),
        ("ws:///ocpp", "must be a ws:// or wss:// URL with a host"),
        ("ws://csms.example.com:99999/ocpp", "must be a ws:// or wss:// URL with a host"),
        ("csms.example.com", "must be a ws:// or wss:// URL with a host"),
        ("ws://csms.example.com/o cpp", "must not contain whitespace"),
    ],
)
def test_the_csms_url_must_be_a_websocket_url_with_a_host(url, allowed):
    [problem] = problems_of(MINIMAL.replace("ws://csms.example.com/ocpp", url))
    assert problem.startswith(f'[ocpp] url = "{url}": {allowed}')


@pytest.mark.parametrize("url", ["ws://csms.example.com/ocpp/{id}/",
                                 "ws://csms.example.com/ocpp?cp={id}&tenant=7"])
def test_the_csms_url_may_carry_an_id_placeholder_in_its_path_or_query_for_arthexis(url):
    assert parse_config(MINIMAL.replace("ws://csms.example.com/ocpp", url)).ocpp.url == url
    [problem] = problems_of(MINIMAL.replace("ws://csms.example.com/ocpp",
                                            "ws://{id}.csms.example.com/ocpp"))
    assert "{id} (the charge point id) belongs in the path or the query" in problem


@pytest.mark.parametrize(
    ("charge_point_id", "allowed"),
    [
        ("", "must be 1 to 48 characters long"),
        ("X" * 49, "must be 1 to 48 characters long"),
        ("site/1", 'must not contain "/", whitespace or control characters'),
        ("my charger", 'must not contain "/", whitespace or control characters'),
    ],
)
def test_the_charge_point_id_must_fit_in_the_url_path(charge_point_id, allowed):
    [problem] = problems_of(MINIMAL.replace('id = "CP1"', f'id = "{charge_point_id}"'))
    assert problem.startswith(f'[charge_point] id = "{charge_point_id}": {allowed}')


@pytest.mark.parametrize(
    ("listen", "allowed"),
    [
        ("8180", 'must be "host:port"'),
        (":8180", 'must be "host:port"'),
        ("127.0.0.1:http", "must end with a port number from 0 to 65535"),
        ("127.0.0.1:70000", "must end with a port number from 0 to 65535"),
        ("::1:8180", "must put an IPv6 address in brackets"),
    ],
)
def test_the_api_address_must_be_host_and_port(listen, allowed):
    [problem] = problems_of(with_minimal("api", f'listen = "{listen}"'))
    assert problem.startswith(f'[api] listen = "{listen}": {allowed}')


def test_a_misspelt_key_is_reported_with_the_key_it_probably_meant():
    assert problems_of(with_minimal("ocpp", 'ulr = "ws://x/ocpp"')) == [
        '[ocpp] ulr: unknown key; did you mean "url"?'
    ]


def test_a_misspelt_section_is_reported_with_the_section_it_probably_meant():
    assert problems_of(MINIMAL + "[chargepoint]\nconnectors = 2\n") == [
        '[chargepoint]: unknown section; did you mean "[charge_point]"?'
    ]


def test_a_key_in_the_wrong_section_is_reported_with_where_it_belongs():
    assert problems_of(with_minimal("ocpp", "interval = 5")) == [
        "[ocpp] interval: unknown key here; it belongs in [meter], [site_meter]"
    ]


def test_an_unknown_key_without_a_close_match_lists_the_known_keys():
    [problem] = problems_of(with_minimal("logging", 'colour = "always"'))
    assert problem == "[logging] colour: unknown key; known keys: level"


def test_the_example_id_has_no_hyphen_which_home_assistant_trips_on():
    """Home Assistant's OCPP integration mishandles ids with a hyphen: whoever copies the example
    must not inherit that, from the example file, the key's own example or the README."""
    (id_key,) = [key for key in KEYS if (key.section, key.name) == ("charge_point", "id")]
    readme = (EXAMPLE.parent / "README.md").read_text()
    for example in (load_config(str(EXAMPLE)).charge_point.id, id_key.example,
                    default_config().charge_point.id):
        assert "-" not in example
        assert f'id = "{example}"' in readme


def test_a_section_written_as_a_plain_value_is_reported():
    assert problems_of('api = "127.0.0.1:8180"\n' + MINIMAL) == [
        'api = "127.0.0.1:8180": must be a table, [api]'
    ]


def test_missing_required_keys_are_reported_with_an_example():
    assert problems_of("") == [
        "[charge_point] id: missing; it is required (the charge point identity the CSMS knows), "
        'e.g. id = "pievse001"',
        '[ocpp] url: missing; it is required (websocket URL of the CSMS, or "" to run without '
        'one), e.g. url = "ws://127.0.0.1:9000/ocpp"',
    ]


def test_every_problem_of_a_file_is_reported_at_once():
    text = (
        '[charge_point]\nid = "CP 1"\nmax_current = 100.0\nphases = 2\n'
        '[ocpp]\nurl = "ws://csms/ocpp"\nulr = "typo"\n'
        '[logging]\nlevel = "verbose"\n'
        "[metre]\n"
    )
    problems = problems_of(text)
    assert len(problems) == 6, problems
    labels = ["[metre]", "[charge_point] id", "[charge_point] max_current",
              "[charge_point] phases", "[ocpp] ulr", "[logging] level"]
    for label, problem in zip(labels, problems, strict=True):
        assert problem.startswith(label), (label, problem)


def test_a_toml_syntax_error_names_the_line_and_column():
    [problem] = problems_of(MINIMAL + "[meter]\ninterval = \n")
    assert problem.startswith("TOML syntax error:")
    assert "line 6, column 12" in problem


def test_the_error_message_names_the_source_and_lists_the_problems():
    with pytest.raises(ConfigError) as caught:
        parse_config("[charge_point]\nphases = 2\n", source="station.toml")
    message = str(caught.value)
    assert message.startswith("station.toml has 3 problems:\n")
    for problem in caught.value.problems:
        assert f"  {problem}" in message


def test_a_missing_file_is_a_problem_naming_the_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert caught.value.problems == [f"{path}: no such file"]
    assert str(caught.value) == f"{path}: no such file"


def test_a_file_that_is_not_utf8_is_a_problem_naming_the_byte(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("CP1", "CP\xe9").encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: not UTF-8 text") and "0xe9" in problem


# Any value of any type, as TOML can hold it.
toml_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(KEYS), toml_values), min_size=1, max_size=6,
             unique_by=lambda pair: pair[0])
)
def test_any_value_in_any_key_gives_a_config_that_holds_it_or_a_problem_naming_the_key(pairs):
    overrides: dict[str, dict] = {}
    for key, value in pairs:
        overrides.setdefault(key.section, {})[key.name] = value
    try:
        config = default_config(**overrides)
    except ConfigError as error:
        for problem in error.problems:
            assert any(problem.startswith(key.label + " ") for key, _ in pairs), problem
        return
    for key, value in pairs:
        held = getattr(getattr(config, key.section), key.name)
        assert type(held) is key.type
        assert held == (float(value) if key.type is float else value)
        assert not (isinstance(held, float) and not math.isfinite(held))


def test_required_keys_have_an_example_and_other_keys_have_a_valid_default():
    for key in KEYS:
        if key.required:
            assert key.example is not None, key.label
        else:
            assert key.default is not REQUIRED
    # The defaults are checked by the same rules as a file.
    default_config()


# --- pievse check-config ------------------------------------------------------------------------


def test_check_config_prints_ok_and_a_summary(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(with_minimal("api", 'listen = ""'))
    assert check_config_main(str(path)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"config OK: {path}\n")
    assert "charge point CP1" in out and "ws://csms.example.com/ocpp" in out
    assert "local API off" in out


def test_check_config_prints_every_problem_to_stderr_and_exits_2(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(with_minimal("charge_point", "max_current = 100.0\nconnectors = 0"))
    assert check_config_main(str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path} has 2 problems" in captured.err
    assert "  [charge_point] max_current = 100.0: must be between 6 and 80 (A)" in captured.err
    assert "  [charge_point] connectors = 0: must be between 1 and 8" in captured.err


def test_check_config_on_a_missing_file_says_so_in_one_line(tmp_path, capsys):
    path = tmp_path / "nowhere.toml"
    assert check_config_main(str(path)) == 2
    assert capsys.readouterr().err == f"pievse: {path}: no such file\n"


# --- the house fuse ------------------------------------------------------------------------------

SITE_METER = ('[site_meter]\ndriver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\n'
              'host = "10.0.0.7"\n')


def test_a_site_meter_and_a_main_fuse_give_load_management():
    config = parse_config(MINIMAL + SITE_METER + "[site]\nmain_fuse = 35\nsafe_current = 8\n")
    assert config.site.managed and config.site.main_fuse == 35.0
    assert summary(config)[-1] == ("house fuse 35 A a phase less 3 A, site meter modbus sdm630 "
                                   "(unit 1, 10.0.0.7:502) every 0.5 s, 8 A while it is silent")
    assert config.site_meter.model == "sdm630" and config.site_meter.interval == 0.5
    assert not default_config().site.managed


@pytest.mark.parametrize(("text", "problem"), [
    (SITE_METER, "[site] main_fuse = 0: a [site_meter] is there to keep the house under its "
                 "main fuse; must be the fuse's rating per phase, e.g. main_fuse = 35"),
    ("[site]\nmain_fuse = 35\n", "[site] main_fuse = 35.0: a house fuse needs the meter at the "
                                 'grid connection to keep under it: [site_meter] driver = '
                                 '"modbus", or main_fuse = 0'),
    (SITE_METER + "[site]\nmain_fuse = 10\nmargin = 5\n",
     "[site] margin = 5.0: leaves 5.0 A under main_fuse = 10.0; must leave at least 6 A for a car"),
    (SITE_METER + "[site]\nmain_fuse = 25\nsafe_current = 23\n",
     "[site] safe_current = 23.0: must be at most main_fuse - margin = 22.0 (A): it is what the "
     "cars draw while the house is not measured"),
    ('[site_meter]\ndriver = "modbus"\ntransport = "tcp"\n[site]\nmain_fuse = 35\n',
     '[site_meter] model = "": a Modbus meter needs its register map'),
    (SITE_METER.replace('host = "10.0.0.7"\n', "") + "[site]\nmain_fuse = 35\n",
     '[site_meter] host = "": a Modbus TCP meter needs the host name'),
    (SITE_METER + "interval = 2.0\n[site]\nmain_fuse = 35\n",
     "[site_meter] interval = 2.0: must be between 0.1 and 1 (s)"),
    ('[site_meter]\ndriver = "simulated"\n', '[site_meter] driver = "simulated": must be "none" '
                                            'or "modbus"'),
])
def test_a_house_fuse_that_cannot_work_is_refused_naming_the_key(text, problem):
    problems = problems_of(MINIMAL + text)
    assert any(p.startswith(problem) for p in problems), problems


def test_solar_charging_is_fast_without_a_phase_switch_by_default():
    config = default_config()
    assert config.solar.mode == "fast" and not config.board.has_phase_switch
    config = parse_config(MINIMAL + SITE_METER + '[site]\nmain_fuse = 35\n[solar]\nmode = "pv"\n'
                          "reserve_w = 300\n[board]\nhas_phase_switch = true\n")
    assert config.solar.mode == "pv" and config.solar.reserve_w == 300.0
    assert config.board.has_phase_switch
    assert summary(config)[-1] == ("charging mode pv: start after 60 s of surplus, pause after "
                                   "300 s without, one or three phases (at most every 300 s)")


@pytest.mark.parametrize(("text", "problem"), [
    ('[solar]\nmode = "pv"\n', '[solar] mode = "pv": the surplus is measured by the site meter '
                               "at the grid connection; set [site_meter]"),
    ('[solar]\nmode = "sun"\n', '[solar] mode = "sun": must be one of "fast", "pv" or "min+pv"'),
    ("[solar]\nphase_switch_interval = 10\n",
     "[solar] phase_switch_interval = 10: must be between 60 and 86400 (s)"),
    ("[charge_point]\nphases = 1\n[board]\nhas_phase_switch = true\n",
     "[board] has_phase_switch = true: switches between one and three phases; [charge_point] "
     "phases = 1 must be 3"),
    ('[board]\ndriver = "gpio"\nhas_phase_switch = true\n[meter]\ndriver = "modbus"\n'
     'model = "sdm630"\ndevice = "/dev/ttyUSB0"\n',
     "[board] phase_switch_pin = -1: has_phase_switch = true needs the relay"),
    ('[board]\ndriver = "gpio"\nhas_phase_switch = true\nphase_switch_pin = 17\n[meter]\n'
     'driver = "modbus"\nmodel = "sdm630"\ndevice = "/dev/ttyUSB0"\n',
     "[board] phase_switch_pin = 17: GPIO17 is already contactor_pin"),
])
def test_a_solar_config_that_cannot_work_says_which_key_and_why(text, problem):
    if text.startswith("[charge_point]\n"):  # MINIMAL's own section: one more line in it
        line, _, text = text.removeprefix("[charge_point]\n").partition("\n")
        text = with_minimal("charge_point", line) + text
    else:
        text = MINIMAL + text
    problems = problems_of(text)
    assert any(p.startswith(problem) for p in problems), problems


def test_version_auto_offers_both_and_says_so():
    config = parse_config(with_minimal("ocpp", 'version = "auto"'))
    assert config.ocpp.version == "auto"
    assert "OCPP 2.0.1 or 1.6, as the CSMS chooses to ws://csms.example.com/ocpp" in \
        " ".join(summary(config))
