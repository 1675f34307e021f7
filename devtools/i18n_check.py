"""Finds words shown to people that are not marked for translation.

Templates: text outside ``{% translate %}`` / ``{% blocktranslate %}`` that contains a letter — in text
nodes and in the attributes people read (``title``, ``alt``, ``placeholder``, ``aria-label``, ``label``,
a button's ``value``) — and literal arguments of ``|default`` / ``|default_if_none`` not written as
``_("…")``. Script and style elements and ``{% comment %}`` blocks are skipped.

Python: string literals and f-strings given where a person reads them — ``verbose_name``,
``verbose_name_plural``, ``help_text``, ``label``, ``description``, ``empty_label``, ``message`` and the
other keywords in ``HUMAN_KEYWORDS``; a model field's first positional argument (its verbose name);
the labels of ``TextChoices`` / ``IntegerChoices`` members (a member without a label is reported too:
Django makes an English one from its name) and of ``choices=[(value, label), …]`` lists; the messages of
``ServiceError`` and the other exceptions in ``HUMAN_EXCEPTIONS``; ``messages.success(request, …)`` and
the other flash-message functions; ``ModelAdmin.message_user``; class attributes such as ``verbose_name``
and ``title``. A value is marked when it is a call of ``gettext`` / ``gettext_lazy`` / ``_`` /
``ngettext`` / ``pgettext`` … (or ``format_lazy``), possibly ``%``-formatted or ``.format()``-ed;
anything that is not a literal (a variable, another call) is not judged.

The test suite runs it over every app and template (tests/config/test_i18n.py); run it over any
file or folder to see what is left to mark::

    .venv/bin/python -m devtools.i18n_check workstreams/admin.py templates/console
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LETTER = re.compile(r"[^\W\d_]")
HOLE = "\x00"  # where a template tag or variable was

TRANSLATE_FUNCTIONS = {
    "_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy", "npgettext",
    "npgettext_lazy", "gettext_noop", "format_lazy",
}
HUMAN_KEYWORDS = {
    "verbose_name", "verbose_name_plural", "help_text", "label", "description", "empty_label",
    "empty_value_display", "message", "short_description", "title", "detail", "done", "error_message",
}
HUMAN_CLASS_ATTRIBUTES = {
    "verbose_name", "verbose_name_plural", "title", "empty_value_display", "site_header", "site_title",
    "index_title", "short_description",
}
HUMAN_EXCEPTIONS = {"ServiceError", "ConflictError", "ValidationError", "PermissionDenied", "Http404"}
FLASH_FUNCTIONS = {"debug": 1, "info": 1, "success": 1, "warning": 1, "error": 1, "add_message": 2}
#: This project's helpers that put a text in front of people, and the position of that text.
HUMAN_HELPERS = {"message_user": 1, "_done": 1, "_json_error": 1}
RELATION_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField", "ParentalKey"}
CHOICES_BASES = {"TextChoices", "IntegerChoices", "Choices"}

HUMAN_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "aria-description", "aria-roledescription",
                    "aria-placeholder", "label"}
TRANSLATION_BLOCKS = {"blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans",
                      "comment": "endcomment"}
DEFAULT_FILTER = re.compile(r"\|\s*(?:default|default_if_none)\s*:\s*(?P<arg>\"[^\"]*\"|'[^']*')")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.text!r}"


def _has_letters(text: str) -> bool:
    return bool(LETTER.search(text.replace(HOLE, "")))


# --- Templates ---------------------------------------------------------------------------------


class _HumanText(HTMLParser):
    """Collects the text nodes and the human-read attribute values of an HTML document, with their lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str, str]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        line = self.getpos()[0]
        values = dict(attrs)
        for name, value in attrs:
            if value and (name in HUMAN_ATTRIBUTES
                          or (name == "value" and tag in ("input", "button")
                              and values.get("type") in ("submit", "button", "reset"))):
                self.found.append((line, value, f"the {name} attribute is not marked for translation"))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.found.append((self.getpos()[0], data, "text not marked for translation"))


