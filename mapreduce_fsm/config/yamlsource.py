"""Reading a workflow file's YAML into plain data that remembers the line of every value."""

from __future__ import annotations

from typing import Any

import attrs
import yaml

from mapreduce_fsm.config.messages import Path, format_path, show_value
from mapreduce_fsm.errors import ConfigIssue


@attrs.frozen(kw_only=True)
class Mark:
    """A 1-based line and column in the file."""

    line: int
    column: int


@attrs.define
class YamlDocument:
    """The file's data as plain Python values, with the position of every key and value."""

    filename: str
    data: Any = None
    value_marks: dict[Path, Mark] = attrs.field(factory=dict)
    key_marks: dict[Path, Mark] = attrs.field(factory=dict)
    scalar_texts: dict[Path, str] = attrs.field(factory=dict)
    unreadable: set[Path] = attrs.field(factory=set)  # values YAML could not construct

    def line(self, path: Path) -> int | None:
        """The line of the value at `path`, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            mark = self.value_marks.get(path[:end])
            if mark is not None:
                return mark.line
        return None

    def key_line(self, path: Path) -> int | None:
        """The line of the key naming `path` (for unknown keys), else the value's line."""
        mark = self.key_marks.get(path)
        return mark.line if mark is not None else self.line(path)

    def issue(self, path: Path, message: str, *, at_key: bool = False) -> ConfigIssue:
        line = self.key_line(path) if at_key else self.line(path)
        return ConfigIssue(file=self.filename, line=line, path=format_path(path), message=message)


# Values that aliases may repeat in a workflow file: shared step lists need hundreds, while
# half a kilobyte of aliases to aliases ("billion laughs") expands to a billion strings.
MAX_ALIAS_REPEATS = 100_000
MAX_NESTING = 100  # levels of lists and mappings; a workflow needs about eight
_MERGE_TAG = "tag:yaml.org,2002:merge"
_UNREADABLE = object()  # a scalar YAML could not construct; its issue is reported


def _mark(node: yaml.Node | yaml.Mark) -> Mark:
    mark = node.start_mark if isinstance(node, yaml.Node) else node
    return Mark(line=mark.line + 1, column=mark.column + 1)


@attrs.define
class _Builder:
    """Walks the composed node tree, building data and marks and collecting issues."""

    document: YamlDocument
    loader: yaml.SafeLoader
    issues: list[ConfigIssue] = attrs.field(factory=list)
    active: set[int] = attrs.field(factory=set)
    unconstructable: set[int] = attrs.field(factory=set)  # scalars already reported
    merged: dict[int, int] = attrs.field(factory=dict)  # mapping -> pairs from `<<` merges

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.document.value_marks[path] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            self.document.scalar_texts[path] = node.value
            value = self._scalar(node, path)
            if value is _UNREADABLE:
                self.document.unreadable.add(path)
                return None
            return value
        if id(node) in self.active:
            self.issues.append(self.document.issue(path, "an alias refers to itself; "
                                                   "recursive YAML is not allowed"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*path, index)) for index, child in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        """The scalar's value; one that cannot be constructed is reported here, once."""
        if id(node) in self.unconstructable:  # an alias of a scalar reported already
            return _UNREADABLE
        try:
            return self.loader.construct_object(node)
        except yaml.MarkedYAMLError:
            raise
        except Exception as error:  # PyYAML's scalar constructors raise
            # ValueError ("!!int abc"), KeyError ("!!bool maybe"), AttributeError
            # ("!!timestamp x"), IndexError ("!!int" with no text): all mean a bad value.
            self.loader.recursive_objects.pop(node, None)
            self.unconstructable.add(id(node))
            tag = node.tag.rsplit(":", 1)[-1]
            reason = f": {error}" if isinstance(error, ValueError) else ""
            self.issues.append(ConfigIssue(
                file=self.document.filename, line=_mark(node).line, path=format_path(path),
                message=f"{show_value(node.value)} is not a valid {tag}{reason}"))
            return _UNREADABLE

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        if id(node) not in self.merged:  # flattening puts the merged pairs first, once
            own = sum(key.tag != _MERGE_TAG for key, _ in node.value)
            self.loader.flatten_mapping(node)
            self.merged[id(node)] = len(node.value) - own
        merged = self.merged[id(node)]
        data: dict[Any, Any] = {}
        first_lines: dict[Any, int] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            key = (self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode)
                   else None)
            if key is _UNREADABLE:
                continue
            if not isinstance(key, str):
                shown = "a list or mapping" if key is None else show_value(key)
                self.issues.append(ConfigIssue(
                    file=self.document.filename, line=_mark(key_node).line,
                    path=format_path(path), message=f"keys must be strings, got {shown}"))
                continue
            child = (*path, key)
            line = _mark(key_node).line
            if position >= merged:  # a merged value is one the mapping's own keys override
                if key in first_lines:
                    self.issues.append(ConfigIssue(
                        file=self.document.filename, line=line, path=format_path(child),
                        message=f"duplicate key; it is already set on line {first_lines[key]}"))
                first_lines.setdefault(key, line)
            self.document.key_marks[child] = _mark(key_node)
            data[key] = self.build(value_node, child)
        return data


