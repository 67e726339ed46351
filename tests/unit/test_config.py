from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import ConfigFileError, SentioConfig, load, parse

REPO = Path(__file__).resolve().parents[2]


def test_the_sample_config_shows_exactly_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # It says "every key is optional; the values shown are the defaults": all of them, except
    # the one example AI query (there is none by default).
    monkeypatch.delenv("SENTIO_DATA_DIR", raising=False)
    sample = load(REPO / "config" / "sentio.yaml").model_dump()
    assert [q["name"] for q in sample["ai"].pop("queries")] == ["temperature"]
    defaults = SentioConfig().model_dump()
    defaults["ai"].pop("queries")
    assert sample == defaults


def test_default_endpoints_are_the_native_backends() -> None:
    config = SentioConfig()
    assert config.endpoint("metrics") == "http://127.0.0.1:8428/opentelemetry/v1/metrics"
    assert config.endpoint("logs") == "http://127.0.0.1:9428/insert/opentelemetry/v1/logs"
    assert config.endpoint("traces") == "http://127.0.0.1:4318/v1/traces"
    assert config.headers("logs") == {"VL-Stream-Fields": "service.name,host.name"}
    assert config.headers("metrics") == {}


def test_an_explicit_logs_endpoint_gets_only_its_own_headers() -> None:
    loki = parse(
        "telemetry:\n  logs:\n    endpoint: http://loki:3100/otlp/v1/logs\n"
        "    headers: {X-Scope-OrgID: plant-a}\n"
    )
    assert loki.endpoint("logs") == "http://loki:3100/otlp/v1/logs"
    assert loki.headers("logs") == {"X-Scope-OrgID": "plant-a"}
    own = parse("telemetry:\n  logs:\n    headers: {VL-Stream-Fields: service.name}\n")
    assert own.headers("logs") == {"VL-Stream-Fields": "service.name"}


def test_default_data_dir_is_expanded() -> None:
    assert parse("").stack.data_dir == Path("~/.local/share/sentio").expanduser()
    assert parse("stack:\n  data_dir: ~/x\n").stack.data_dir == Path.home() / "x"


def test_every_error_is_reported_with_key_path_and_line() -> None:
    text = (
        "service:\n  name: x\nstack:\n  victoriametrics:\n    port: 70000\n"
        "telemetry:\n  metrix: {}\n"
    )
    with pytest.raises(ConfigFileError) as info:
        parse(text, "s.yaml")
    issues = {i.path: i for i in info.value.issues}
    assert set(issues) == {"stack.victoriametrics.port", "telemetry.metrix"}
    assert issues["stack.victoriametrics.port"].line == 5
    assert issues["telemetry.metrix"].line == 7
    assert str(issues["stack.victoriametrics.port"]).startswith(
        "s.yaml:5: stack.victoriametrics.port:"
    )


def test_env_and_file_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SENTIO_TEST_HOST", "10.1.2.3")
    text = (
        "stack:\n  host: ${SENTIO_TEST_HOST}\n"
        "telemetry:\n  metrics:\n    headers:\n"
        f"      Authorization: Bearer ${{file:{secret}}}\n"
        "  logs:\n    endpoint: ${SENTIO_UNSET_FOR_TEST:-http://l:1/otlp/v1/logs}\n"
    )
    config = parse(text)
    assert config.stack.host == "10.1.2.3"
    assert config.telemetry.metrics.headers == {"Authorization": "Bearer s3cret"}
    assert config.endpoint("logs") == "http://l:1/otlp/v1/logs"


def test_missing_env_and_file_are_named_with_their_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTIO_MISSING_FOR_TEST", raising=False)
    text = "service:\n  name: ${SENTIO_MISSING_FOR_TEST}\nstack:\n  host: ${file:/nonexistent/x}\n"
    with pytest.raises(ConfigFileError) as info:
        parse(text, "c.yaml")
    messages = [str(i) for i in info.value.issues]
    assert (
        messages[0]
        == "c.yaml:2: service.name: environment variable SENTIO_MISSING_FOR_TEST is not set"
    )
    assert messages[1].startswith("c.yaml:4: stack.host: cannot read /nonexistent/x")


def test_invalid_yaml_reports_its_line() -> None:
    with pytest.raises(ConfigFileError) as info:
        parse("stack:\n  host: [1,\n", "bad.yaml")
    assert info.value.issues[0].line is not None
    assert "invalid YAML" in info.value.issues[0].message


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigFileError, match="top level must be a mapping"):
        parse("- 1\n- 2\n")


def test_cli_validate_reports_errors_and_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stack:\n  jaeger:\n    query_port: nope\n    retention: 7d\n")
    result = CliRunner().invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: stack.jaeger.query_port:" in result.output
    assert f"{bad}:4: stack.jaeger.retention: String should match pattern" in result.output
    good = tmp_path / "good.yaml"
    good.write_text("service:\n  name: plant-a\n")
    result = CliRunner().invoke(app, ["config", "validate", str(good)])
    assert result.exit_code == 0, result.output


