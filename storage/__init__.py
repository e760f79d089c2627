"""Tables, the session factory, workspace-scoped queries, encryption and migrations."""