class NestedTooDeeply(Exception):
    """A node nested more than `DepthLimitedLoader.max_depth` levels deep, at `mark`."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(f"nested too deeply at line {mark.line + 1}")
        self.mark = mark


class DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader that stops at the first node nested more than `max_depth` levels deep.

    PyYAML's scanner slows down with the square of the nesting of flow collections
    ("[[[[..." takes seconds) and its composer recurses once a level; stopping early
    bounds both.
    """

    max_depth = MAX_NESTING

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.depth > self.max_depth:
            raise NestedTooDeeply(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """A `[` or `{`: the scanner's own count of open ones, checked as it reads them."""
        if self.flow_level >= self.max_depth:
            raise NestedTooDeeply(self.get_mark())
        super().fetch_flow_collection_start(token_class)


def read_yaml(text: str, filename: str) -> tuple[YamlDocument, list[ConfigIssue]]:
    """Parse `text`; the issues are YAML syntax errors, duplicate keys, non-string keys."""
    document = YamlDocument(filename=filename)
    try:
        loader = DepthLimitedLoader(text)  # refuses control characters here
    except yaml.reader.ReaderError as error:
        return document, [_unreadable_character(error, text, filename)]
    try:
        node = loader.get_single_node()
        if node is None:
            return document, []
        excess = find_alias_excess(node, MAX_ALIAS_REPEATS)
        if excess is not None:
            return document, [ConfigIssue(
                file=filename, line=_mark(excess).line, path="",
                message=f"the aliases in this file repeat more than {MAX_ALIAS_REPEATS:,} "
                "values; a workflow that shares step lists through anchors needs a few "
                "hundred (is this a YAML alias bomb?)")]
        builder = _Builder(document, loader=loader)
        document.data = builder.build(node, ())
        return document, builder.issues
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(part for part in (error.context, error.problem) if part)
        return document, [ConfigIssue(
            file=filename, line=None if mark is None else mark.line + 1,
            column=None if mark is None else mark.column + 1, path="",
            message=f"invalid YAML: {problem}")]
    except yaml.YAMLError as error:
        return document, [ConfigIssue(file=filename, line=None, path="",
                                      message=f"invalid YAML: {error}")]
    except NestedTooDeeply as error:
        return document, [ConfigIssue(
            file=filename, line=error.mark.line + 1, column=error.mark.column + 1, path="",
            message=f"the YAML is nested more than {MAX_NESTING} levels deep (a workflow "
            "needs a few levels, not hundreds)")]
    finally:
        loader.dispose()


def _unreadable_character(error: yaml.reader.ReaderError, text: str, filename: str) -> ConfigIssue:
    """A character YAML does not allow (a control character), at its line and column."""
    before = text[: error.position]
    line = before.count("\n") + 1
    column = error.position - (before.rfind("\n") + 1) + 1
    return ConfigIssue(file=filename, line=line, column=column, path="",
                       message=f"invalid YAML: unacceptable character #x{error.character:04x}: "
                       f"{error.reason}")


def find_alias_excess(root: yaml.Node, limit: int) -> yaml.Mark | None:
    """Where the values repeated by aliases first add up to more than `limit`, else None.

    An alias repeats the whole tree under its anchor, so nested aliases grow exponentially
    while the composed node graph stays as small as the file. Counted on that graph, in
    linear time, before anything is built from it. A node inside itself counts once.
    """
    sizes: dict[int, int] = {}
    seen: set[int] = set()
    repeated = 0
    stack: list[tuple[yaml.Node, yaml.Mark]] = [(root, root.start_mark)]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            repeated += _tree_size(node, sizes)
            if repeated > limit:
                return where
            continue
        seen.add(id(node))
        stack.extend(reversed(_children(node)))
    return None


def _children(node: yaml.Node) -> list[tuple[yaml.Node, yaml.Mark]]:
    """The child nodes in file order, each with the mark that best shows where it is used."""
    if isinstance(node, yaml.MappingNode):
        return [(child, key.start_mark) for key, value in node.value for child in (key, value)]
    if isinstance(node, yaml.SequenceNode):  # an alias has no mark of its own: the list's
        return [(child, node.start_mark) for child in node.value]
    return []


def _tree_size(root: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes building `root` makes, aliases expanded; memoised in `sizes`."""
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = [child for child, _ in _children(node)]
        if children_done:
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 0) for child in children)
        elif id(node) not in sizes and id(node) not in entered:
            entered.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return sizes[id(root)]
