"""One contract test class per port (``ports/``), subclassed per implementation.

Each module here holds a base class whose tests use only the port. A subclass
in ``tests/unit`` runs it against the fake (``tests/fakes``), one in
``tests/integration`` against the real adapter (``infra``) on its real server,
as pyeventsourcing runs one recorder test case per persistence module. A
subclass provides the fixtures its base class names.
"""
