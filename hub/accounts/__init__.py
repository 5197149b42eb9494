"""People who sign in to the web app: users, password checks, lockout and server-side sessions."""
