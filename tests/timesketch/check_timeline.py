#!/usr/bin/env python3
"""Reads rebootscan timelines with Timesketch's own importer, as `timesketch_importer` does.

No server is needed: the streamer of `timesketch-import-client` is given a stand-in sketch,
and its upload methods are replaced by ones that keep what would have been sent. Everything
before the upload is Timesketch's code: `add_file` picks the reader by the file's ending
(`.csv` through pandas in chunks, `.jsonl` line by line through `add_json`), `_fix_data_frame`
/ `_fix_dict` fill in or reparse `message`, `datetime` and `timestamp_desc`, and
`add_data_frame` refuses a frame without them.

Usage: check_timeline.py TIMELINE.csv TIMELINE.jsonl

Checks, for both files: every row of the file arrives as one event (none dropped, none
failing to decode); each event has a non-empty `message`, the file's `timestamp_desc` (not
the importer's default) and a `datetime` the importer parsed to the same instant as the file's
(to the microsecond: Timesketch stores microseconds; the file keeps FILETIME's 100 ns digits);
the extra fields (machine, rule, key, ...) arrive unchanged. Exits 1 with the reason otherwise.
"""

import csv
import datetime
import json
import sys
import types

from timesketch_import_client import importer


class Captured(importer.ImportStreamer):
    """The real streamer, with the two upload methods keeping their payload."""

    def __init__(self):
        super().__init__()
        self.frames = []
        self.lines = []

    def _upload_data_frame(self, data_frame, end_stream, retry_count=0):
        self.frames.append(data_frame.copy())

    def _upload_data_buffer(self, end_stream, data_lines=None, retry_count=0):
        self.lines.extend(dict(line) for line in (data_lines or self._data_lines))


def streamer():
    s = Captured()
    # A stand-in sketch: set_sketch reads its id and API root; nothing is ever sent.
    s.set_sketch(types.SimpleNamespace(id=1, api=types.SimpleNamespace(api_root="stand-in", session=None)))
    s.set_timeline_name("rebootscan check")
    return s


def instant(text):
    """A datetime from the file's RFC 3339 (7 fractional digits) or the importer's output."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        zone = rest[len(digits):]
        if len(zone) == 5 and zone[0] in "+-":  # +0000, as the importer writes it
            zone = f"{zone[:3]}:{zone[3:]}"
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"no time zone in {text!r}")
    return parsed.astimezone(datetime.timezone.utc)


def fail(message):
    print(f"check_timeline: {message}", file=sys.stderr)
    sys.exit(1)


def compare(kind, expected, events):
    if len(events) != len(expected):
        fail(f"{kind}: the importer produced {len(events)} events from {len(expected)} rows")
    for number, (row, event) in enumerate(zip(expected, events), start=1):
        message = event.get("message")
        if not isinstance(message, str) or not message.strip():
            fail(f"{kind} row {number}: empty message {message!r}")
        if message != row["message"]:
            fail(f"{kind} row {number}: message changed: {message!r} != {row['message']!r}")
        if event.get("timestamp_desc") != row["timestamp_desc"]:
            fail(f"{kind} row {number}: timestamp_desc {event.get('timestamp_desc')!r} != {row['timestamp_desc']!r}")
        try:
            got = instant(str(event.get("datetime")))
        except ValueError as error:
            fail(f"{kind} row {number}: datetime {event.get('datetime')!r} not parsed by the importer: {error}")
        want = instant(row["datetime"])
        if got != want.replace(microsecond=want.microsecond):
            fail(f"{kind} row {number}: datetime {got.isoformat()} != {want.isoformat()}")
        for field in ("machine", "rule", "key", "file", "timestamp"):
            if field in row and str(row[field]) != str(event.get(field, "")) and not (
                row[field] == "" and str(event.get(field)) == "nan"
            ):
                # pandas reads numbers as numbers and empty cells as NaN: compare as text.
                if field == "timestamp" and str(event.get(field)) == str(row[field]):
                    continue
                fail(f"{kind} row {number}: {field} {event.get(field)!r} != {row[field]!r}")


def check_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))
    s = streamer()
    s.add_file(path)
    s.flush()
    events = []
    for frame in s.frames:
        events.extend(frame.to_dict(orient="records"))
    for event in events:
        for key, value in list(event.items()):
            if isinstance(value, float) and value != value:  # NaN: an empty cell
                event[key] = ""
            elif key == "timestamp":
                event[key] = str(int(value)) if not isinstance(value, str) else value
    compare("CSV", expected, events)
    return len(events)


def check_jsonl(path):
    with open(path, encoding="utf-8") as handle:
        expected = [json.loads(line) for line in handle if line.strip()]
    s = streamer()
    s.add_file(path)
    s.flush()
    compare("JSONL", expected, s.lines)
    return len(s.lines)


def main():
    if len(sys.argv) != 3 or not sys.argv[1].endswith(".csv") or not sys.argv[2].endswith(".jsonl"):
        fail("usage: check_timeline.py TIMELINE.csv TIMELINE.jsonl")
    rows = check_csv(sys.argv[1])
    lines = check_jsonl(sys.argv[2])
    if rows == 0 or lines == 0:
        fail("empty timeline")
    print(f"timesketch importer: {rows} CSV events and {lines} JSONL events read as written")


if __name__ == "__main__":
    main()
