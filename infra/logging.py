"""Structured logs: one JSON object per line, with the same keys everywhere.

Roost's own loggers are structlog's; everything that logs through the standard
``logging`` module (uvicorn, Faust and mode, aiokafka, elastic_transport,
psycopg) goes through one handler whose formatter renders the record the same
way, so every line a part writes is one JSON object.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from types import TracebackType
from typing import Any

import structlog

# Chatty libraries: one INFO line per request or per health probe is noise.
QUIET_LOGGERS = {"elastic_transport": "WARNING", "aiokafka": "WARNING", "httpx": "WARNING"}


def _shared() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def _renderer(json: bool) -> structlog.types.Processor:
    return structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()


def _formatter(json: bool) -> structlog.stdlib.ProcessorFormatter:
    """Renders a standard-library record like a structlog event (``logger`` names
    the library's logger)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _renderer(json)],
    )


def stdlib_config(level: str = "INFO", json: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: one stderr handler with the structlog
    formatter on the root logger. Faust's worker is given it too (it replaces the
    root configuration with its own coloured one otherwise)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structlog": {"()": _formatter, "json": json}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": sys.stderr,
                                "formatter": "structlog"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {name: {"level": quiet} for name, quiet in QUIET_LOGGERS.items()},
    }


def configure_logging(level: str = "INFO", json: bool = True, process: str = "roost") -> None:
    structlog.configure(
        processors=[*_shared(), _renderer(json)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),  # one write per line
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(process=process)
    logging.config.dictConfig(stdlib_config(level, json))
    logging.captureWarnings(True)  # warnings are log lines too, not bare stderr text
    if json:  # a crash's traceback is a line like the others, not Typer's rich text
        sys.excepthook = log_uncaught


def log_uncaught(kind: type[BaseException], error: BaseException,
                 trace: TracebackType | None) -> None:
    """``sys.excepthook`` of a process logging JSON: an exception nothing caught is one
    ``process.crashed`` line (level ``critical``, the traceback in ``exception``); the
    process then exits with status 1 as it would have. Ctrl-C is left to Python."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    structlog.get_logger("roost").critical("process.crashed", error=repr(error)[:1000],
                                           exc_info=(kind, error, trace))
