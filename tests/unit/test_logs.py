"""Log formats: one JSON object per line with the access fields; the dictConfig for uvicorn."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

import pytest

from zorgleefplan.logs import JsonFormatter, logging_config


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "zorgleefplan.access", logging.INFO, __file__, 1, "%s %s", ("a", 1), None
    )
    record.__dict__.update(extra)
    record.created = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z
    return record


def test_json_line_has_time_level_logger_message_and_access_fields() -> None:
    line = JsonFormatter().format(
        _record(request_id="r1", method="GET", path="/fhir/Goal", status=200, duration_ms=1.5)
    )
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.250Z",
        "level": "INFO",
        "logger": "zorgleefplan.access",
        "message": "a 1",
        "request_id": "r1",
        "method": "GET",
        "path": "/fhir/Goal",
        "status": 200,
        "duration_ms": 1.5,
    }


def test_json_line_carries_the_exception_and_no_unknown_extras() -> None:
    try:
        raise RuntimeError("kapot")
    except RuntimeError:
        record = _record(token="must-not-appear")
        record.exc_info = sys.exc_info()
    document = json.loads(JsonFormatter().format(record))
    assert "RuntimeError: kapot" in document["exception"]
    assert "must-not-appear" not in json.dumps(document)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_logging_config_routes_every_logger_to_one_handler(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    touched = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.access")]
    saved = [(x.handlers[:], x.level, x.propagate) for x in touched]
    try:
        logging.config.dictConfig(logging_config(log_format, logging.INFO))  # type: ignore[arg-type]
        logging.getLogger("zorgleefplan.store").info("opgeslagen")
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /fhir/Patient?name=x"')
        logging.getLogger("zorgleefplan.debugging").debug("not at info")
    finally:
        for logger, (handlers, level, propagate) in zip(touched, saved, strict=True):
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # uvicorn's access log is off; debug is below the level
    if log_format == "json":
        assert [json.loads(x)["message"] for x in lines] == [
            "opgeslagen",
            "Started server process",
        ]
    else:
        assert "INFO zorgleefplan.store: opgeslagen" in lines[0]
        assert "uvicorn.error: Started server process" in lines[1]
