"""Go templates of line_format and label_format as LogsQL ``format`` patterns and pipes."""

from __future__ import annotations

import re
from collections.abc import Callable

from sentio.errors import LogQLTranslationError
from sentio.logql.logsql import quote, re2_escape
from sentio.logql.parser import unquote

_TEMPLATE_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_TEMPLATE_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")
# Go's unicode.IsSpace (strings.TrimSpace) at either end of a value
_GO_SPACE = r"^[\t\n\v\f\r \x{85}\p{Z}]+|[\t\n\v\f\r \x{85}\p{Z}]+$"
_TEMPLATE_TOKEN = re.compile(
    r'\s*(\.[A-Za-z_][A-Za-z0-9_]*|"(?:\\.|[^"\\])*"|`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+)\s*'
)


# template function -> (what it does, its arguments in order: "s" a string, "n" a number,
# "f" the value)
_TEMPLATE_FUNCS: dict[str, tuple[str, str]] = {
    "ToUpper": ("uc", "f"),
    "upper": ("uc", "f"),
    "ToLower": ("lc", "f"),
    "lower": ("lc", "f"),
    "b64enc": ("base64encode", "f"),
    "urlencode": ("urlencode", "f"),
    "trim": ("trim", "f"),
    "TrimSpace": ("trim", "f"),
    "replace": ("replace", "ssf"),
    "default": ("default", "sf"),
    "trimPrefix": ("prefix", "sf"),
    "trimSuffix": ("suffix", "sf"),
    "trimAll": ("cutset", "sf"),
    "regexReplaceAll": ("regex", "sfs"),
    # Go's strings functions, the value first
    "Replace": ("replace_n", "fssn"),
    "TrimPrefix": ("prefix", "fs"),
    "TrimSuffix": ("suffix", "fs"),
    "Trim": ("cutset", "fs"),
    "TrimLeft": ("left", "fs"),
    "TrimRight": ("right", "fs"),
    "repeat": ("repeat", "nf"),
}
_TEMPLATE_SOURCES = {"__line__": "_msg", "__timestamp__": "_time"}


def _split_pipeline(action: str) -> list[str]:
    """Split a template action at the ``|`` outside strings."""
    parts: list[str] = []
    current: list[str] = []
    quote_char = ""
    escaped = False
    for ch in action:
        if quote_char:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\" and quote_char == '"':
                escaped = True
            elif ch == quote_char:
                quote_char = ""
        elif ch in '"`':
            quote_char = ch
            current.append(ch)
        elif ch == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _template_tokens(command: str) -> list[str] | None:
    """Return the words of one template command, or None if it is not words and strings."""
    tokens: list[str] = []
    pos = 0
    while pos < len(command):
        m = _TEMPLATE_TOKEN.match(command, pos)
        if m is None or m.end() == pos:
            if command[pos:].strip():
                return None
            break
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def template(
    text: str, construct: str, resolve: Callable[[str], str], pre: list[str], temps: list[str]
) -> str:
    """Return a LogsQL ``format`` pattern for a Go template; functions add ``pre`` pipes.

    A function's result goes to a temporary field (named in ``temps``, deleted after).
    """
    if "<" in _TEMPLATE_ACTION.sub("", text) or ">" in _TEMPLATE_ACTION.sub("", text):
        raise _refuse(construct, "'<' and '>' outside {{ }} have no LogsQL format form")
    out: list[str] = []
    pos = 0
    for m in _TEMPLATE_ACTION.finditer(text):
        out.append(text[pos : m.start()])
        action = m.group(1).strip()
        fm = _TEMPLATE_FIELD.fullmatch(action)
        if action == "__line__":
            out.append("<_msg>")
        elif action == "__timestamp__":
            out.append("<_time>")
        elif fm:
            out.append(f"<{resolve(fm.group(1))}>")
        else:
            out.append(_pipeline(action, construct, resolve, pre, temps))
        pos = m.end()
    out.append(text[pos:])
    return quote("".join(out))


