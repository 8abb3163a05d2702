"""The activity feed: what happened in a workspace, from its audit log, in words its members understand."""
