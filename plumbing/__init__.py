"""The ground floor: storage, the bus, settings, logging, auth primitives, audit, problem details. Imports nothing of ours."""
