"""Reading the YAML files a user gives daclab (sequences, lab files, sample files): plain data
only, and one clear line for anything that keeps a file from being that."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

def read_yaml(path: Path, error: type[Exception], kind: str) -> tuple[Any, yaml.Node | None]:
    """The plain data of a YAML file and its node tree (for the lines of its entries).

    Only the safe loader reads it: a tag that would build a Python object is refused, never run.
    Whatever keeps the file from being plain YAML (unreadable, not UTF-8, a syntax error, nested
    beyond what the parser's recursion takes) raises ``error`` with one line, ``FILE:LINE: what
    is wrong``; ``kind`` says what the file is ("sequence", "sample") in that line.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as problem:
        raise error(f"{source}: cannot be read: {problem.strerror or problem}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = raw[:problem.start].count(b"\n") + 1
        raise error(f"{source}:{line}: not UTF-8 text ({problem.reason})") from None
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses some characters at once
        root = loader.get_single_node()
        try:
            return (None if root is None else loader.construct_document(root)), root
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            # PyYAML's own constructors fail this way on a scalar that looks like a date but is
            # none (2026-02-30) or on an explicit tag with a wrong value (!!float abc)
            raise error(f"{source}:{_unreadable_scalar(text)}") from None
    except yaml.MarkedYAMLError as problem:
        raise error(f"{source}:{_yaml_error_line(problem)}: {_yaml_problem(problem, kind)}") from None
    except yaml.YAMLError as problem:  # the reader's: a character YAML does not allow
        position = getattr(problem, "position", 0)
        line = text[:position].count("\n") + 1
        character = text[position:position + 1]
        raise error(f"{source}:{line}: not YAML: the character {character!r} is not allowed "
                    f"({getattr(problem, 'reason', problem)})") from None
    except RecursionError:
        raise error(f"{source}:1: not YAML this program can read: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _unreadable_scalar(text: str) -> str:
    """'LINE: what' for the first scalar of ``text`` that the safe loader cannot construct."""
    loader = yaml.SafeLoader(text)
    try:
        pending, seen = [loader.get_single_node()], set()
        while pending:
            node = pending.pop(0)
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node)
                except (ValueError, TypeError, KeyError, AttributeError, IndexError, yaml.YAMLError) as problem:
                    kind = node.tag.rpartition(":")[2]
                    return (f"{node.start_mark.line + 1}: {node.value!r} is not a valid YAML {kind} ({problem}); "
                            f"quote it to keep it as text")
            elif isinstance(node, yaml.SequenceNode):
                pending.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                pending.extend(part for pair in node.value for part in pair)
        return "1: a value YAML cannot read"
    finally:
        loader.dispose()


def _yaml_error_line(error: yaml.MarkedYAMLError) -> int:
    """The line to look at: where the problem was found, or, when that is the end of the file (a
    bracket never closed), where the unfinished part began."""
    at_end = "<stream end>" in (error.problem or "")
    mark = (error.context_mark if at_end else None) or error.problem_mark or error.context_mark
    return mark.line + 1 if mark is not None else 1


def _yaml_problem(error: yaml.MarkedYAMLError, kind: str) -> str:
    tag = re.search(r"constructor for the tag '([^']*)'", error.problem or "")
    if isinstance(error, yaml.constructor.ConstructorError) and tag:
        return (f"the tag {tag.group(1)!r} is not allowed: a {kind} file holds plain data (mappings, lists, "
                f"text, numbers)")
    context = f"{error.context}, " if error.context else ""
    return f"not YAML: {context}{error.problem}"
