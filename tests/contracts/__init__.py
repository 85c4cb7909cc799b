"""Contract test classes: one per port, subclassed per implementation (the fake in
``tests/unit``, the real adapter in ``tests/integration``)."""