def _attribute_blocks(parent: str) -> set[str]:
    """The blocks a parent template, or one it extends, places inside an attribute value
    (``data-page="{% block page %}…"``, Django admin's ``<body class="…{% block bodyclass %}…">``): what a
    child puts there is not read by people."""
    from django.template import Engine

    engine = Engine.get_default()
    blocks: set[str] = set()
    history: list = []  # templates read so far, skipped as {% extends %} skips them (an override extends its original)
    name: str | None = parent
    while name:
        try:
            template, origin = engine.find_template(name, skip=history)
        except Exception:  # a parent that is not found cannot be judged; the child still is
            break
        history.append(origin)
        blocks |= set(re.findall(r'=\s*"[^"<>]*\{%\s*block\s+(\w+)\s*%\}', template.source))
        extends = re.search(r'\{%\s*extends\s+["\']([^"\']+)["\']\s*%\}', template.source)
        name = extends.group(1) if extends else None
    return blocks


def check_template_source(source: str, path: str = "<template>") -> list[Finding]:
    from django.template.base import Lexer, TokenType

    pieces: list[str] = []
    closing: str | None = None
    skipped_blocks: set[str] = set()
    for token in Lexer(source).tokenize():
        words = token.contents.split() if token.token_type == TokenType.BLOCK else []
        if closing is not None:  # inside a translated block, a comment or an attribute block: nothing to check
            if words[:1] == [closing]:
                closing = None
            pieces.append(HOLE + "\n" * token.contents.count("\n"))
            continue
        if token.token_type == TokenType.TEXT:
            pieces.append(token.contents)
        elif token.token_type == TokenType.VAR:
            # A |default:"…" text shows where the variable is: in a text node or an attribute people read.
            shown = [m.group("arg")[1:-1] for m in DEFAULT_FILTER.finditer("|" + token.contents.split("|", 1)[-1])]
            pieces.append(HOLE + " ".join(shown) + HOLE)
        else:
            if words[:1] == ["extends"] and len(words) > 1 and words[1][:1] in "\"'":
                skipped_blocks = _attribute_blocks(words[1][1:-1])
            if words[:1] == ["block"] and len(words) > 1 and words[1] in skipped_blocks:
                closing = "endblock"
            elif words[:1] == ["firstof"]:
                pieces.append(" ".join(w[1:-1] for w in words[1:] if w[:1] in "\"'" and w[-1:] == w[:1]))
            else:
                closing = TRANSLATION_BLOCKS.get(words[0] if words else "")
            pieces.append(HOLE)
    parser = _HumanText()
    parser.feed("".join(pieces))
    parser.close()
    return [Finding(path, line, " ".join(re.sub(HOLE + "+", "…", text).split()), why)
            for line, text, why in parser.found if _has_letters(text)]


