"""Drift reconciliation between the user pool and the profile table (docs/reconcile.md)."""
