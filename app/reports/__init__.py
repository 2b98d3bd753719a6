"""Read-only figures across domains for the back office (the dashboard), each from an index."""
