"""``google.api.http`` path templates: parsing, and a pre-compiled segment trie to match them.

Grammar (the HttpRule one; ``**`` only as the last segment)::

    Template = "/" Segments [ Verb ] ;     Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;   FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Matching walks the trie one path segment at a time (a dict lookup per literal), preferring a
literal over ``*`` over ``**``, so the cost depends on the path's length, not on the number of
routes. Example::

    trie = RouteTrie[str]()
    trie.add(parse_template("/v1/{name=shelves/*}/books/{book}"), "GET", "GetBook")
    match = trie.match("GET", "/v1/shelves/s1/books/b2")
    match.value, match.variables   # "GetBook", {"name": "shelves/s1", "book": "b2"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
STAR = "*"
DOUBLE_STAR = "**"
ANY_METHOD = "*"  # custom rule with kind "*"


class TemplateError(ValueError):
    """A path template that does not follow the HttpRule grammar."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A ``{field.path=...}`` capture: segments ``start`` up to ``end`` (``None``: to the end)."""

    field_path: str
    start: int
    end: int | None


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A parsed template: one entry per segment (a literal, ``*`` or ``**``), variables, verb."""

    text: str
    segments: tuple[str, ...]
    variables: tuple[Variable, ...]
    verb: str
    literals: frozenset[int] = frozenset()  # indexes of literal segments

    def openapi_path(self) -> str:
        """The OpenAPI form: each variable becomes ``{field.path}``, wildcards stay."""
        parts: list[str] = []
        index = 0
        by_start = {v.start: v for v in self.variables}
        while index < len(self.segments):
            variable = by_start.get(index)
            if variable is not None:
                parts.append("{" + variable.field_path + "}")
                index = len(self.segments) if variable.end is None else variable.end
                continue
            parts.append(self.segments[index])
            index += 1
        return "/" + "/".join(parts) + (":" + self.verb if self.verb else "")


def parse_template(text: str) -> PathTemplate:
    """Parse a path template; TemplateError says what is wrong and where."""
    if not text.startswith("/"):
        raise TemplateError(f"path template {text!r} must start with '/'")
    body, verb = text[1:], ""
    # The verb is a ':' after the last '/' that is outside braces.
    depth = 0
    for i in range(len(body) - 1, -1, -1):
        ch = body[i]
        if ch == "}":
            depth += 1
        elif ch == "{":
            depth -= 1
        elif ch == "/" and depth == 0:
            break
        elif ch == ":" and depth == 0:
            body, verb = body[:i], body[i + 1 :]
            if not verb or "/" in verb:
                raise TemplateError(f"path template {text!r} has an empty or invalid verb")
            break
    segments: list[str] = []
    literals: set[int] = set()
    variables: list[Variable] = []
    names: set[str] = set()
    pos = 0
    while pos <= len(body):
        if pos < len(body) and body[pos] == "{":
            close = body.find("}", pos)
            if close < 0:
                raise TemplateError(f"path template {text!r}: unclosed '{{'")
            inner = body[pos + 1 : close]
            if "{" in inner:
                raise TemplateError(f"path template {text!r}: nested variables are not allowed")
            name, _, sub = inner.partition("=")
            if not _IDENT.match(name):
                raise TemplateError(f"path template {text!r}: bad field path {name!r}")
            if name in names:
                raise TemplateError(f"path template {text!r}: variable {name!r} appears twice")
            names.add(name)
            start = len(segments)
            for part in (sub or STAR).split("/"):
                _check_segment(text, part, allow_braces=False)
                if part not in (STAR, DOUBLE_STAR):
                    literals.add(len(segments))
                segments.append(part)
            end = None if segments[-1] == DOUBLE_STAR else len(segments)
            variables.append(Variable(name, start, end))
            pos = close + 1
        else:
            nxt = body.find("/", pos)
            nxt = len(body) if nxt < 0 else nxt
            part = body[pos:nxt]
            _check_segment(text, part, allow_braces=False)
            if part not in (STAR, DOUBLE_STAR):
                literals.add(len(segments))
            segments.append(part)
            pos = nxt
        if pos < len(body):
            if body[pos] != "/":
                raise TemplateError(f"path template {text!r}: expected '/' at {body[pos:]!r}")
            pos += 1
            if pos == len(body):
                raise TemplateError(f"path template {text!r} must not end with '/'")
        else:
            break
    if DOUBLE_STAR in segments[:-1]:
        raise TemplateError(f"path template {text!r}: '**' is only allowed as the last segment")
    return PathTemplate(text, tuple(segments), tuple(variables), verb, frozenset(literals))


def _check_segment(text: str, part: str, *, allow_braces: bool) -> None:
    if not part:
        raise TemplateError(f"path template {text!r} has an empty segment")
    if not allow_braces and any(c in part for c in "{}=") and part not in (STAR, DOUBLE_STAR):
        raise TemplateError(f"path template {text!r}: bad segment {part!r}")
    if "*" in part and part not in (STAR, DOUBLE_STAR):
        raise TemplateError(f"path template {text!r}: '*' must be a whole segment in {part!r}")


@dataclass(slots=True)
class _Node(Generic[T]):
    literal: dict[str, _Node[T]] = field(default_factory=dict)
    star: _Node[T] | None = None
    double_star: dict[str, tuple[PathTemplate, T]] | None = None  # method -> route
    routes: dict[str, tuple[PathTemplate, T]] | None = None  # method -> route (ends here)


@dataclass(slots=True)
class Match(Generic[T]):
    """A matched route: its value and the decoded variable values."""

    value: T
    template: PathTemplate
    variables: dict[str, str]


@dataclass(slots=True)
class NoMatch:
    """No route: ``allowed`` lists the HTTP methods the path has (empty: unknown path → 404)."""

    allowed: list[str]


class DuplicateRoute(TemplateError):
    """Two rules with the same method, template shape and verb."""


class RouteTrie(Generic[T]):
    """Routes keyed by HTTP method and template; see the module docstring."""

    def __init__(self) -> None:
        self._roots: dict[str, _Node[T]] = {}  # verb -> root

    def add(self, template: PathTemplate, method: str, value: T) -> None:
        node = self._roots.setdefault(template.verb, _Node())
        for part in template.segments:
            if part == DOUBLE_STAR:
                node.double_star = node.double_star or {}
                self._put(node.double_star, template, method, value)
                return
            if part == STAR:
                node.star = node.star or _Node()
                node = node.star
            else:
                node = node.literal.setdefault(part, _Node())
        node.routes = node.routes or {}
        self._put(node.routes, template, method, value)

    @staticmethod
    def _put(
        table: dict[str, tuple[PathTemplate, T]], template: PathTemplate, method: str, value: T
    ) -> None:
        if method in table:
            raise DuplicateRoute(
                f"{method} {template.text} clashes with {method} {table[method][0].text}"
            )
        table[method] = (template, value)

    def match(self, method: str, raw_path: str) -> Match[T] | NoMatch:
        """Match a raw (still percent-encoded) path without its query string."""
        if not raw_path.startswith("/"):
            return NoMatch([])
        raw = raw_path[1:].split("/")
        allowed: list[str] = []
        last = raw[-1]
        colon = last.rfind(":")
        if colon >= 0:
            root = self._roots.get(unquote(last[colon + 1 :]))
            if root is not None:
                trimmed = [*raw[:-1], last[:colon]]
                found = self._search(root, method, trimmed, allowed)
                if found is not None:
                    return found
        root = self._roots.get("")
        if root is not None:
            found = self._search(root, method, raw, allowed)
            if found is not None:
                return found
        return NoMatch(sorted(set(allowed)))

    def _search(
        self, root: _Node[T], method: str, raw: list[str], allowed: list[str]
    ) -> Match[T] | None:
        decoded = [unquote(part) for part in raw]
        # Depth-first, literal before '*' before '**'; an explicit stack avoids recursion.
        stack: list[tuple[_Node[T] | _Terminal[T], int]] = [(root, 0)]
        while stack:
            node, index = stack.pop()
            if isinstance(node, _Terminal):
                return self._bind(node.route, raw, decoded)
            if index == len(decoded):
                if node.routes:
                    route = node.routes.get(method) or node.routes.get(ANY_METHOD)
                    if route is not None:
                        return self._bind(route, raw, decoded)
                    allowed.extend(node.routes)
                if node.double_star:  # '**' matches zero segments too
                    route = node.double_star.get(method) or node.double_star.get(ANY_METHOD)
                    if route is not None:
                        return self._bind(route, raw, decoded)
                    allowed.extend(node.double_star)
                continue
            # Pushed in reverse priority: the literal child is popped first, '**' last.
            if node.double_star:
                route = node.double_star.get(method) or node.double_star.get(ANY_METHOD)
                if route is not None:
                    stack.append((_Terminal(route), index))
                else:
                    allowed.extend(node.double_star)
            if node.star is not None and decoded[index] != "":
                stack.append((node.star, index + 1))
            child = node.literal.get(decoded[index])
            if child is not None:
                stack.append((child, index + 1))
        return None

    @staticmethod
    def _bind(route: tuple[PathTemplate, T], raw: list[str], decoded: list[str]) -> Match[T]:
        template, value = route
        variables: dict[str, str] = {}
        for variable in template.variables:
            end = len(raw) if variable.end is None else variable.end
            if end - variable.start == 1 and variable.end is not None:
                variables[variable.field_path] = decoded[variable.start]
            else:
                # Multi-segment captures keep '%2F' encoded so the slashes stay meaningful.
                variables[variable.field_path] = "/".join(
                    unquote(part.replace("%2F", "%252F").replace("%2f", "%252f"))
                    for part in raw[variable.start : end]
                )
        return Match(value, template, variables)

    def __len__(self) -> int:
        return len(self._roots)


@dataclass(slots=True)
class _Terminal(Generic[T]):
    """A '**' route waiting on the search stack (taken once everything more specific failed)."""

    route: tuple[PathTemplate, T]
