"""Go templates of line_format and label_format as LogsQL ``format`` patterns and pipes."""

from __future__ import annotations

import re
from collections.abc import Callable

from sentio.errors import LogQLTranslationError
from sentio.logql.labels import LEVEL_LABELS, SEVERITY_FIELD
from sentio.logql.logsql import qf, quote, re2_escape
from sentio.logql.parser import unquote

# {{- and -}} (with their space) trim the white space before and after, as Go does
_TEMPLATE_ACTION = re.compile(r"{{(-\s)?\s*(.*?)\s*(\s-)?}}", re.S)
_GO_TRIM = " \t\r\n"
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
_TEMPLATE_SOURCES = {"__line__": "_msg"}


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

    def field(label: str) -> str:
        if label not in LEVEL_LABELS:
            return resolve(label)
        # Loki's detected_level: the severity in lower case, "warning" as "warn"
        name = _temp(temps)
        pre.append(f'format "<lc:{SEVERITY_FIELD}>" as {name}')
        pre.append(f'replace ("warning", "warn") at {name}')
        return name

    items = _items(text)
    if any(kind == "text" and set(value) & set("<>") for kind, value in items):
        raise _refuse(construct, "'<' and '>' outside {{ }} have no LogsQL format form")
    return quote(_render(items, construct, field, pre, temps))


def _temp(temps: list[str]) -> str:
    name = f"logql_tmp{len(temps) + 1}"
    temps.append(name)
    return name


def _items(text: str) -> list[tuple[str, str]]:
    """Split a template into ("text", ...) and ("action", ...), trimming as {{- and -}} do."""
    items: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in _TEMPLATE_ACTION.finditer(text):
        before = text[pos : m.start()]
        if trim_next:
            before = before.lstrip(_GO_TRIM)
        if m.group(1):
            before = before.rstrip(_GO_TRIM)
        if before:
            items.append(("text", before))
        items.append(("action", m.group(2).strip()))
        trim_next = bool(m.group(3))
        pos = m.end()
    rest = text[pos:]
    if trim_next:
        rest = rest.lstrip(_GO_TRIM)
    if rest:
        items.append(("text", rest))
    return items


def _render(
    items: list[tuple[str, str]],
    construct: str,
    field: Callable[[str], str],
    pre: list[str],
    temps: list[str],
) -> str:
    """Return the format pattern of template items; ``if`` blocks go to temporary fields."""
    out: list[str] = []
    i = 0
    while i < len(items):
        kind, value = items[i]
        i += 1
        if kind == "text":
            out.append(value)
            continue
        word = value.split(None, 1)[0] if value else ""
        fm = _TEMPLATE_FIELD.fullmatch(value)
        if word == "if":
            branches: list[list[tuple[str, str]]] = [[]]
            while i < len(items) and items[i] != ("action", "end"):
                k, v = items[i]
                if k == "action" and v.split(None, 1)[:1] in (["if"], ["range"], ["with"]):
                    raise _refuse(f"{construct} {{{{ {v} }}}}", "nested blocks are not translated")
                if (k, v) == ("action", "else"):
                    branches.append([])
                elif k == "action" and v.startswith("else"):
                    raise _refuse(f"{construct} {{{{ {v} }}}}", "else if is not translated")
                else:
                    branches[-1].append((k, v))
                i += 1
            if i == len(items) or len(branches) > 2:
                raise _refuse(f"{construct} {{{{ {value} }}}}", "an if needs one end (one else)")
            i += 1
            cond = _condition(value[2:].strip(), construct, field)
            then = _render(branches[0], construct, field, pre, temps)
            other = _render(branches[1], construct, field, pre, temps) if branches[1:] else ""
            name = _temp(temps)
            pre.append(f"format {quote(other)} as {name}")
            pre.append(f"format if ({cond}) {quote(then)} as {name}")
            out.append(f"<{name}>")
        elif value == "__line__":
            out.append("<_msg>")
        elif value == "__timestamp__":
            # Go prints a time.Time as "2006-01-02 15:04:05.999999999 -0700 MST" (Loki in UTC);
            # VictoriaLogs' _time is RFC 3339 with the same trimmed fraction
            name = _temp(temps)
            pre.append(f'format "<_time>" as {name}')
            pre.append(
                f'replace_regexp ("^([0-9-]+)T([0-9:.]+)Z$", "${{1}} ${{2}} +0000 UTC") at {name}'
            )
            out.append(f"<{name}>")
        elif fm:
            out.append(f"<{field(fm.group(1))}>")
        elif word in ("else", "end", "range", "with", "define", "block", "template"):
            raise _refuse(f"{construct} {{{{ {value} }}}}", f"{word} is not translated")
        else:
            out.append(_pipeline(value, construct, field, pre, temps))
    return "".join(out)


def _condition(text: str, construct: str, field: Callable[[str], str]) -> str:
    """Return the LogsQL filter of an if: ``.a``, ``not .a``, ``eq .a "x"``, ``ne .a "x"``."""
    tokens = _template_tokens(text) or []
    labels = [t[1:] for t in tokens if t.startswith(".")]
    strings = [unquote(t) for t in tokens if t[:1] in '"`']
    shape = [("." if t.startswith(".") else "s" if t[:1] in '"`' else t) for t in tokens]
    if shape == ["."]:
        return f"{qf(field(labels[0]))}:*"
    if shape == ["not", "."]:
        return f"-{qf(field(labels[0]))}:*"
    if shape in (["eq", ".", "s"], ["eq", "s", "."], ["ne", ".", "s"], ["ne", "s", "."]):
        body = f"{qf(field(labels[0]))}:={quote(strings[0])}"
        return body if shape[0] == "eq" else f"-{body}"
    raise _refuse(
        f"{construct} {{{{ if {text} }}}}", 'only if .a, not .a, eq/ne .a "x" are translated'
    )


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
