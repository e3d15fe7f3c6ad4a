"""Config files written to break the reader: nested thousands deep, numbers of thousands of
digits, NUL bytes in paths, infinities, megabytes in one string, the wrong type at every key.
Each is a ConfigError naming the key, its value shortened and what the key allows; `pievse
check-config` and `pievse run` exit 2 with that message and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pievse.app.config import KEYS, ConfigError, check_config_main, load_config, parse_config
from pievse.app.config.toml_text import LARGEST_FILE
from tests.tls_standins import TestPki

PIEVSE = [sys.executable, "-m", "pievse"]

MINIMAL = '[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms.example.com/ocpp"\n'

#: The keys that name a file or a device.
PATH_KEYS = [("ocpp", "ca_file"), ("ocpp", "cert_file"), ("ocpp", "key_file"),
             ("ocpp", "certificate_dir"), ("storage", "path"), ("meter", "device"),
             ("firmware", "python"), ("diagnostics", "log_file")]


def document(section: str, line: str) -> str:
    """The two required keys and ``line`` (raw TOML, which may set one of them) in
    ``section``."""
    sections = {"charge_point": {"id": '"CP1"'}, "ocpp": {"url": '"ws://csms.example.com/ocpp"'}}
    name, _, value = line.partition(" = ")
    sections.setdefault(section, {})[name] = value
    return "".join(f"[{s}]\n" + "".join(f"{n} = {v}\n" for n, v in keys.items())
                   for s, keys in sections.items())


def the_problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    [problem] = caught.value.problems
    assert len(problem) < 300, "the value is shown shortened"
    return problem


def key(section: str, name: str):
    return next(k for k in KEYS if (k.section, k.name) == (section, name))


def test_a_5000_deep_nested_array_is_a_problem_naming_the_key_and_its_line():
    problem = the_problem(document("meter", "interval = " + "[" * 5000 + "]" * 5000))
    assert problem.startswith("[meter] interval = [[[[")
    assert "(line 6): arrays or inline tables nested too deeply to be read" in problem
    assert problem.endswith("must be between 0.1 and 3600 (s)")


def test_a_5000_deep_nested_inline_table_is_a_problem_naming_the_key():
    problem = the_problem(document("board", "rcd_pin = " + "{a=" * 5000 + "1" + "}" * 5000))
    assert problem.startswith("[board] rcd_pin = {a={a=")
    assert "nested too deeply" in problem and "must be between -1 and 27" in problem


def test_a_nested_array_spread_over_lines_names_the_key_it_started_at():
    text = document("meter", "port = [\n" + "[\n" * 3000 + "]\n" * 3000 + "]")
    problem = the_problem(text + "[logging]\nlevel = 5\n")
    assert problem.startswith("[meter] port = [ (line ")


def test_a_table_nested_thousands_deep_by_dotted_headers_is_a_problem_naming_the_key():
    # No recursion in the reader here, but in whatever walks the value later (a diagnostics
    # bundle, a repr in a log line).
    problem = the_problem(MINIMAL + "[meter.registers" + ".a" * 5000 + "]\nx = 1\n")
    assert problem.startswith("[meter] registers = { a = { a = ")
    assert "tables or arrays nested more than 8 deep" in problem


def test_a_5000_digit_integer_is_a_problem_naming_the_key():
    problem = the_problem(document("meter", "port = " + "9" * 5000))
    assert problem.startswith("[meter] port = 99999")
    assert "an integer of more than 4300 digits" in problem
    assert problem.endswith("must be between 1 and 65535")


def test_a_huge_hex_integer_is_a_problem_naming_the_key():
    problem = the_problem(document("charge_point", "connectors = 0x" + "f" * 5000))
    assert problem.startswith("[charge_point] connectors = 0xffff")
    assert "beyond the 64-bit integers TOML allows; must be between 1 and 8" in problem


def test_an_integer_beyond_64_bits_in_a_float_key_is_a_problem_naming_the_key():
    problem = the_problem(document("simulation", "ev_battery_capacity = " + "9" * 400))
    assert problem.startswith("[simulation] ev_battery_capacity = 9999")
    assert "beyond the 64-bit integers TOML allows" in problem


def test_an_integer_beyond_64_bits_inside_a_table_names_where_it_is():
    text = document("meter", 'driver = "modbus"') + 'device = "/dev/ttyUSB0"\n'
    text += "[meter.registers]\nenergy_import = { address = 1, scale = 0x" + "f" * 400 + " }\n"
    problem = the_problem(text)
    assert problem.startswith("[meter] registers.energy_import.scale = 4446241647")
    assert problem.endswith(": beyond the 64-bit integers TOML allows")


def test_an_integer_beyond_64_bits_given_in_python_is_a_problem_naming_the_key():
    from pievse.app.config import default_config

    with pytest.raises(ConfigError) as caught:
        default_config(simulation={"ev_battery_capacity": 10**400})
    [problem] = caught.value.problems
    assert problem.startswith("[simulation] ev_battery_capacity = 1000")
    assert "must be a finite number" in problem


@pytest.mark.parametrize(("section", "name"), PATH_KEYS)
def test_a_nul_byte_in_a_path_is_a_problem_naming_the_key(section, name):
    problem = the_problem(document(section, f'{name} = "/tmp/a\\u0000b"'))
    assert problem == (f'[{section}] {name} = "/tmp/a\\u0000b": must not contain control '
                       "characters (it has U+0000 at character 7)")


@pytest.mark.parametrize("k", [k for k in KEYS if k.type is str and not k.choices],
                         ids=lambda k: k.label)
def test_a_control_character_in_any_text_key_is_a_problem_naming_the_key(k):
    problems = parse_problems(document(k.section, f'{k.name} = "ab\\u001bc"'))
    assert any(p.startswith(k.label + " = ") for p in problems), problems
    assert "\x1b" not in "".join(problems)


def parse_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


@pytest.mark.parametrize("k", [k for k in KEYS if k.type is float], ids=lambda k: k.label)
@pytest.mark.parametrize("number", ["inf", "-inf", "nan", "1e400"])
def test_an_infinite_or_nan_number_is_a_problem_naming_the_key(k, number):
    problem = the_problem(document(k.section, f"{k.name} = {number}"))
    assert problem.startswith(f"{k.label} = ")
    assert "must be a finite number" in problem


@pytest.mark.parametrize("k", [k for k in KEYS if k.type is str and k.maximum is None
                               and not k.choices], ids=lambda k: k.label)
def test_a_string_of_absurd_length_is_a_problem_naming_the_key(k):
    value = "a" * 100_000
    problems = parse_problems(document(k.section, f'{k.name} = "{value}"'))
    [problem] = [p for p in problems if p.startswith(k.label + " = ")]
    assert "must be at most 4096 characters long (it has 100,000)" in problem
    assert len(problem) < 300


TYPES = {str: ("[1, 2]", "must be a string"), int: ('"12"', "must be an integer"),
         float: ("true", "must be a number"), bool: ("1", "must be true or false"),
         dict: ('"x"', "must be a table"), list: ('"x"', "must be a list")}


@pytest.mark.parametrize("k", KEYS, ids=lambda k: k.label)
def test_a_wrong_type_at_every_key_is_a_problem_naming_the_key_and_the_type_it_takes(k):
    wrong, allowed = TYPES[k.type]
    problems = parse_problems(document(k.section, f"{k.name} = {wrong}"))
    [problem] = [p for p in problems if p.startswith(k.label + " = ")]
    assert problem == f"{k.label} = {'(hidden)' if k.secret else wrong}: {allowed}"


def test_a_file_too_large_to_be_a_configuration_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "config.toml"
    with open(path, "wb") as file:
        file.write(MINIMAL.encode() + b"#" * (4 * LARGEST_FILE))
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: more than 1,048,576 bytes")


def test_unknown_keys_by_the_thousand_are_counted_not_each_explained():
    text = MINIMAL + "[logging]\n" + "".join(f"colour{i} = 1\n" for i in range(5000))
    problems = parse_problems(text)
    assert len(problems) == 51
    assert problems[-1] == "... and 4,950 more unknown sections or keys"


def test_a_name_of_absurd_length_is_shown_shortened():
    name = "x" * 10_000
    [problem] = parse_problems(MINIMAL + f"[logging]\n{name} = 1\n")
    assert problem.startswith('[logging] "xxxx') and len(problem) < 200


# --- the commands, as a person runs them --------------------------------------------------------

HOSTILE_FILES = {
    "deep array": ("[meter] interval", document("meter", "interval = " + "[" * 5000 + "]" * 5000)),
    "5000 digits": ("[meter] port", document("meter", "port = " + "9" * 5000)),
    "huge hex": ("[meter] port", document("meter", "port = 0x" + "f" * 5000)),
    "NUL in ca_file": ("[ocpp] ca_file", document("ocpp", 'ca_file = "ca\\u0000.pem"')),
    "NUL in storage path": ("[storage] path", document("storage", 'path = "a\\u0000.sqlite3"')),
}


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_check_config_exits_2_without_a_traceback_on_a_hostile_file(tmp_path, name):
    label, text = HOSTILE_FILES[name]
    path = tmp_path / "config.toml"
    path.write_text(text)
    done = subprocess.run([*PIEVSE, "check-config", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert label in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_pievse_run_exits_2_without_a_traceback_on_a_hostile_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(document("meter", "interval = " + "[" * 5000 + "]" * 5000))
    done = subprocess.run([*PIEVSE, "run", "--config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "[meter] interval" in done.stderr and "Traceback" not in done.stderr


def test_a_ca_file_without_certificates_is_refused_by_check_config_whatever_the_profile(
        tmp_path, capsys):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    path = tmp_path / "config.toml"
    path.write_text(document("ocpp", f'ca_file = "{not_pem}"'))
    assert check_config_main(str(path)) == 2
    err = capsys.readouterr().err
    assert '[ocpp] ca_file = "' in err and ": holds no PEM certificate" in err


def test_a_ca_file_holding_no_root_certificate_stops_pievse_run_with_exit_2(tmp_path: Path):
    (tmp_path / "pki").mkdir()
    pki = TestPki(tmp_path / "pki")
    leaf = pki.write_certificate(pki.server.certificate, "server")
    path = tmp_path / "config.toml"
    path.write_text(document("ocpp", f'ca_file = "{leaf}"')
                    + f'[api]\nlisten = ""\n[storage]\npath = "{tmp_path / "s.sqlite3"}"\n')
    done = subprocess.run([*PIEVSE, "run", "--config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "[ocpp] ca_file" in done.stderr and "not a CA certificate" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_certificate_dir_that_cannot_be_made_stops_pievse_run_with_exit_2(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "config.toml"
    path.write_text(document("ocpp", f'certificate_dir = "{blocker / "certificates"}"')
                    + f'[api]\nlisten = ""\n[storage]\npath = "{tmp_path / "s.sqlite3"}"\n')
    done = subprocess.run([*PIEVSE, "run", "--config", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "[ocpp] certificate_dir" in done.stderr and "Traceback" not in done.stderr
