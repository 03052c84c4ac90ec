"""The tokenizer shared by filter expressions, sort clauses and field paths."""

from __future__ import annotations

import enum

import attrs

from mapreduce_fsm.errors import ExpressionError


class TokenKind(enum.Enum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"  # a field name, function name or keyword (and, or, not, in, true, ...)
    SYMBOL = "symbol"  # an operator or punctuation: == != < <= > >= && || ! ( ) [ ] , .
    END = "end"


@attrs.frozen(kw_only=True)
class Token:
    kind: TokenKind
    text: str  # as written in the source
    value: object  # the number or the unescaped string; `text` for names and symbols
    column: int  # 1-based column of the first character

    def describe(self) -> str:
        """How an error message names this token."""
        return "the end of the expression" if self.kind is TokenKind.END else repr(self.text)

    def is_word(self, *words: str) -> bool:
        """True for a NAME token spelling one of `words`, case-insensitively."""
        return self.kind is TokenKind.NAME and self.text.lower() in words

    def is_symbol(self, *symbols: str) -> bool:
        return self.kind is TokenKind.SYMBOL and self.text in symbols


TWO_CHAR_SYMBOLS = ("==", "!=", "<=", ">=", "&&", "||")
ONE_CHAR_SYMBOLS = "<>!()[],.{}:"
LONE_CHAR_HINTS = {"=": "==", "&": "&&", "|": "||"}
SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "/": "/",
    "0": "\0",
    "f": "\f",
}  # `\b` is not here: it stays `\b`, the regex word boundary, as any unknown escape does


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an END token; raises ExpressionError with a column."""
    return _Tokenizer(text).run()


@attrs.define
class _Tokenizer:
    text: str
    position: int = 0
    tokens: list[Token] = attrs.field(factory=list)

    def run(self) -> list[Token]:
        text = self.text
        while True:
            while self.position < len(text) and text[self.position].isspace():
                self.position += 1
            if self.position >= len(text):
                break
            char = text[self.position]
            pair = text[self.position : self.position + 2]
            if char.isdigit() or (char == "-" and pair[1:].isdigit()):
                self._number()
            elif char in "'\"":
                self._string(char)
            elif char.isalpha() or char == "_":
                self._name()
            elif pair in TWO_CHAR_SYMBOLS:
                self._emit(TokenKind.SYMBOL, pair, pair)
            elif char in ONE_CHAR_SYMBOLS:
                self._emit(TokenKind.SYMBOL, char, char)
            else:
                hint = LONE_CHAR_HINTS.get(char)
                message = f"unexpected character {char!r}"
                if hint:
                    message += f" (did you mean {hint!r}?)"
                raise ExpressionError(message, expression=text, column=self.position + 1)
        self.tokens.append(Token(kind=TokenKind.END, text="", value=None, column=len(text) + 1))
        return self.tokens

    def _emit(self, kind: TokenKind, source: str, value: object) -> None:
        self.tokens.append(Token(kind=kind, text=source, value=value, column=self.position + 1))
        self.position += len(source)

    def _number(self) -> None:
        text, start = self.text, self.position
        end = start + 1 if text[start] == "-" else start
        end = _skip_digits(text, end)
        is_float = False
        if end < len(text) and text[end] == "." and text[end + 1 : end + 2].isdigit():
            end, is_float = _skip_digits(text, end + 1), True
        if end < len(text) and text[end] in "eE":
            exponent = end + 1
            if exponent < len(text) and text[exponent] in "+-":
                exponent += 1
            if exponent < len(text) and text[exponent].isdigit():
                end, is_float = _skip_digits(text, exponent), True
        if end < len(text) and (text[end].isalpha() or text[end] == "_"):
            raise ExpressionError(
                f"malformed number {text[start : end + 1]!r} (field names cannot start with a"
                " digit; write ['name'] for such a key)",
                expression=text,
                column=start + 1,
            )
        source = text[start:end]
        self._emit(TokenKind.NUMBER, source, float(source) if is_float else int(source))

    def _string(self, quote: str) -> None:
        text, start = self.text, self.position
        index = start + 1
        parts: list[str] = []
        while index < len(text) and text[index] != quote:
            char = text[index]
            if char == "\\" and index + 1 < len(text):
                escaped = text[index + 1]
                if escaped == "u" and _is_hex(text[index + 2 : index + 6]):
                    parts.append(chr(int(text[index + 2 : index + 6], 16)))
                    index += 6
                    continue
                # Unknown escapes keep their backslash, so regexes such as '\d+' read naturally.
                parts.append(SIMPLE_ESCAPES.get(escaped, "\\" + escaped))
                index += 2
                continue
            parts.append(char)
            index += 1
        if index >= len(text):
            # ExpressionError appends " at column N": "unterminated string starting at column N".
            raise ExpressionError("unterminated string starting", expression=text, column=start + 1)
        self.tokens.append(
            Token(
                kind=TokenKind.STRING,
                text=text[start : index + 1],
                value=_join_surrogate_pairs("".join(parts)),
                column=start + 1,
            )
        )
        self.position = index + 1

    def _name(self) -> None:
        text, end = self.text, self.position + 1
        # Hyphens are allowed inside names (`content-type`): the language has no subtraction.
        while end < len(text) and (text[end].isalnum() or text[end] in "_-"):
            end += 1
        source = text[self.position : end]
        self._emit(TokenKind.NAME, source, source)


def _join_surrogate_pairs(text: str) -> str:
    """`\\ud83d\\ude00` written as two escapes is one character, as in JSON."""
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def _skip_digits(text: str, index: int) -> int:
    while index < len(text) and text[index].isdigit():
        index += 1
    return index


def _is_hex(text: str) -> bool:
    return len(text) == 4 and all(char in "0123456789abcdefABCDEF" for char in text)


@attrs.define
class TokenCursor:
    """A read position over a token list, with the error helpers every parser here needs."""

    source: str
    tokens: list[Token]
    index: int = 0

    @classmethod
    def over(cls, source: str) -> TokenCursor:
        return cls(source=source, tokens=tokenize(source))

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def previous(self) -> Token:
        """The token just consumed (the first token when nothing was consumed yet)."""
        return self.tokens[max(self.index - 1, 0)]

    def advance(self) -> Token:
        token = self.peek()
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        at = token if token is not None else self.peek()
        return ExpressionError(message, expression=self.source, column=at.column)

    def unexpected(self, token: Token | None = None) -> ExpressionError:
        at = token if token is not None else self.peek()
        if at.kind is TokenKind.END:
            return self.error("unexpected end of expression", at)
        return self.error(f"unexpected {at.describe()}", at)

    def expect_symbol(self, symbol: str, context: str) -> Token:
        token = self.peek()
        if not token.is_symbol(symbol):
            raise self.error(f"expected {symbol!r} {context}, found {token.describe()}", token)
        return self.advance()
