"""Reading an import file: its rows as the csv module gives them, the header's plan (which
column is which contact field), and the problems that stop a whole file (ImportProblem).

Pure Python, no database: closeloop.directory.imports runs it in a second process, and the
actions check an uploaded file with it before queueing the import.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator

MAX_COLUMNS = 200
csv.field_size_limit(1024 * 1024)

# Header (lower-cased, without spaces, dashes, underscores or dots) -> contact field.
HEADER_FIELDS = {
    "firstname": "firstName",
    "lastname": "lastName",
    "email": "email",
    "emailaddress": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "extref": "extRef",
    "externaldatareference": "extRef",
    "externalreference": "extRef",
    "externalid": "extRef",
    "language": "language",
    "unsubscribed": "unsubscribed",
}
IGNORED_HEADERS = {"contactid", "id"}


class ImportProblem(ValueError):
    """The whole file cannot be imported (no header, not UTF-8, a column twice …)."""


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name).lower()


def column_plan(header: list[str]) -> list[tuple[str, str]]:
    """For each column: ("field", name), ("embedded", name) or ("ignore", "")."""
    if not header or not any(cell.strip() for cell in header):
        raise ImportProblem("The file has no header row: the first row must name the columns.")
    if len(header) > MAX_COLUMNS:
        raise ImportProblem(f"The file has more than {MAX_COLUMNS} columns.")
    plan, seen = [], {}
    for position, raw in enumerate(header, start=1):
        name = raw.strip()
        key = _header_key(name)
        if not name:
            plan.append(("ignore", ""))
            continue
        if key in IGNORED_HEADERS:
            plan.append(("ignore", ""))
            continue
        target = ("field", HEADER_FIELDS[key]) if key in HEADER_FIELDS else ("embedded", name)
        if target in seen:
            raise ImportProblem(
                f"Columns {seen[target]} and {position} are both {target[1]!r}; keep one."
            )
        seen[target] = position
        plan.append(target)
    if not any(kind != "ignore" for kind, _name in plan):
        raise ImportProblem("No column of the header names a contact field.")
    return plan


def read_rows(path_or_file) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each row after the header; the header first as row 1."""
    handle = path_or_file if hasattr(path_or_file, "read") else open(path_or_file, "rb")  # noqa: SIM115
    # io's decoder works on large blocks (codecs' StreamReader decodes line by line).
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        try:
            for cells in reader:
                yield reader.line_num, cells
        except UnicodeDecodeError:
            raise ImportProblem(
                "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
            ) from None
        except csv.Error as error:
            raise ImportProblem(f"Row {reader.line_num}: the CSV is malformed ({error}).") from None
    finally:
        text.detach()  # leaves the caller's file open
        if handle is not path_or_file:
            handle.close()


def count_rows(path_or_file) -> int:
    """Rows after the header, as read_rows yields them (blank lines included)."""
    lines = count_plain_lines(path_or_file)
    if lines is None:
        if hasattr(path_or_file, "seek"):
            path_or_file.seek(0)
        lines = sum(1 for _ in read_rows(path_or_file))
    return max(0, lines - 1)


def count_plain_lines(path_or_file) -> int | None:
    """The lines of a file the csv module would read one row per line (UTF-8, no quote, no
    NUL, no carriage return but before a line feed, no line over the field size limit),
    counted as bytes at disk speed; None for any other file (read_rows then counts it, and
    reports what is wrong)."""
    handle = path_or_file if hasattr(path_or_file, "read") else open(path_or_file, "rb")  # noqa: SIM115
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, tail, last = 0, 0, b"\n"
    try:
        while block := handle.read(1 << 20):
            if block.endswith(b"\r"):  # keep a CR LF pair in one block
                block += handle.read(1)
            if b'"' in block or b"\0" in block or block.count(b"\r") != block.count(b"\r\n"):
                return None
            decoder.decode(block)  # raises for bytes that are not UTF-8
            pieces = block.split(b"\n")
            longest = max([tail + len(pieces[0]), *map(len, pieces[1:])])
            if longest > csv.field_size_limit():
                return None
            tail = len(pieces[-1]) if len(pieces) > 1 else tail + len(pieces[0])
            lines += len(pieces) - 1
            last = block[-1:]
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    finally:
        if handle is not path_or_file:
            handle.close()
    return lines + (last != b"\n")
