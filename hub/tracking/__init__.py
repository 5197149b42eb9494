"""The citizen's tracking page: what was asked, where it has got to, what happens next. No personal data."""