def test_cli_schema_is_json_schema() -> None:
    result = CliRunner().invoke(app, ["config", "schema"])
    schema = json.loads(result.output)
    assert schema["title"] == "SentioConfig"
    assert {"service", "stack", "telemetry"} <= set(schema["properties"])


def test_compose_config_is_valid_and_points_at_the_services() -> None:
    config = load(REPO / "config" / "sentio-compose.yaml")
    assert config.endpoint("metrics") == "http://victoriametrics:8428/opentelemetry/v1/metrics"
    assert config.endpoint("logs") == "http://victorialogs:9428/insert/opentelemetry/v1/logs"
    assert config.endpoint("traces") == "http://jaeger:4318/v1/traces"
    assert config.headers("logs") == {"VL-Stream-Fields": "service.name,host.name"}
    assert config.query_url() == "http://victoriametrics:8428"


def test_an_alias_stays_one_object_through_substitution(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentio.config import _Lines, _substituted

    monkeypatch.setenv("SENTIO_TEST_HOST", "10.0.0.7")
    text = "a: &f [{name: x}]\nb: *f\nc: ${SENTIO_TEST_HOST}\n"
    data = {"a": [{"name": "x"}], "c": "${SENTIO_TEST_HOST}"}
    data["b"] = data["a"]
    out, issues = _substituted(data, (), _Lines(text), "f.yaml")
    assert issues == [] and out["c"] == "10.0.0.7"
    assert out["a"] is out["b"] is data["a"], "nothing to replace: the list is not copied"


# Found by fuzzing the loader (sentio/bench/fuzz.py, "config loader"): each was a traceback or
# an error without its line before.


def test_an_alias_inside_itself_is_an_error_not_a_recursion(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        parse("service: &s\n  name: *s\n", "r.yaml")
    assert str(info.value.issues[0]) == (
        "r.yaml:1: service.name: an alias refers to a collection that contains it; "
        "YAML configs are trees"
    )


@pytest.mark.timeout(60)
def test_nested_aliases_are_substituted_once_each() -> None:
    lines = ['x0: &x0 [a, "${SENTIO_UNSET_FOR_TEST:-b}"]']
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 12)]  # 10^11
    with pytest.raises(ConfigFileError) as info:
        parse("\n".join(lines) + "\n", "n.yaml")
    assert {i.path for i in info.value.issues} == {f"x{i}" for i in range(12)}


def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("service:\n  name: Gerät\n".encode("latin-1"))
    with pytest.raises(ConfigFileError) as info:
        load(path)
    assert str(info.value.issues[0]) == (
        f"{path}:2: <root>: not UTF-8 text: byte 0xe4 at offset 20"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: \x01\n", "c.yaml:2: <root>: invalid YAML: character U+0001 is not allowed in "
         "YAML: control characters are not allowed (column 4)"),
        ("a: 1\nb: *nope\n", "c.yaml:2: <root>: invalid YAML: found undefined alias (column 4)"),
        ("service: {name: x\n", "c.yaml:2: <root>: invalid YAML: while parsing a flow mapping: "
         "did not find expected ',' or '}' (column 1)"),
        ("a: \ud800\n", "c.yaml:1: <root>: a lone surrogate is not text"),
        ("? |\n  two\n  lines\n: 1\n", 'c.yaml:4: ["two\\nlines\\n"]: Extra inputs are not '
         "permitted"),
    ],
)  # fmt: skip
def test_every_problem_is_one_line_with_its_line_number(text: str, expected: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        parse(text, "c.yaml")
    assert [str(i) for i in info.value.issues] == [expected]


def test_a_file_reference_with_a_nul_is_a_config_error() -> None:
    with pytest.raises(ConfigFileError) as info:
        parse('service:\n  name: "${file:/tmp/a\\0b}"\n', "c.yaml")
    assert str(info.value.issues[0]).startswith("c.yaml:2: service.name: cannot read /tmp/a")


def test_lines_are_counted_as_an_editor_shows_them_not_at_yaml_only_breaks() -> None:
    text = 'stack:\n  a: 1\u2028\u2028\u2028\n  " ": 2\nx: [\u2028\n y: :\n'
    for bad in (text, text.split("x:")[1]):
        with pytest.raises(ConfigFileError) as info:
            parse(bad, "f.yaml")
        lines = bad.count("\n")
        assert all(1 <= issue.line <= lines for issue in info.value.issues), info.value.issues
    with pytest.raises(ConfigFileError) as info:
        parse(text.split("x:")[0], "f.yaml")
    assert [issue.line for issue in info.value.issues] == [2, 3]