def _pipeline(
    action: str, construct: str, resolve: Callable[[str], str], pre: list[str], temps: list[str]
) -> str:
    """Return the format placeholder of ``{{ fn .a | fn ... }}``, adding pipes to ``pre``."""

    def refuse() -> LogQLTranslationError:
        return _refuse(
            f"{construct} {{{{ {action} }}}}",
            f"only .label and {', '.join(_TEMPLATE_FUNCS)} are translated",
        )

    def temp_text(pattern: str) -> str:
        name = f"logql_tmp{len(temps) + 1}"
        temps.append(name)
        pre.append(f"format {quote(pattern)} as {name}")
        return name

    def temp(source: str) -> str:
        return temp_text(f"<{source}>")

    def arg_field(token: str, piped: bool) -> str | None:
        if token in _TEMPLATE_SOURCES:
            return _TEMPLATE_SOURCES[token]
        if token.startswith("."):
            # a piped value is a field already; a field named in the arguments is a label
            return token[1:] if piped else resolve(token[1:])
        return None

    commands = _split_pipeline(action)
    value: str | None = None
    for i, command in enumerate(commands):
        tokens = _template_tokens(command)
        if not tokens:
            raise refuse()
        head, args = tokens[0], tokens[1:]
        source = arg_field(head, False)
        if source is not None:
            if i != 0 or args:
                raise refuse()
            value = source
            continue
        spec = _TEMPLATE_FUNCS.get(head)
        if spec is None:
            raise refuse()
        kind, shape = spec
        piped = value is not None
        if value is not None:
            args.append("." + value)
        # shape: "s" a string argument, "f" the value (a field), in the function's order
        if len(args) != len(shape):
            raise refuse()
        strings: list[str] = []
        numbers: list[int] = []
        src = ""
        for want, token in zip(shape, args, strict=True):
            f = arg_field(token, piped and token is args[-1])
            if want == "f" and f is not None:
                src = f
            elif want == "s" and f is None and token[:1] in '"`':
                strings.append(unquote(token))
            elif want == "n" and re.fullmatch(r"-?[0-9]+", token):
                numbers.append(int(token))
            else:
                raise refuse()
        last = i == len(commands) - 1
        if kind == "repeat":
            if not 0 <= numbers[0] <= 100:
                raise refuse()
            text = f"<{src}>" * numbers[0]
            if last:
                return text
            value = temp_text(text)
            continue
        if kind in ("replace", "replace_n") and not strings[0]:
            raise refuse()  # Go inserts the new text between every character
        if kind == "replace_n":
            value = temp(src)
            n = numbers[0]
            if n != 0:
                limit = f" limit {n}" if n > 0 else ""
                pre.append(f"replace ({quote(strings[0])}, {quote(strings[1])}) at {value}{limit}")
            continue
        if kind in ("uc", "lc", "base64encode"):
            if last:
                return f"<{kind}:{src}>"
            value = temp(f"{kind}:{src}")
            continue
        if kind == "urlencode":
            # Go's url.QueryEscape keeps '~', VictoriaLogs escapes it ('%' is always %25)
            value = temp(f"urlencode:{src}")
            pre.append(f'replace ("%7E", "~") at {value}')
            continue
        value = temp(src)
        pre.append(_step(kind, strings, value, refuse))
    if value is None:
        raise refuse()
    return f"<{value}>"


def _step(
    kind: str, strings: list[str], field: str, refuse: Callable[[], LogQLTranslationError]
) -> str:
    """Return the pipe applying one template function to a temporary field."""
    if kind == "trim":
        return f'replace_regexp ({quote(_GO_SPACE)}, "") at {field}'
    if kind == "replace":
        return f"replace ({quote(strings[0])}, {quote(strings[1])}) at {field}"
    if kind == "default":
        if set("<>") & set(strings[0]):
            raise refuse()
        return f'format if ({field}:"") {quote(strings[0])} as {field}'
    if kind in ("left", "right"):
        if not strings[0]:
            raise refuse()
        chars = "".join(f"\\x{{{ord(c):x}}}" for c in strings[0])
        regex = f"^[{chars}]+" if kind == "left" else f"[{chars}]+$"
        return f'replace_regexp ({quote(regex)}, "") at {field}'
    if kind in ("prefix", "suffix"):
        if not strings[0]:
            raise refuse()
        text = re2_escape(strings[0])
        regex = f"^{text}" if kind == "prefix" else f"{text}$"
        return f'replace_regexp ({quote(regex)}, "") at {field}'
    if kind == "cutset":
        if not strings[0]:
            raise refuse()
        chars = "".join(f"\\x{{{ord(c):x}}}" for c in strings[0])
        return f'replace_regexp ({quote(f"^[{chars}]+|[{chars}]+$")}, "") at {field}'
    regex, repl = strings
    try:
        # VictoriaLogs leaves an empty value alone; Go would replace a match of ""
        matches_empty = re.fullmatch(regex, "") is not None
    except re.error:
        matches_empty = True
    if matches_empty:
        raise _refuse(
            f"regexReplaceAll {quote(regex)}",
            "a regex that matches an empty value (VictoriaLogs leaves empty values alone)",
        )
    return f"replace_regexp ({quote(regex)}, {quote(repl)}) at {field}"


def _refuse(construct: str, reason: str) -> LogQLTranslationError:
    return LogQLTranslationError(construct, reason)
