"""Back-office integration: the delivery outbox, its workers, and the status updates that come back."""
