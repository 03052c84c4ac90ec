"""Reading a workflow file's YAML into plain data that remembers the line of every value."""

from __future__ import annotations

from collections.abc import Callable
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


_UNREADABLE = object()  # a scalar YAML could not construct; its issue is reported


def _mark(node: yaml.Node | yaml.Mark) -> Mark:
    mark = node.start_mark if isinstance(node, yaml.Node) else node
    return Mark(line=mark.line + 1, column=mark.column + 1)


@attrs.define
class _Builder:
    """Walks the composed node tree, building data and marks and collecting issues."""

    document: YamlDocument
    construct: Callable[[yaml.Node], Any]
    flatten: Callable[[yaml.MappingNode], None]
    issues: list[ConfigIssue] = attrs.field(factory=list)
    active: set[int] = attrs.field(factory=set)

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
        try:
            return self.construct(node)
        except (ValueError, TypeError, OverflowError) as error:  # "2024-13-45", "!!int abc"
            tag = node.tag.rsplit(":", 1)[-1]
            self.issues.append(ConfigIssue(
                file=self.document.filename, line=_mark(node).line, path=format_path(path),
                message=f"{show_value(node.value)} is not a valid {tag}: {error}"))
            return _UNREADABLE

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        self.flatten(node)
        data: dict[Any, Any] = {}
        first_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
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
            if key in first_lines:
                self.issues.append(ConfigIssue(
                    file=self.document.filename, line=line, path=format_path(child),
                    message=f"duplicate key; it is already set on line {first_lines[key]}"))
            first_lines.setdefault(key, line)
            self.document.key_marks[child] = _mark(key_node)
            data[key] = self.build(value_node, child)
        return data


def read_yaml(text: str, filename: str) -> tuple[YamlDocument, list[ConfigIssue]]:
    """Parse `text`; the issues are YAML syntax errors, duplicate keys, non-string keys."""
    document = YamlDocument(filename=filename)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return document, []
        builder = _Builder(document, construct=loader.construct_object,
                           flatten=loader.flatten_mapping)
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
    except RecursionError:
        return document, [ConfigIssue(file=filename, line=None, path="",
                                      message="the YAML is nested too deeply to read (a "
                                      "workflow needs a few levels, not hundreds)")]
    finally:
        loader.dispose()
