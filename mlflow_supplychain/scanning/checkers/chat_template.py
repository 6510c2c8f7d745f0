"""Chat templates (Jinja2) that can reach Python internals when a runtime renders them.

GGUF files carry ``tokenizer.chat_template``; Hugging Face model directories carry
``tokenizer_config.json``/``chat_template.json`` (``chat_template``: one template or a list
of named ones) and ``chat_template.jinja``; llama-cpp-python rendered it with an
unsandboxed ``jinja2.Environment`` (CVE-2024-34359), where
``{{ lipsum.__globals__['os'].popen('id').read() }}`` runs a command. The template is parsed
(never rendered) and its syntax tree checked for the ways such chains are written:

- attribute or item access to a name starting with ``_`` (``__globals__``, ``__class__``,
  ``_TemplateReference__context``), including through ``attr``/``map(attribute=)``-style
  filters and keyword names;
- string constants holding a dunder, or concatenations/joins/replacements/``%c`` formats
  that build one from pieces (``'_' ~ '_'``);
- Jinja's own globals that the known chains start from (``lipsum``, ``cycler``, ``joiner``,
  ``self``...) and names of Python modules and builtins (``os``, ``eval``...);
- calls of something looked up dynamically (``x[k]()``) and attribute names of process
  gadgets (``popen``, ``check_output``...);
- ``include``/``import``/``extends`` (a chat template has no business loading others).

Ordinary chat templates (loops over messages, ``namespace``, ``tojson``, ``selectattr``,
``raise_exception``, ``strftime_now``, string methods) pass.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlflow_supplychain.scanning.excerpt import excerpt
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE = 1 << 20
"""Largest template parsed (bytes of UTF-8); a larger one is "could not decide"."""

_GADGET_ATTRS = frozenset({
    "popen", "popen2", "popen3", "spawnl", "spawnv", "spawnve", "execv", "execve", "execl",
    "system", "check_output", "check_call", "getoutput", "getstatusoutput", "Popen",
    "import_module", "load_module", "func_globals", "gi_frame", "gi_code", "f_globals",
    "f_builtins", "f_locals", "tb_frame", "cr_frame", "ag_frame", "mro", "eval", "exec",
})
"""Attribute names of code-execution gadgets (besides anything starting with ``_``)."""

_FORBIDDEN_NAMES = frozenset({
    "lipsum", "cycler", "joiner", "self", "config", "request", "session", "g", "url_for",
    "get_flashed_messages", "os", "subprocess", "sys", "builtins", "importlib", "eval",
    "exec", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "compile", "input", "breakpoint", "__import__", "__builtins__",
})
"""Names a chat template never needs and every known gadget chain starts from."""

_ATTRIBUTE_FILTERS = frozenset({"attr", "map", "selectattr", "rejectattr", "sort", "groupby",
                                "sum", "unique", "min", "max", "dictsort"})
"""Filters whose argument is an attribute path looked up on an object."""


class TemplateUnreadable(Exception):
    """The template cannot be parsed; nothing can be said about it."""


def inspect_template_document(ins: Inspection, raw: bytes, label: str) -> None:
    """Check the chat templates in a ``tokenizer_config.json``/``chat_template.json``
    (JSON) or a ``chat_template.jinja`` (the template itself) of a model directory."""
    name = label.rsplit("/", 1)[-1]
    try:
        text = raw.decode("utf-8")
        if name.endswith(".jinja"):
            templates = [(name, text)]
        else:
            templates = _json_templates(json.loads(text))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ins.add(Code.CHAT_TEMPLATE_INVALID, f"{name} cannot be read: {excerpt(exc)}", None,
                fix="re-save the tokenizer with transformers")
        return
    for key, source in templates:
        report_template(ins, key, source, None, unreadable=Code.CHAT_TEMPLATE_INVALID)


def report_template(ins: Inspection, key: str, source: str, member: str | None, *,
                    unreadable: Code) -> None:
    """Add the findings of one chat template (``key`` names where it was found); a template
    Jinja2 cannot parse is ``unreadable`` (could not decide)."""
    try:
        problems = template_problems(source)
    except TemplateUnreadable as exc:
        ins.add(unreadable, f"{key}: {exc}", member,
                fix="use a chat template that Jinja2 parses, or remove it")
        return
    if problems:
        ins.add(Code.CHAT_TEMPLATE_UNSAFE, describe(key, problems), member,
                fix="replace the chat template with the model publisher's original")


def describe(key: str, problems: list[str]) -> str:
    """The finding message for an unsafe template."""
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return f"{excerpt(key)} can run code when rendered: {shown}"


def _json_templates(doc: Any) -> list[tuple[str, str]]:
    if not isinstance(doc, dict) or "chat_template" not in doc:
        return []
    value = doc["chat_template"]
    if isinstance(value, str):
        return [("chat_template", value)]
    if isinstance(value, list):
        found = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("template"), str):
                raise ValueError("chat_template list entries must have a string 'template'")
            found.append((f"chat_template {excerpt(item.get('name'), 40)}", item["template"]))
        return found
    if value is None:
        return []
    raise ValueError("chat_template is neither a string nor a list of named templates")


def template_problems(source: str) -> list[str]:
    """Why the chat template ``source`` could run code, one short reason per construct
    (empty for an ordinary template).

    Raises:
        TemplateUnreadable: too large, or not parseable as Jinja2.
    """
    if len(source.encode("utf-8", "surrogatepass")) > MAX_TEMPLATE:
        raise TemplateUnreadable(f"template larger than {MAX_TEMPLATE} bytes")
    from jinja2 import TemplateSyntaxError, nodes

    try:
        tree = _environment().parse(source)
    except (TemplateSyntaxError, RecursionError, MemoryError, ValueError) as exc:
        raise TemplateUnreadable(f"not a valid Jinja2 template ({type(exc).__name__}: "
                                 f"{_clip(str(exc))})") from None
    every = list(_walk(tree))
    stored = {n.name for n in every if isinstance(n, nodes.Name) and n.ctx != "load"}
    stored |= {arg.name for n in every if isinstance(n, nodes.Macro) for arg in n.args}
    problems: list[str] = []
    for node in every:
        problem = _node_problem(node, stored)
        if problem and problem not in problems:
            problems.append(problem)
    return problems


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    """A parse-only environment knowing the tags real chat templates use."""
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.parser import Parser
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):  # transformers' {% generation %}...{% endgeneration %}
        tags = {"generation"}

        def parse(self, parser: Parser) -> nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(
        extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", Generation])


def _walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Every node, iteratively (a deep template cannot exhaust the stack here)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.iter_child_nodes())


def _node_problem(node: nodes.Node, stored: set[str]) -> str | None:  # noqa: C901, PLR0911, PLR0912
    from jinja2 import nodes as n
    if isinstance(node, n.Getattr):
        return _name_problem(node.attr, "attribute")
    if isinstance(node, n.Getitem) and isinstance(node.arg, n.Const):
        if isinstance(node.arg.value, str):
            return _name_problem(node.arg.value, "item")
    if isinstance(node, n.Const) and isinstance(node.value, str) and "__" in node.value:
        return f"string constant contains a dunder ({_clip(node.value)})"
    if isinstance(node, n.Keyword) and node.key.startswith("_"):
        return f"keyword argument {_clip(node.key)}"
    if isinstance(node, n.Name) and node.ctx == "load" and node.name in _FORBIDDEN_NAMES \
            and node.name not in stored:
        return f"uses {node.name!r}, a starting point of known template-injection chains"
    if isinstance(node, n.Name) and node.name.startswith("_"):
        return f"uses the private name {_clip(node.name)}"
    if isinstance(node, n.Call) and not isinstance(node.node, (n.Name, n.Getattr)):
        return "calls the result of a dynamic lookup"
    if isinstance(node, (n.Filter, n.Test)):
        return _filter_problem(node)
    if isinstance(node, (n.Concat, n.Add, n.Mul)):
        built = _constant_text(node)
        if "__" in built or (isinstance(node, n.Mul) and "_" in built):
            return "builds a dunder name from pieces"
    if isinstance(node, n.Mod) and isinstance(node.left, n.Const) \
            and "%c" in str(node.left.value):
        return "formats characters by code (%c)"
    if isinstance(node, (n.Include, n.Import, n.FromImport, n.Extends)):
        return "loads another template"
    return None


def _filter_problem(node: nodes.Filter | nodes.Test) -> str | None:
    from jinja2 import nodes as n

    name = node.name
    args = [*node.args, *(k.value for k in node.kwargs)]
    if name in _ATTRIBUTE_FILTERS:
        attrs = list(node.args[:1]) if name in ("attr", "selectattr", "rejectattr",
                                                 "groupby") else []
        attrs += [k.value for k in node.kwargs if k.key == "attribute"]
        for arg in attrs:
            if not isinstance(arg, n.Const) or not isinstance(arg.value, str):
                if name == "attr" or not isinstance(arg, n.Const):
                    return f"'{name}' filter with a computed attribute name"
                continue
            if arg.value.startswith("_") or "._" in arg.value or arg.value in _GADGET_ATTRS:
                return f"'{name}' filter reaches {_clip(arg.value)}"
    if name == "join" and isinstance(node.node, n.List):
        joined = "".join(str(i.value) if isinstance(i, n.Const) else "\0"
                         for i in node.node.items)
        if "__" in joined or ("_" in joined and args):
            return "builds a dunder name with join"
    if name == "replace" and len(args) >= 2 and isinstance(args[1], n.Const) \
            and "_" in str(args[1].value):
        return "builds underscores with replace"
    if name == "format" and isinstance(node.node, n.Const) and "%c" in str(node.node.value):
        return "formats characters by code (%c)"
    return None


def _constant_text(node: nodes.Node) -> str:
    """The constant text of a concatenation, non-constant parts as NUL."""
    from jinja2 import nodes as n

    if isinstance(node, n.Const):
        return str(node.value)
    if isinstance(node, n.Concat):
        return "".join(_constant_text(x) for x in node.nodes)
    if isinstance(node, (n.Add, n.Mul)):
        return _constant_text(node.left) + _constant_text(node.right)
    return "\0"


def _name_problem(name: str, what: str) -> str | None:
    if name.startswith("_"):
        return f"{what} access to {_clip(name)}"
    if name in _GADGET_ATTRS:
        return f"{what} access to {name!r}, a code-execution gadget"
    return None


def _clip(text: str) -> str:
    escaped = text.encode("unicode_escape").decode("ascii")
    return repr(escaped if len(escaped) <= 60 else escaped[:57] + "...")
