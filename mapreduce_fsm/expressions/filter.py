"""The filter language of `map.filter`, step `when` and `reduce.when`: a parser and evaluator.

Grammar, loosest binding first::

    or_expr    := and_expr (('||' | 'or') and_expr)*
    and_expr   := comparison (('&&' | 'and') comparison)*
    comparison := unary (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not' 'in'
                          | 'matches') unary)?
    unary      := ('!' | 'not') unary | primary
    primary    := number | string | true | false | null | '[' list ']' | '{' object '}'
                | '(' or_expr ')' | function '(' arguments ')' | path

Object literals exist so that `when: ${item.owner} == {"login": "ann"}` works once
interpolation has written the value as JSON.

Keywords are case-insensitive. Evaluation never raises on data: a missing field is null,
ordering values of different kinds (or null) is false, `==` compares JSON values (1 == 1.0,
a number never equals a string). An expression is compiled once into nested closures, so
evaluating it over thousands of items is cheap.
"""

from __future__ import annotations

import difflib
import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from mapreduce_fsm.expressions.functions import FUNCTIONS, contains, regex_matches
from mapreduce_fsm.expressions.paths import (
    FieldPath,
    item_relative,
    parse_path,
    resolve,
    strips_item_prefix,
)
from mapreduce_fsm.expressions.sorting import SortKey, compile_sort
from mapreduce_fsm.expressions.tokens import Token, TokenCursor, TokenKind
from mapreduce_fsm.expressions.values import comparable, json_equal

__all__ = ["Expression", "SortKey", "compile_expression", "compile_sort"]

# An evaluator takes the root value and whether a leading `item.` means the root itself.
Evaluator = Callable[[Any, bool], Any]

ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
CONSTANT_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
OPERATOR_WORDS = ("and", "or", "in")


@attrs.frozen(kw_only=True)
class Expression:
    """A compiled expression; reusable, immutable and cheap to evaluate.

    >>> compile_expression("size > 10 && !is_null(path)").matches({"size": 12, "path": "a"})
    True
    """

    source: str
    _evaluator: Evaluator = attrs.field(eq=False, repr=False)
    # The field paths the expression reads, in order, e.g. (("size",), ("item", "path")).
    paths: tuple[FieldPath, ...] = attrs.field(default=(), eq=False, repr=False)

    def evaluate(self, root: Mapping[str, Any] | Any, *, item_prefix: bool = False) -> Any:
        """The expression's value over `root`.

        With `item_prefix` (filters over work items), a path starting with `item.` reads the
        root itself, unless the root is an object with its own `item` key.
        """
        return self._evaluator(root, item_prefix and strips_item_prefix(root))

    def matches(self, root: Mapping[str, Any] | Any, *, item_prefix: bool = False) -> bool:
        """Whether the expression's value is truthy (Python truthiness) over `root`."""
        return bool(self.evaluate(root, item_prefix=item_prefix))


@functools.lru_cache(maxsize=512)
def compile_expression(text: str) -> Expression:
    """Parse `text`; raises ExpressionError naming the 1-based column of the problem."""
    cursor = TokenCursor.over(text)
    if cursor.peek().kind is TokenKind.END:
        raise cursor.error("the expression is empty")
    try:
        parser = _Parser(cursor)
        evaluator = parser.expression()
    except RecursionError:  # hundreds of nested parentheses, `!` or literals
        raise cursor.error("the expression is nested too deeply") from None
    token = cursor.peek()
    if _comparison_operator(cursor) is not None:
        raise cursor.error(
            f"comparisons cannot be chained (join them with &&): unexpected {token.describe()}"
        )
    if token.kind is not TokenKind.END:
        raise cursor.unexpected()
    return Expression(source=text, evaluator=evaluator, paths=tuple(parser.paths))


def _comparison_operator(cursor: TokenCursor) -> str | None:
    """The comparison operator at the cursor (`not in` for two tokens), without consuming it."""
    token = cursor.peek()
    if token.is_symbol("==", "!=", "<", "<=", ">", ">="):
        return token.text
    if token.is_word("in"):
        return "in"
    if token.is_word("not") and cursor.peek(1).is_word("in"):
        return "not in"
    if token.is_word("matches") and not cursor.peek(1).is_symbol("("):
        return "matches"  # infix `name matches 'regex'`, as Prodigy's workflows write it
    return None


