"""Open311 GeoReport v2 at ``/open311/v2/`` (with mySociety's ``servicerequestupdates``), one jurisdiction per partner."""
