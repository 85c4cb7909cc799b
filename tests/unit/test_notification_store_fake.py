"""The in-memory notifications store keeps the port's contract."""

from __future__ import annotations

import pytest

from tests.contracts.notification_store import NotificationStoreContract
from tests.fakes.notifications import FakeNotificationStore


class TestFakeNotificationStore(NotificationStoreContract):
    @pytest.fixture
    def store(self) -> FakeNotificationStore:
        return FakeNotificationStore()
