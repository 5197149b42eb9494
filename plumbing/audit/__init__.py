"""The append-only audit log: every view of customer data, and supervisors' changes to agents."""
