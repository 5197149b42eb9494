"""Live state: queues, idle agents and reservations. Redis in production, memory when embedded."""
