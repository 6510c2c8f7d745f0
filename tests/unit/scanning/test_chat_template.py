"""GGUF chat templates: template injection (CVE-2024-34359 class) is flagged, the chat
templates of popular open-model families pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.scanning.checkers.chat_template import (
    MAX_TEMPLATE,
    TemplateUnreadable,
    template_problems,
)

from . import payloads as p
from .conftest import ScanBytes, codes

TEMPLATES = sorted((Path(__file__).parent / "chat_templates").glob("*.jinja"))

MALICIOUS = {
    "cve_poc": "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in "
               "x.__name__ %}{{ x()._module.__builtins__['__import__']('os').popen('id') }}"
               "{% endif %}{% endfor %}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "cycler": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "template_reference": "{{ self._TemplateReference__context.joiner.__init__.__globals__ }}",
    "attr_filter": "{{ ''|attr('__class__') }}",
    "attr_computed": "{% set a = '_' ~ '_' %}{{ namespace|attr(a ~ 'init' ~ a) }}",
    "concat_pieces": "{{ namespace['_' ~ '_init_' ~ '_'] }}",
    "escaped_dunder": "{{ namespace['\\x5f\\x5finit\\x5f\\x5f'] }}",
    "join_pieces": "{{ namespace[['_', '_', 'init', '_', '_']|join] }}",
    "replace_pieces": "{{ namespace['xxinitxx'|replace('x', '_')] }}",
    "repeat": "{{ namespace[('_' * 2) ~ 'init' ~ ('_' * 2)] }}",
    "percent_c": "{{ namespace[('%c%c' % (95, 95)) ~ 'init'] }}",
    "format_c": "{{ namespace['%c%cinit'|format(95, 95)] }}",
    "map_attribute": "{{ messages|map(attribute='__class__')|list }}",
    "computed_map_attribute": "{{ messages|map(attribute=messages[0].content)|list }}",
    "dynamic_call": "{{ messages[0][messages[1].content][messages[2].content]() }}",
    "keyword": "{{ dict(__class__=1) }}",
    "gadget_attr": "{{ x.popen('id') }}",
    "include": "{% include 'other.jinja' %}",
    "module_name": "{{ os.system('id') }}",
    "dunder_string": "{% set k = '__globals__' %}{{ namespace.__init__[k] }}",
}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda t: t.stem)
def test_ordinary_chat_templates_pass(path: Path) -> None:
    assert template_problems(path.read_text("utf-8")) == []


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_injection_is_found(name: str) -> None:
    assert template_problems(MALICIOUS[name]), name


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_injection_hidden_after_an_ordinary_template_is_found(name: str) -> None:
    benign = TEMPLATES[0].read_text("utf-8")
    assert template_problems(benign + MALICIOUS[name])


def test_unparseable_or_huge_templates_are_undecided() -> None:
    with pytest.raises(TemplateUnreadable):
        template_problems("{% for x in messages %}")
    with pytest.raises(TemplateUnreadable):
        template_problems("a" * (MAX_TEMPLATE + 1))
    with pytest.raises(TemplateUnreadable):
        template_problems("{{ " + "(" * 50_000 + "1" + ")" * 50_000 + " }}")


def _gguf_with(*strings: tuple[str, str]) -> bytes:
    return p.gguf(strings=strings)


def test_gguf_with_an_ordinary_template_is_permitted(scan_bytes: ScanBytes) -> None:
    for path in TEMPLATES:
        result = scan_bytes(_gguf_with(("tokenizer.chat_template", path.read_text("utf-8"))))
        assert result.verdict_name == "permitted", (path.name, result.findings)


@pytest.mark.parametrize("key", ["tokenizer.chat_template", "tokenizer.chat_template.tool_use"])
def test_gguf_with_an_injected_template_is_prohibited(scan_bytes: ScanBytes, key: str) -> None:
    result = scan_bytes(_gguf_with((key, MALICIOUS["lipsum"])))
    assert result.verdict_name == "prohibited"
    assert codes(result) == {"CHAT_TEMPLATE_UNSAFE"}
    assert "chat_template_unsafe" in result.formats


def test_gguf_duplicate_template_key_cannot_hide_the_first(scan_bytes: ScanBytes) -> None:
    benign = TEMPLATES[0].read_text("utf-8")
    result = scan_bytes(_gguf_with(("tokenizer.chat_template", MALICIOUS["cycler"]),
                                   ("tokenizer.chat_template", benign)))
    assert result.verdict_name == "prohibited"


def test_gguf_with_an_unparseable_template_is_undecided(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(_gguf_with(("tokenizer.chat_template", "{% if %}")))
    assert result.verdict_name is None and codes(result) == {"GGUF_INVALID"}


def test_finding_message_is_short_and_escaped(scan_bytes: ScanBytes) -> None:
    evil = "{{ x['_" + "\x1b[2J" * 500 + "'] }}"
    result = scan_bytes(_gguf_with(("tokenizer.chat_template", evil)))
    assert result.verdict_name == "prohibited"
    message = result.findings[0].message
    assert "\x1b" not in message and len(message) < 400


def _model_dir(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _tokenizer_config(template: object) -> str:
    import json

    return json.dumps({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>",
                       "model_max_length": 8192, "tokenizer_class": "LlamaTokenizer",
                       "chat_template": template})


def test_model_directory_templates(tmp_path: Path) -> None:
    from mlflow_supplychain.scanning.scanner import scan_path

    benign = TEMPLATES[0].read_text("utf-8")
    ok = _model_dir(tmp_path / "ok", {
        "tokenizer_config.json": _tokenizer_config(benign),
        "chat_template.json": _tokenizer_config([{"name": "default", "template": benign},
                                                 {"name": "tool_use", "template": benign}]),
        "chat_template.jinja": benign})
    assert scan_path(ok).verdict_name == "permitted", scan_path(ok).findings
    for name, text in (
            ("tokenizer_config.json", _tokenizer_config(MALICIOUS["lipsum"])),
            ("chat_template.json", _tokenizer_config([
                {"name": "default", "template": benign},
                {"name": "rag", "template": MALICIOUS["attr_filter"]}])),
            ("chat_template.jinja", MALICIOUS["cycler"])):
        bad = _model_dir(tmp_path / name, {name: text})
        report = scan_path(bad)
        assert report.verdict_name == "prohibited", name
        assert {f.code.name for f in report.findings} == {"CHAT_TEMPLATE_UNSAFE"}
    broken = _model_dir(tmp_path / "broken", {"tokenizer_config.json": _tokenizer_config(42)})
    assert scan_path(broken).verdict_name is None