@attrs.define
class _Parser:
    cursor: TokenCursor
    paths: list[FieldPath] = attrs.field(factory=list)

    def expression(self) -> Evaluator:
        terms = [self._and()]
        while (token := self.cursor.peek()).is_symbol("||") or token.is_word("or"):
            self.cursor.advance()
            self._expect_value_after(token)
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else _any_of(terms)

    def _and(self) -> Evaluator:
        terms = [self._comparison()]
        while (token := self.cursor.peek()).is_symbol("&&") or token.is_word("and"):
            self.cursor.advance()
            self._expect_value_after(token)
            terms.append(self._comparison())
        return terms[0] if len(terms) == 1 else _all_of(terms)

    def _comparison(self) -> Evaluator:
        left = self._unary()
        name = _comparison_operator(self.cursor)
        if name is None:
            return left
        token = self.cursor.advance()
        if name == "not in":
            token = self.cursor.advance()
        self._expect_value_after(token, name)
        start = self.cursor.index
        right = self._unary()
        if name == "matches":
            self._check_literal_regex(self.cursor.tokens[start : self.cursor.index])
            return lambda root, strip: regex_matches(left(root, strip), right(root, strip))
        if name == "==":
            return lambda root, strip: json_equal(left(root, strip), right(root, strip))
        if name == "!=":
            return lambda root, strip: not json_equal(left(root, strip), right(root, strip))
        if name == "in":
            return lambda root, strip: contains(right(root, strip), left(root, strip))
        if name == "not in":
            return lambda root, strip: not contains(right(root, strip), left(root, strip))
        return _ordering(ORDERINGS[name], left, right)

    def _unary(self) -> Evaluator:
        token = self.cursor.peek()
        if token.is_symbol("!") or (token.is_word("not") and not self.cursor.peek(1).is_word("in")):
            self.cursor.advance()
            self._expect_value_after(token)
            operand = self._unary()
            return lambda root, strip: not operand(root, strip)
        return self._primary()

    def _primary(self) -> Evaluator:
        token = self.cursor.peek()
        if token.kind in (TokenKind.NUMBER, TokenKind.STRING):
            self.cursor.advance()
            return _constant(token.value)
        if token.is_symbol("("):
            self.cursor.advance()
            self._expect_value_after(token)
            inner = self.expression()
            self.cursor.expect_symbol(")", f"to close the '(' at column {token.column}")
            return inner
        if token.is_symbol("["):
            return self._list()
        if token.is_symbol("{"):
            return self._object()
        if token.kind is TokenKind.NAME and token.text.lower() in CONSTANT_WORDS:
            self.cursor.advance()
            return _constant(CONSTANT_WORDS[token.text.lower()])
        if token.kind is TokenKind.NAME and not token.is_word(*OPERATOR_WORDS, "not"):
            if self.cursor.peek(1).is_symbol("("):
                return self._call()
            path = parse_path(self.cursor)
            self.paths.append(path)
            return _path(path)
        raise self.cursor.unexpected()

    def _list(self) -> Evaluator:
        opening = self.cursor.advance()
        elements: list[Evaluator] = []
        while not self.cursor.peek().is_symbol("]"):
            if self.cursor.peek().kind is TokenKind.END:
                raise self.cursor.error("unclosed '['", opening)
            self._expect_value_after(self.cursor.previous())
            elements.append(self.expression())
            if self.cursor.peek().kind is TokenKind.END:
                raise self.cursor.error("unclosed '['", opening)
            if not self.cursor.peek().is_symbol("]"):
                self.cursor.expect_symbol(",", "between list elements")
        self.cursor.advance()
        return lambda root, strip: [element(root, strip) for element in elements]

    def _object(self) -> Evaluator:
        """`{"key": value, ...}`: the JSON object literals that `${...}` interpolation writes."""
        opening = self.cursor.advance()
        members: list[tuple[str, Evaluator]] = []
        while not self.cursor.peek().is_symbol("}"):
            key = self.cursor.peek()
            if key.kind is TokenKind.END:
                raise self.cursor.error("unclosed '{'", opening)
            if key.kind not in (TokenKind.STRING, TokenKind.NAME):
                raise self.cursor.error(f"expected a key in '{{...}}', found {key.describe()}")
            self.cursor.advance()
            colon = self.cursor.expect_symbol(":", "after an object key")
            self._expect_value_after(colon)
            members.append((str(key.value), self.expression()))
            if self.cursor.peek().kind is TokenKind.END:
                raise self.cursor.error("unclosed '{'", opening)
            if not self.cursor.peek().is_symbol("}"):
                self.cursor.expect_symbol(",", "between object members")
        self.cursor.advance()
        return lambda root, strip: {key: member(root, strip) for key, member in members}

    def _call(self) -> Evaluator:
        name_token = self.cursor.advance()
        function = FUNCTIONS.get(name_token.text)
        if function is None:
            raise self.cursor.error(_unknown_function_message(name_token.text), name_token)
        opening = self.cursor.advance()
        arguments: list[Evaluator] = []
        argument_tokens: list[list[Token]] = []
        while not self.cursor.peek().is_symbol(")"):
            if self.cursor.peek().kind is TokenKind.END:
                raise self.cursor.error(f"unclosed '(' of {function.name}()", opening)
            if arguments:
                self.cursor.expect_symbol(",", f"between the arguments of {function.name}()")
            self._expect_value_after(self.cursor.previous())
            start = self.cursor.index
            arguments.append(self.expression())
            argument_tokens.append(self.cursor.tokens[start : self.cursor.index])
        self.cursor.advance()
        if len(arguments) != function.arity:
            plural = "argument" if function.arity == 1 else "arguments"
            raise self.cursor.error(
                f"{function.name}() takes {function.arity} {plural}, got {len(arguments)}",
                name_token,
            )
        if function.name == "matches":
            self._check_literal_regex(argument_tokens[1])
        call = function.call
        if function.arity == 1:
            (only,) = arguments
            return lambda root, strip: call(only(root, strip))
        first, second = arguments
        return lambda root, strip: call(first(root, strip), second(root, strip))

    def _check_literal_regex(self, pattern_tokens: list[Token]) -> None:
        """A `matches()` pattern written as a string literal must compile (checked here, once).

        A computed pattern is checked at evaluation, where a bad one simply does not match.
        """
        if len(pattern_tokens) != 1 or pattern_tokens[0].kind is not TokenKind.STRING:
            return
        try:
            re.compile(str(pattern_tokens[0].value))
        except re.error as error:
            raise self.cursor.error(
                f"invalid regular expression in matches(): {error}", pattern_tokens[0]
            ) from None

    def _expect_value_after(self, after: Token, name: str | None = None) -> None:
        token = self.cursor.peek()
        starts_value = (
            token.kind in (TokenKind.NUMBER, TokenKind.STRING)
            or token.is_symbol("(", "[", "{", "!")
            or (token.kind is TokenKind.NAME and not token.is_word(*OPERATOR_WORDS))
        )
        if not starts_value:
            raise self.cursor.error(f"expected a value after {name or after.text!r}", token)


def _unknown_function_message(name: str) -> str:
    close = difflib.get_close_matches(name, FUNCTIONS, n=1)
    if close:
        return f"unknown function {name!r} (did you mean {close[0]}?)"
    return f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})"


def _constant(value: Any) -> Evaluator:
    return lambda root, strip: value


def _path(path: tuple[str | int, ...]) -> Evaluator:
    relative = item_relative(path)
    if relative is None:
        return lambda root, strip: resolve(root, path)
    return lambda root, strip: resolve(root, relative if strip else path)


def _any_of(terms: list[Evaluator]) -> Evaluator:
    """`a || b || c`, flat: a long chain must not nest one call per term."""
    return lambda root, strip: any(term(root, strip) for term in terms)


def _all_of(terms: list[Evaluator]) -> Evaluator:
    return lambda root, strip: all(term(root, strip) for term in terms)


def _ordering(compare: Callable[[Any, Any], bool], left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(root: Any, strip: bool) -> bool:
        left_value, right_value = left(root, strip), right(root, strip)
        return comparable(left_value, right_value) and compare(left_value, right_value)

    return evaluate