# --- Python ------------------------------------------------------------------------------------


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_marked(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        if _name(node.func) in TRANSLATE_FUNCTIONS:
            return True
        # _("…").format(…)
        return isinstance(node.func, ast.Attribute) and node.func.attr == "format" and _is_marked(node.func.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_marked(node.left)
    return False


def _literal_text(node: ast.AST) -> str | None:
    """The text of a literal a person would read (a str constant, an f-string, a concatenation of them)."""
    if _is_marked(node):
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{…}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):  # "… %s" % value
        return _literal_text(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "…" + value + "…"
        left, right = _literal_text(node.left), _literal_text(node.right)
        if left is None and right is None:
            return None
        return (left or "{…}") + (right or "{…}")
    return None


class _PythonChecker(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.messages_names = {"messages"}  # names bound to django.contrib.messages

    def report(self, node: ast.AST, why: str) -> None:
        text = _literal_text(node)
        if text is not None and _has_letters(text.replace("{…}", "")):
            self.findings.append(Finding(self.path, node.lineno, text, why))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "django.contrib":
            for alias in node.names:
                if alias.name == "messages":
                    self.messages_names.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        for keyword in node.keywords:
            if keyword.arg in HUMAN_KEYWORDS:
                self.report(keyword.value, f"{keyword.arg}= is not marked for translation")
            elif keyword.arg == "choices" and isinstance(keyword.value, ast.List | ast.Tuple):
                self._choices(keyword.value)
            elif keyword.arg == "error_messages" and isinstance(keyword.value, ast.Dict):
                for value in keyword.value.values:
                    self.report(value, "an error message is not marked for translation")
        if name.endswith("Field") and name not in RELATION_FIELDS and node.args:
            self.report(node.args[0], f"the verbose name of a {name} is not marked for translation")
        if name in HUMAN_EXCEPTIONS and node.args:
            self.report(node.args[0], f"the message of {name} is not marked for translation")
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        if name in FLASH_FUNCTIONS and isinstance(receiver, ast.Name) and receiver.id in self.messages_names:
            position = FLASH_FUNCTIONS[name]
            if len(node.args) > position:
                self.report(node.args[position], f"the text of messages.{name}() is not marked for translation")
        if name in HUMAN_HELPERS and len(node.args) > HUMAN_HELPERS[name]:
            self.report(node.args[HUMAN_HELPERS[name]], f"the text of {name}() is not marked for translation")
        self.generic_visit(node)

    def _choices(self, node: ast.List | ast.Tuple) -> None:
        for item in node.elts:
            if isinstance(item, ast.Tuple) and len(item.elts) == 2:
                if isinstance(item.elts[1], ast.List | ast.Tuple):  # a group: (name, [(value, label), …])
                    self.report(item.elts[0], "a choices group name is not marked for translation")
                    self._choices(item.elts[1])
                else:
                    self.report(item.elts[1], "a choice's label is not marked for translation")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        is_choices = any(_name(base) in CHOICES_BASES for base in node.bases)
        for statement in node.body:
            if not isinstance(statement, ast.Assign):
                continue
            targets = [_name(t) for t in statement.targets]
            if is_choices and all(t.isupper() for t in targets if t):
                value = statement.value
                if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
                    self.report(value.elts[-1], "a choice's label is not marked for translation")
                elif not _is_marked(value):
                    self.findings.append(Finding(self.path, statement.lineno, ", ".join(targets),
                                                 "a choice without a label (Django makes an English one "
                                                 "from its name)"))
            elif any(t in HUMAN_CLASS_ATTRIBUTES for t in targets):
                self.report(statement.value, f"{targets[0]} is not marked for translation")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # admin.site.site_header = "…" and the like
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr in HUMAN_CLASS_ATTRIBUTES:
                self.report(node.value, f"{target.attr} is not marked for translation")
        self.generic_visit(node)


def check_python_source(source: str, path: str = "<module>") -> list[Finding]:
    checker = _PythonChecker(path)
    checker.visit(ast.parse(source, filename=path))
    return sorted(checker.findings, key=lambda f: f.line)


# --- Files -------------------------------------------------------------------------------------


def check_file(path: Path | str) -> list[Finding]:
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    shown = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return check_python_source(source, shown)
    if path.suffix in (".html", ".txt"):
        return check_template_source(source, shown)
    raise ValueError(f"{shown}: only .py, .html and .txt files are checked")


def main(argv: list[str]) -> int:
    import django

    django.setup()
    files: list[Path] = []
    for argument in argv or ["."]:
        path = Path(argument)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".html", ".txt")
                            and not {".venv", "migrations", "tests", "node_modules"} & set(p.parts))
        else:
            files.append(path)
    findings = [finding for file in files for finding in check_file(file.resolve())]
    for finding in findings:
        print(finding)
    print(f"{len(findings)} unmarked string(s) in {len(files)} file(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.exit(main(sys.argv[1:]))
