"""What happens to profiles over a user's lifetime beyond the triggers: reconciliation with the pool."""
